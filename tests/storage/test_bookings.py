"""No two non-cancelled bookings of one unit of a resource overlap, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sharefab.storage.bookings import insert_booking
from sharefab.storage.errors import BookingConflict, NotFound
from sharefab.storage.models import Booking
from sharefab.storage.types import UTCDateTime
from storage.helpers import MakeResource, at

Factory = sessionmaker[Session]


def book(factory: Factory, resource_id: int, start: datetime, end: datetime, **kw: object) -> int:
    """Insert one booking in its own committed transaction; return its id."""
    with factory() as session, session.begin():
        return insert_booking(session, resource_id, start, end, **kw).id  # type: ignore[arg-type]


def active_bookings(factory: Factory, resource_id: int) -> list[tuple[int, datetime, datetime]]:
    with factory() as session:
        rows = session.execute(
            select(Booking.unit, Booking.start_at, Booking.end_at)
            .where(Booking.resource_id == resource_id, Booking.status != "cancelled")
            .order_by(Booking.start_at, Booking.unit)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_overlap_is_refused_and_names_the_conflicting_booking(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource()
    first = book(session_factory, rid, at(8), at(10), order_ref="SO-1")

    with pytest.raises(BookingConflict) as err:
        book(session_factory, rid, at(9), at(11), order_ref="SO-2")

    assert err.value.booking_id == first
    assert err.value.resource_id == rid
    assert f"booking {first}" in str(err.value)
    assert active_bookings(session_factory, rid) == [(0, at(8), at(10))]


@pytest.mark.parametrize(
    ("start", "end"),
    [(at(7), at(9)), (at(9), at(9, 30)), (at(6), at(12)), (at(8), at(10))],
    ids=["overlaps-start", "inside", "covers", "identical"],
)
def test_every_kind_of_overlap_is_refused(
    session_factory: Factory, make_resource: MakeResource, start: datetime, end: datetime
) -> None:
    rid = make_resource()
    book(session_factory, rid, at(8), at(10))
    with pytest.raises(BookingConflict):
        book(session_factory, rid, start, end)


def test_touching_intervals_are_allowed(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource()
    book(session_factory, rid, at(8), at(10))
    book(session_factory, rid, at(10), at(12))
    book(session_factory, rid, at(6), at(8))
    assert [(s.hour, e.hour) for _, s, e in active_bookings(session_factory, rid)] == [
        (6, 8),
        (8, 10),
        (10, 12),
    ]


def test_cancelled_bookings_do_not_block(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource()
    book(session_factory, rid, at(8), at(10), status="cancelled")
    first = book(session_factory, rid, at(8), at(10))
    with session_factory() as session, session.begin():
        session.get_one(Booking, first).status = "cancelled"
    book(session_factory, rid, at(9), at(11))
    assert active_bookings(session_factory, rid) == [(0, at(9), at(11))]


def test_other_resources_are_independent(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    a, b = make_resource(), make_resource()
    book(session_factory, a, at(8), at(10))
    book(session_factory, b, at(8), at(10))
    assert len(active_bookings(session_factory, a)) == len(active_bookings(session_factory, b)) == 1


def test_k_capacity_accepts_k_overlapping_bookings_on_distinct_units(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource(capacity=3)
    ids = [book(session_factory, rid, at(8), at(10) + timedelta(minutes=i)) for i in range(3)]

    with pytest.raises(BookingConflict) as err:
        book(session_factory, rid, at(9), at(9, 30))

    assert err.value.booking_id in ids
    assert sorted(u for u, _, _ in active_bookings(session_factory, rid)) == [0, 1, 2]
    # A unit freed later in the day is reused.
    assert book(session_factory, rid, at(10, 1), at(12)) > 0
    assert book(session_factory, rid, at(10, 2), at(12)) > 0


def test_explicit_unit_is_honoured_and_checked(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource(capacity=2)
    taken = book(session_factory, rid, at(8), at(10), unit=1)
    with pytest.raises(BookingConflict) as err:
        book(session_factory, rid, at(9), at(11), unit=1)
    assert (err.value.booking_id, err.value.unit) == (taken, 1)
    book(session_factory, rid, at(9), at(11))  # picks the free unit 0
    assert [u for u, _, _ in active_bookings(session_factory, rid)] == [1, 0]
    with pytest.raises(ValueError, match=r"unit: 2 is outside 0\.\.1"):
        book(session_factory, rid, at(12), at(13), unit=2)


def test_bad_input_is_refused_with_a_clear_error(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource()
    with pytest.raises(ValueError, match="end_at"):
        book(session_factory, rid, at(10), at(8))
    with pytest.raises(ValueError, match="end_at"):
        book(session_factory, rid, at(10), at(10))
    with pytest.raises(ValueError, match="start_at: naive"):
        book(session_factory, rid, datetime(2026, 3, 2, 8), at(10))
    with pytest.raises(ValueError, match="status"):
        book(session_factory, rid, at(8), at(10), status="maybe")
    with pytest.raises(NotFound, match="resource 999999 not found"):
        book(session_factory, 999_999, at(8), at(10))
    assert active_bookings(session_factory, rid) == []


def test_conflict_leaves_the_transaction_usable(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource()
    book(session_factory, rid, at(8), at(10))
    with session_factory() as session, session.begin():
        with pytest.raises(BookingConflict):
            insert_booking(session, rid, at(9), at(11))
        insert_booking(session, rid, at(10), at(11))
    assert len(active_bookings(session_factory, rid)) == 2


RAW_INSERT = text(
    "INSERT INTO bookings (resource_id, unit, start_at, end_at, status, created_at) "
    "VALUES (:rid, :unit, :s, :e, :status, :created)"
).bindparams(
    bindparam("s", type_=UTCDateTime()),
    bindparam("e", type_=UTCDateTime()),
    bindparam("created", type_=UTCDateTime()),
)


def raw_insert(
    engine: Engine, rid: int, unit: int, start: datetime, end: datetime, status: str
) -> None:
    """INSERT bypassing the ORM and the helper, in its own transaction."""
    bind = {"rid": rid, "unit": unit, "s": start, "e": end, "status": status, "created": at(0)}
    with engine.begin() as conn:
        conn.execute(RAW_INSERT, bind)


def test_the_database_itself_refuses_an_overlapping_raw_insert(
    engine: Engine, make_resource: MakeResource
) -> None:
    """PostgreSQL's exclusion constraint / SQLite's triggers stop a writer bypassing the helper."""
    rid = make_resource(capacity=2)
    raw_insert(engine, rid, 0, at(8), at(10), "held")
    with pytest.raises(IntegrityError, match="ex_bookings_no_overlap"):
        raw_insert(engine, rid, 0, at(9), at(11), "confirmed")
    raw_insert(engine, rid, 0, at(10), at(11), "held")  # touching
    raw_insert(engine, rid, 1, at(9), at(11), "held")  # another unit
    raw_insert(engine, rid, 0, at(9), at(11), "cancelled")  # cancelled never blocks
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Booking)).scalar_one() == 4


def test_the_database_refuses_updates_that_create_an_overlap(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource()
    book(session_factory, rid, at(8), at(10))
    cancelled = book(session_factory, rid, at(9), at(11), status="cancelled")
    later = book(session_factory, rid, at(12), at(14))
    for change in ({"status": "confirmed"}, {"start_at": at(9)}):
        target = cancelled if "status" in change else later
        with session_factory() as session:
            booking = session.get_one(Booking, target)
            for key, value in change.items():
                setattr(booking, key, value)
            with pytest.raises(IntegrityError, match="ex_bookings_no_overlap"):
                session.commit()
    with session_factory() as session, session.begin():
        session.get_one(Booking, later).start_at = at(10)  # touching: fine
    assert [(s.hour, e.hour) for _, s, e in active_bookings(session_factory, rid)] == [
        (8, 10),
        (10, 14),
    ]
