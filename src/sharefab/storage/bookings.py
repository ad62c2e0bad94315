"""Booking writes that never double-book a unit of a resource, on SQLite and PostgreSQL.

The database is the guarantee on both backends: PostgreSQL's exclusion constraint
``ex_bookings_no_overlap``, SQLite's triggers of the same name (see
:data:`sharefab.storage.models.SQLITE_BOOKING_TRIGGERS`). :func:`insert_booking` adds what a
caller wants on top: it serializes the writers of one resource (PostgreSQL: the resource row
is locked ``FOR NO KEY UPDATE``; SQLite: the write lock is taken before reading, which
``BEGIN IMMEDIATE`` sessions already hold), picks a free unit of a k-capacity resource, and
reports an overlap as :class:`BookingConflict` naming a conflicting booking. A violation raised
by the database anyway (a writer that skipped the lock) is converted too, inside a savepoint,
so the caller's transaction stays usable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sharefab.storage.errors import BookingConflict, NotFound
from sharefab.storage.models import BOOKING_STATUSES, Booking, Resource

EXCLUSION_CONSTRAINT = "ex_bookings_no_overlap"
_EXCLUSION_VIOLATION = "23P01"


def _require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: naive datetime {value.isoformat()} refused, give a time zone")


def overlap_conditions(resource_id: Any, start_at: Any, end_at: Any) -> tuple[Any, ...]:
    """WHERE conditions selecting the non-cancelled bookings of ``resource_id`` that overlap
    ``[start_at, end_at)`` (values or bound parameters). Touching intervals do not overlap."""
    return (
        Booking.resource_id == resource_id,
        Booking.status != "cancelled",
        Booking.start_at < end_at,
        Booking.end_at > start_at,
    )


def overlapping_bookings(
    session: Session,
    resource_id: int,
    start_at: datetime,
    end_at: datetime,
    *,
    unit: int | None = None,
) -> Sequence[Booking]:
    """Non-cancelled bookings of ``resource_id`` (optionally one unit) overlapping
    ``[start_at, end_at)``, oldest first. Touching intervals do not overlap."""
    stmt = (
        select(Booking)
        .where(*overlap_conditions(resource_id, start_at, end_at))
        .order_by(Booking.id)
    )
    if unit is not None:
        stmt = stmt.where(Booking.unit == unit)
    return session.scalars(stmt).all()


def _lock_resource_capacity(session: Session, resource_id: int, dialect: str) -> int:
    """Serialize booking writers of this resource and return its capacity (NotFound if none)."""
    if dialect == "sqlite":
        # Takes SQLite's write lock now (a no-op if the transaction began IMMEDIATE), so the
        # reads below see every committed booking and nobody can commit one before we do.
        session.execute(
            text("UPDATE resources SET capacity = capacity WHERE id = :id"), {"id": resource_id}
        )
    capacity = session.execute(
        select(Resource.capacity).where(Resource.id == resource_id).with_for_update(key_share=True)
    ).scalar_one_or_none()
    if capacity is None:
        raise NotFound("resource", resource_id)
    return int(capacity)


def _is_overlap_violation(exc: IntegrityError) -> bool:
    """True for the exclusion constraint (PostgreSQL) or the overlap triggers (SQLite)."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is None:  # sqlite3: the triggers' RAISE message names the constraint
        return EXCLUSION_CONSTRAINT in str(orig)
    if sqlstate != _EXCLUSION_VIOLATION:
        return False
    name = getattr(getattr(orig, "diag", None), "constraint_name", None)
    return name in (None, EXCLUSION_CONSTRAINT)


def insert_booking(
    session: Session,
    resource_id: int,
    start_at: datetime,
    end_at: datetime,
    *,
    order_ref: str | None = None,
    status: str = "confirmed",
    unit: int | None = None,
) -> Booking:
    """Book ``[start_at, end_at)`` on ``resource_id`` and flush; the caller commits.

    With ``unit=None`` the lowest free unit of a k-capacity resource is chosen. Raises
    :class:`BookingConflict` (naming a conflicting booking) when the unit, or every unit, is
    taken; :class:`NotFound` for an unknown resource; ``ValueError`` for naive datetimes, an
    empty or reversed interval, an unknown status or a unit outside ``0 .. capacity-1``.
    """
    _require_aware("start_at", start_at)
    _require_aware("end_at", end_at)
    if end_at <= start_at:
        raise ValueError(
            f"end_at: {end_at.isoformat()} must be after start_at {start_at.isoformat()}"
        )
    if status not in BOOKING_STATUSES:
        raise ValueError(f"status: {status!r} is not one of {', '.join(BOOKING_STATUSES)}")

    dialect = session.get_bind(mapper=Booking).dialect.name
    capacity = _lock_resource_capacity(session, resource_id, dialect)
    if unit is not None and not 0 <= unit < capacity:
        raise ValueError(
            f"unit: {unit} is outside 0..{capacity - 1} of resource {resource_id} "
            f"(capacity {capacity})"
        )

    if status != "cancelled":
        unit = _choose_unit(session, resource_id, start_at, end_at, capacity, unit)
    booking = Booking(
        resource_id=resource_id,
        unit=0 if unit is None else unit,
        start_at=start_at,
        end_at=end_at,
        status=status,
        order_ref=order_ref,
    )
    try:
        with session.begin_nested():
            session.add(booking)
            session.flush()
    except IntegrityError as exc:
        if not _is_overlap_violation(exc):
            raise
        others = overlapping_bookings(session, resource_id, start_at, end_at, unit=booking.unit)
        raise BookingConflict(
            resource_id=resource_id,
            start_at=start_at,
            end_at=end_at,
            booking_id=others[0].id if others else None,
            unit=booking.unit,
        ) from None
    return booking


def _choose_unit(
    session: Session,
    resource_id: int,
    start_at: datetime,
    end_at: datetime,
    capacity: int,
    unit: int | None,
) -> int:
    """The requested unit if it is free, else the lowest free unit; BookingConflict if none."""
    busy = overlapping_bookings(session, resource_id, start_at, end_at)
    if unit is not None:
        on_unit = [b for b in busy if b.unit == unit]
        if on_unit:
            raise BookingConflict(
                resource_id=resource_id,
                start_at=start_at,
                end_at=end_at,
                booking_id=on_unit[0].id,
                unit=unit,
            )
        return unit
    taken = {b.unit for b in busy}
    for candidate in range(capacity):
        if candidate not in taken:
            return candidate
    raise BookingConflict(
        resource_id=resource_id,
        start_at=start_at,
        end_at=end_at,
        booking_id=busy[0].id if busy else None,
    )
