"""Bookings as the caller may see them.

* Bookings of the caller's own resources: everything (id, status, order reference, ...).
* Another tenant's **public** resource (``resource_id`` given): only *busy intervals* — the
  start, end and unit of each non-cancelled booking, without id, status or order reference, so
  a buyer can see when the machine is taken but not for whom.
* Another tenant's private (or a missing) resource: 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharefab.services.common import Page, visible_resource
from sharefab.services.errors import FieldError, InvalidInput
from sharefab.storage.models import ACTIVE_BOOKING_STATUSES, Booking, Resource, User


@dataclass(frozen=True, slots=True)
class BookingView:
    """One booking as shown to the caller (``visibility="busy"``: interval only)."""

    visibility: Literal["full", "busy"]
    resource_id: int
    unit: int
    start_at: datetime
    end_at: datetime
    id: int | None = None
    status: str | None = None
    order_ref: str | None = None
    created_at: datetime | None = None


def list_bookings(
    session: Session,
    actor: User,
    *,
    resource_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[BookingView]:
    """Bookings visible to the caller, by start time (see the module doc); only those
    overlapping ``[start, end)`` when given."""
    if start is not None and end is not None and end <= start:
        raise InvalidInput("to: must be after from", [FieldError("to", "must be after from")])
    conditions: list[Any] = []
    full = True
    if resource_id is not None:
        resource = visible_resource(session, actor, resource_id)
        full = resource.org_id == actor.org_id
        conditions.append(Booking.resource_id == resource_id)
        if not full:
            conditions.append(Booking.status.in_(ACTIVE_BOOKING_STATUSES))
    else:
        own = select(Resource.id).where(Resource.org_id == actor.org_id)
        conditions.append(Booking.resource_id.in_(own))
    if start is not None:
        conditions.append(Booking.end_at > start)
    if end is not None:
        conditions.append(Booking.start_at < end)
    count = session.scalar(select(func.count()).select_from(Booking).where(*conditions)) or 0
    rows = session.scalars(
        select(Booking)
        .where(*conditions)
        .order_by(Booking.start_at, Booking.id)
        .limit(limit)
        .offset(offset)
    )
    views = [
        BookingView(
            "full",
            b.resource_id,
            b.unit,
            b.start_at,
            b.end_at,
            b.id,
            b.status,
            b.order_ref,
            b.created_at,
        )
        if full
        else BookingView("busy", b.resource_id, b.unit, b.start_at, b.end_at)
        for b in rows
    ]
    return Page(views, count)
