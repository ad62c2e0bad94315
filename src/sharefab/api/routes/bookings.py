"""Bookings visible to the caller: full for its own resources, busy intervals for others'
public resources (no order references), 404 for others' private resources."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from sharefab.api.deps import CurrentUser, SessionDep
from sharefab.api.schemas.bookings import BookingPublic, BookingsPublic
from sharefab.api.schemas.common import MAX_DB_INT, PROBLEM_RESPONSES, Instant, Offset
from sharefab.services import bookings as service

router = APIRouter(prefix="/bookings", tags=["bookings"], responses=PROBLEM_RESPONSES)


@router.get("")
def list_bookings(
    session: SessionDep,
    user: CurrentUser,
    resource_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
    start: Annotated[Instant | None, Query(alias="from")] = None,
    end: Annotated[Instant | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> BookingsPublic:
    """Without ``resource_id``: bookings of all the caller's resources."""
    page = service.list_bookings(
        session, user, resource_id=resource_id, start=start, end=end, limit=limit, offset=offset
    )
    return BookingsPublic(data=[BookingPublic(**asdict(v)) for v in page.data], count=page.count)
