"""Bookings visible to the caller: full for its own resources, busy intervals for others'
public resources (no order references), 404 for others' private resources."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from sharefab.api.deps import CurrentUser, SessionDep
from sharefab.api.schemas.bookings import BookingPublic, BookingsPublic
from sharefab.api.schemas.common import PROBLEM_RESPONSES
from sharefab.services import bookings as service

router = APIRouter(prefix="/bookings", tags=["bookings"], responses=PROBLEM_RESPONSES)


@router.get("")
def list_bookings(
    session: SessionDep,
    user: CurrentUser,
    resource_id: int | None = None,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> BookingsPublic:
    """Without ``resource_id``: bookings of all the caller's resources."""
    page = service.list_bookings(
        session, user, resource_id=resource_id, start=start, end=end, limit=limit, offset=offset
    )
    return BookingsPublic(data=[BookingPublic(**asdict(v)) for v in page.data], count=page.count)
