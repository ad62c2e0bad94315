"""Published idle windows of a resource, and recurring rules that generate them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from sharefab.api.deps import CurrentUser, SessionDep
from sharefab.api.schemas.common import PROBLEM_RESPONSES, IdPath, Instant, Offset
from sharefab.api.schemas.windows import (
    CalendarRuleCreate,
    CalendarRulePublic,
    WindowCreate,
    WindowPublic,
    WindowsPublic,
)
from sharefab.services import calendar as service

router = APIRouter(prefix="/resources", tags=["windows"], responses=PROBLEM_RESPONSES)


@router.get("/{resource_id}/windows")
def list_windows(
    resource_id: IdPath,
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> WindowsPublic:
    """Windows of the caller's or a public resource, by start (overlapping ``[from, to)``)."""
    page = service.list_windows(
        session, user, resource_id, start=start, end=end, limit=limit, offset=offset
    )
    return WindowsPublic(data=[WindowPublic.model_validate(w) for w in page.data], count=page.count)


@router.post("/{resource_id}/windows", status_code=status.HTTP_201_CREATED)
def create_window(
    resource_id: IdPath, body: WindowCreate, session: SessionDep, user: CurrentUser
) -> WindowPublic:
    """Publish one idle window (409 if it overlaps an existing one)."""
    window = service.add_window(session, user, resource_id, body.start_at, body.end_at)
    return WindowPublic.model_validate(window)


@router.delete("/{resource_id}/windows/{window_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_window(
    resource_id: IdPath, window_id: IdPath, session: SessionDep, user: CurrentUser
) -> Response:
    """Withdraw a window."""
    service.delete_window(session, user, resource_id, window_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{resource_id}/calendar-rules", status_code=status.HTTP_201_CREATED)
def create_calendar_rule(
    resource_id: IdPath, body: CalendarRuleCreate, session: SessionDep, user: CurrentUser
) -> CalendarRulePublic:
    """Store a recurring rule and publish its windows over the next ``horizon_days``."""
    outcome = service.add_calendar_rule(session, user, resource_id, **body.model_dump())
    public = CalendarRulePublic.model_validate(outcome.rule)
    public.windows_created = outcome.windows_created
    public.windows_skipped = outcome.windows_skipped
    return public
