"""Utilisation and idle capacity.

* **Booked utilisation** of a resource over ``[start, end)``: booked unit-time of its
  non-cancelled bookings divided by ``capacity x period``.
* **Running utilisation**: time the machine reported ``running``, from telemetry state
  samples. A state holds from its message until the next one, but at most ``MAX_GAP`` (a
  silent machine is "unknown", not running).
* Aggregates per site, cluster and capability (with subsumption: ``separating.machining``
  covers ``separating.machining.milling.5axis``), over the caller's own resources (a platform
  operator sees all).
* **Idle stretches**: time with no booking on any unit, not already published as a window,
  cut to whole hours and at least ``min_hours`` long: the windows :func:`publish_suggestions`
  turns into ``CalendarWindow`` rows with source ``"suggestion"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from sharefab.domain.calendar import Interval, subtract, total_duration
from sharefab.services.common import require_role, transaction
from sharefab.services.errors import InvalidInput, NotFound
from sharefab.storage.models import (
    ACTIVE_BOOKING_STATUSES,
    Booking,
    CalendarWindow,
    Resource,
    ResourceCapability,
    Site,
    User,
)
from sharefab.storage.telemetry_models import Telemetry

MAX_GAP = timedelta(minutes=10)
MAX_PERIOD = timedelta(days=366)
Scope = Literal["resource", "site", "cluster", "capability", "organization"]


@dataclass(frozen=True, slots=True)
class ResourceUtilisation:
    """Utilisation of one resource over a period."""

    resource_id: int
    name: str
    capacity: int
    period_seconds: float
    booked_seconds: float
    running_seconds: float
    idle_unbooked_seconds: float

    @property
    def booked_ratio(self) -> float:
        """Booked unit-time / available unit-time."""
        return self.booked_seconds / (self.period_seconds * self.capacity)

    @property
    def running_ratio(self) -> float:
        """Reported running time / period."""
        return self.running_seconds / self.period_seconds


@dataclass(frozen=True, slots=True)
class UtilisationReport:
    """Per-resource rows and the aggregate over them."""

    scope: Scope
    key: str
    start: datetime
    end: datetime
    resources: list[ResourceUtilisation]

    @property
    def booked_ratio(self) -> float:
        """Aggregate booked unit-time / available unit-time."""
        cap = sum(r.period_seconds * r.capacity for r in self.resources)
        return sum(r.booked_seconds for r in self.resources) / cap if cap else 0.0

    @property
    def running_ratio(self) -> float:
        """Aggregate running time / machine time."""
        total = sum(r.period_seconds for r in self.resources)
        return sum(r.running_seconds for r in self.resources) / total if total else 0.0


def check_period(start: datetime, end: datetime) -> Interval:
    """The period as an :class:`Interval`; 422 naming ``to`` when it is empty or too long."""
    if end <= start:
        raise InvalidInput.single("to", "must be after 'from'")
    if end - start > MAX_PERIOD:
        raise InvalidInput.single("to", "the period may be at most 366 days")
    return Interval(start, end)


def _bookings(session: Session, resource_id: int, period: Interval) -> list[tuple[int, Interval]]:
    rows = session.execute(
        select(Booking.unit, Booking.start_at, Booking.end_at)
        .where(Booking.resource_id == resource_id)
        .where(Booking.status.in_(ACTIVE_BOOKING_STATUSES))
        .where(Booking.start_at < period.end, Booking.end_at > period.start)
    )
    return [(unit, Interval(max(s, period.start), min(e, period.end))) for unit, s, e in rows.all()]


def running_seconds(session: Session, resource_id: int, period: Interval) -> float:
    """Seconds the resource reported ``running`` in ``period`` (states hold until the next
    message, at most :data:`MAX_GAP`)."""
    prev = session.execute(
        select(Telemetry.ts, Telemetry.state)
        .where(Telemetry.resource_id == resource_id, Telemetry.ts < period.start)
        .order_by(Telemetry.ts.desc())
        .limit(1)
    ).first()
    rows = session.execute(
        select(Telemetry.ts, Telemetry.state)
        .where(
            Telemetry.resource_id == resource_id,
            Telemetry.ts >= period.start,
            Telemetry.ts < period.end,
        )
        .order_by(Telemetry.ts, Telemetry.message_id)
        .execution_options(yield_per=5000)
    )
    total = 0.0
    last = (prev[0], prev[1]) if prev is not None else None
    for ts, state in (*rows, (period.end, None)):
        if last is not None and last[1] == "running":
            held_until = min(ts, last[0] + MAX_GAP, period.end)
            total += max(0.0, (held_until - max(last[0], period.start)).total_seconds())
        last = (ts, state)
    return total


def resource_utilisation(
    session: Session, resource: Resource, period: Interval
) -> ResourceUtilisation:
    """Utilisation of one resource (no visibility check: callers do that)."""
    bookings = _bookings(session, resource.id, period)
    booked = sum(iv.duration.total_seconds() for _, iv in bookings)
    unbooked = subtract([period], [iv for _, iv in bookings])
    return ResourceUtilisation(
        resource_id=resource.id,
        name=resource.name,
        capacity=resource.capacity,
        period_seconds=period.duration.total_seconds(),
        booked_seconds=booked,
        running_seconds=running_seconds(session, resource.id, period),
        idle_unbooked_seconds=total_duration(unbooked).total_seconds(),
    )


def _own_resource(session: Session, actor: User, resource_id: int) -> Resource:
    resource = session.get(Resource, resource_id)
    if resource is None or (resource.org_id != actor.org_id and not actor.is_platform_operator):
        raise NotFound("resource", resource_id)
    return resource


def _scoped(actor: User, stmt: Select[tuple[Resource]]) -> Select[tuple[Resource]]:
    if actor.is_platform_operator:
        return stmt
    return stmt.where(Resource.org_id == actor.org_id)


def utilisation(
    session: Session, actor: User, scope: Scope, key: str, start: datetime, end: datetime
) -> UtilisationReport:
    """Utilisation of the caller's resources in a scope: one resource (``key`` = id), a
    site or cluster (id), a capability (dotted code, with subsumption) or the whole
    organization (``key`` ignored)."""
    period = check_period(start, end)
    stmt = select(Resource).order_by(Resource.id)
    if scope == "resource":
        resources = [_own_resource(session, actor, _int_key(key))]
    else:
        if scope == "site":
            stmt = stmt.where(Resource.site_id == _int_key(key))
        elif scope == "cluster":
            stmt = stmt.join(Site, Site.id == Resource.site_id).where(
                Site.cluster_id == _int_key(key)
            )
        elif scope == "capability":
            if not key.strip():
                raise InvalidInput.single("key", "give a capability code")
            sub = select(ResourceCapability.resource_id).where(
                or_(ResourceCapability.code == key, ResourceCapability.code.like(f"{key}.%"))
            )
            stmt = stmt.where(Resource.id.in_(sub))
        elif scope != "organization":
            raise InvalidInput.single("scope", f"unknown scope {scope!r}")
        resources = list(session.scalars(_scoped(actor, stmt)))
    rows = [resource_utilisation(session, r, period) for r in resources]
    return UtilisationReport(scope, key, period.start, period.end, rows)


def _int_key(key: str) -> int:
    try:
        return int(key)
    except ValueError:
        raise InvalidInput.single("key", f"expected an id, got {key!r}") from None


def _whole_hours(iv: Interval) -> Interval | None:
    start = iv.start.replace(minute=0, second=0, microsecond=0)
    if start < iv.start:
        start += timedelta(hours=1)
    end = iv.end.replace(minute=0, second=0, microsecond=0)
    return Interval(start, end) if end > start else None


def idle_suggestions(
    session: Session,
    actor: User,
    resource_id: int,
    start: datetime,
    end: datetime,
    *,
    min_hours: float = 4.0,
) -> list[Interval]:
    """Stretches of ``[start, end)`` with no booking on any unit of the caller's resource and
    no published window, cut to whole hours, at least ``min_hours`` long."""
    if min_hours <= 0:
        raise InvalidInput.single("min_hours", "must be > 0")
    resource = _own_resource(session, actor, resource_id)
    period = check_period(start, end)
    busy = [iv for _, iv in _bookings(session, resource.id, period)]
    published = session.execute(
        select(CalendarWindow.start_at, CalendarWindow.end_at)
        .where(CalendarWindow.resource_id == resource.id)
        .where(CalendarWindow.start_at < period.end, CalendarWindow.end_at > period.start)
    ).all()
    busy.extend(Interval(s, e) for s, e in published)
    out = []
    for gap in subtract([period], busy):
        cut = _whole_hours(gap)
        if cut is not None and cut.duration >= timedelta(hours=min_hours):
            out.append(cut)
    return out


def publish_suggestions(
    session: Session,
    actor: User,
    resource_id: int,
    start: datetime,
    end: datetime,
    *,
    min_hours: float = 4.0,
) -> list[CalendarWindow]:
    """Publish every current idle suggestion as a window with source ``"suggestion"``
    (one transaction; nothing is published twice because published windows are excluded)."""
    require_role(actor)
    windows = idle_suggestions(session, actor, resource_id, start, end, min_hours=min_hours)
    with transaction(session):
        rows = [
            CalendarWindow(
                resource_id=resource_id, start_at=iv.start, end_at=iv.end, source="suggestion"
            )
            for iv in windows
        ]
        session.add_all(rows)
        session.flush()
    return rows
