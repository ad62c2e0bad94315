"""A resource's calendar over the coming days, as the caller may see it.

The owner sees published windows and bookings (with order references); another tenant sees
a public resource's published windows only, and a private one not at all (NotFound).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharefab.services.common import visible_resource
from sharefab.storage.models import (
    ACTIVE_BOOKING_STATUSES,
    Booking,
    CalendarRule,
    CalendarWindow,
    Resource,
    User,
)


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open ``[start, end)`` interval in UTC with what it is."""

    start: datetime
    end: datetime
    kind: str  # "window" or "booked"
    label: str = ""
    unit: int = 0
    status: str = ""


@dataclass(slots=True)
class ResourceCalendar:
    """A resource with its windows (and, for the owner, bookings) in ``[start, end)``."""

    resource: Resource
    owner: bool
    start: datetime
    end: datetime
    timezone: str
    windows: list[Interval] = field(default_factory=list)
    bookings: list[Interval] = field(default_factory=list)

    @property
    def idle_hours(self) -> float:
        """Published window hours inside the horizon."""
        return sum(
            (min(w.end, self.end) - max(w.start, self.start)).total_seconds() / 3600.0
            for w in self.windows
        )


def resource_calendar(
    session: Session,
    actor: User,
    resource_id: int,
    *,
    start: datetime | None = None,
    days: int = 14,
) -> ResourceCalendar:
    """The calendar of resource ``resource_id`` for ``days`` days from ``start`` (default:
    today 00:00 in the time zone of the resource's calendar rules, else UTC). Raises NotFound
    for a missing resource or another tenant's private one."""
    if days < 1 or days > 62:
        raise ValueError(f"days must be between 1 and 62, got {days}")
    resource = visible_resource(session, actor, resource_id)
    owner = resource.org_id == actor.org_id
    tz = session.scalar(
        select(CalendarRule.timezone).where(CalendarRule.resource_id == resource_id).limit(1)
    )
    zone = ZoneInfo(tz or "UTC")
    if start is None:  # today's local midnight in the resource's calendar time zone
        local = datetime.now(UTC).astimezone(zone)
        begin = datetime.combine(local.date(), time(0), zone).astimezone(UTC)
    else:
        begin = start.astimezone(UTC)
    end = begin + timedelta(days=days)
    calendar = ResourceCalendar(resource, owner, begin, end, tz or "UTC")
    for w in session.scalars(
        select(CalendarWindow)
        .where(
            CalendarWindow.resource_id == resource_id,
            CalendarWindow.end_at > begin,
            CalendarWindow.start_at < end,
        )
        .order_by(CalendarWindow.start_at)
    ):
        calendar.windows.append(Interval(w.start_at, w.end_at, "window", w.source))
    if owner:
        for b in session.scalars(
            select(Booking)
            .where(
                Booking.resource_id == resource_id,
                Booking.status.in_(ACTIVE_BOOKING_STATUSES),
                Booking.end_at > begin,
                Booking.start_at < end,
            )
            .order_by(Booking.start_at)
        ):
            calendar.bookings.append(
                Interval(b.start_at, b.end_at, "booked", b.order_ref or "", b.unit, b.status)
            )
    return calendar
