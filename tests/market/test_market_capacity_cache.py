"""Quotes follow capacity changes at once, whoever makes them: bookings added, cancelled or moved
and windows deleted by raw SQL (no order event, no in-process invalidation) show in the very
next quote, through ``resources.capacity_version`` bumped by database triggers."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from market_helpers import (
    ANODIZE,
    MILL,
    SUZHOU,
    day,
    machine,
    operation,
    post_rfq,
    quote,
    register,
)
from sqlalchemy import Engine, delete, select, text, update

from sharefab.services import capacity
from sharefab.storage.bookings import insert_booking
from sharefab.storage.db import make_session_factory
from sharefab.storage.models import Booking, CalendarWindow, Resource


def _starts(answer: dict, resource_id: int) -> list[datetime]:
    """Start instants of every lot of every option (all on ``resource_id``)."""
    lots = [lot for option in answer["options"] for lot in option["plan"]["lots"]]
    assert lots and {lot["resource_id"] for lot in lots} == {resource_id}
    return [datetime.fromisoformat(lot["start_at"]) for lot in lots]


def test_a_booking_cancelled_by_raw_sql_is_free_in_the_very_next_quote(
    client: TestClient, app_engine: Engine
) -> None:
    provider = register(client, "Mill Co", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    mill = machine(client, provider, MILL, SUZHOU)  # idle from day 1 to day 4
    rfq_id = post_rfq(client, buyer, [operation(MILL, 10, 30)]).json()["id"]
    assert quote(client, buyer, rfq_id)["options"]  # warms the capacity cache

    factory = make_session_factory(app_engine)
    with factory() as session:
        booking = insert_booking(session, mill, day(1), day(4), order_ref="outside")
        session.commit()
        booking_id = booking.id
    assert quote(client, buyer, rfq_id)["options"] == []  # the mill is full now

    with factory() as session:  # cancelled without an order event (as an operator may do)
        session.execute(update(Booking).where(Booking.id == booking_id).values(status="cancelled"))
        session.commit()
    assert min(_starts(quote(client, buyer, rfq_id), mill)) >= day(1)


def test_a_booking_moved_by_raw_sql_frees_its_old_slot_and_takes_its_new_one_at_once(
    client: TestClient, app_engine: Engine
) -> None:
    provider = register(client, "Mill Co", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    mill = machine(client, provider, MILL, SUZHOU)  # idle from day 1 to day 4
    factory = make_session_factory(app_engine)
    with factory() as session:
        booking = insert_booking(session, mill, day(1), day(2), order_ref="outside")
        session.commit()
        booking_id = booking.id
    rfq_id = post_rfq(client, buyer, [operation(MILL, 10, 30)]).json()["id"]
    assert min(_starts(quote(client, buyer, rfq_id), mill)) >= day(2)

    with factory() as session:  # re-planned: moved to days 2-4 with a plain UPDATE
        session.execute(
            update(Booking).where(Booking.id == booking_id).values(start_at=day(2), end_at=day(4))
        )
        session.commit()
    starts = _starts(quote(client, buyer, rfq_id), mill)
    assert all(day(1) <= start < day(2) for start in starts)


def test_a_deleted_window_is_no_longer_offered_in_the_very_next_quote(
    client: TestClient, app_engine: Engine
) -> None:
    provider = register(client, "Mill Co", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    mill = machine(client, provider, MILL, SUZHOU, windows=[(day(1), day(2)), (day(3), day(4))])
    rfq_id = post_rfq(client, buyer, [operation(MILL, 10, 30)]).json()["id"]
    assert min(_starts(quote(client, buyer, rfq_id), mill)) < day(2)

    factory = make_session_factory(app_engine)
    with factory() as session:
        session.execute(
            delete(CalendarWindow).where(
                CalendarWindow.resource_id == mill, CalendarWindow.start_at < day(2)
            )
        )
        session.commit()
    assert min(_starts(quote(client, buyer, rfq_id), mill)) >= day(3)

    with factory() as session:  # and the last window gone: nothing to offer
        session.execute(delete(CalendarWindow).where(CalendarWindow.resource_id == mill))
        session.commit()
    assert quote(client, buyer, rfq_id)["options"] == []


def test_every_booking_and_window_write_raises_the_resources_capacity_version(
    client: TestClient, app_engine: Engine
) -> None:
    provider = register(client, "Mill Co", ["provider"])
    first = machine(client, provider, MILL, SUZHOU, name="first")
    second = machine(client, provider, MILL, SUZHOU, name="second")
    factory = make_session_factory(app_engine)

    def version(resource_id: int) -> int:
        with factory() as session:
            return session.scalars(
                select(Resource.capacity_version).where(Resource.id == resource_id)
            ).one()

    seen = [version(first)]
    assert seen[0] > 0  # the windows written by machine()
    statements = [
        "INSERT INTO bookings (resource_id, unit, start_at, end_at, status, created_at) "
        "VALUES (:first, 0, :a, :b, 'confirmed', :a)",
        "UPDATE bookings SET status = 'cancelled' WHERE resource_id = :first",
        "DELETE FROM bookings WHERE resource_id = :first",
        "UPDATE calendar_windows SET end_at = :b WHERE resource_id = :first",
        "DELETE FROM calendar_windows WHERE resource_id = :first",
    ]
    params = {"first": first, "a": day(1), "b": day(2)}
    for sql in statements:
        with factory() as session:
            session.execute(text(sql), params)
            session.commit()
        seen.append(version(first))
    assert seen == sorted(set(seen)), f"not strictly increasing: {seen}"

    with factory() as session:  # a booking moved to another resource bumps both
        booking = insert_booking(session, first, day(1), day(2))
        session.commit()
        before = version(first), version(second)
        session.execute(update(Booking).where(Booking.id == booking.id).values(resource_id=second))
        session.commit()
    assert version(first) > max(before) and version(second) > max(before)

    with factory() as session:  # other columns (order_ref) leave the version alone
        unchanged = version(second)
        session.execute(update(Booking).values(order_ref="renamed"))
        session.commit()
    assert version(second) == unchanged


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_booking_committed_after_a_later_version_is_still_seen(
    client: TestClient, app_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL hands out versions at write time: a transaction holding an older version
    that commits after a newer one is still seen, the cursor trailing by ``LAG_S``."""
    monkeypatch.setattr(capacity, "LAG_S", 600.0)  # the test never depends on its own speed
    provider = register(client, "Mill Co", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    mill = machine(client, provider, MILL, SUZHOU, name="mill")
    anodizer = machine(client, provider, ANODIZE, SUZHOU, name="anodizer")
    rfq_id = post_rfq(client, buyer, [operation(MILL, 10, 30)]).json()["id"]
    assert quote(client, buyer, rfq_id)["options"]  # warms the capacity cache

    factory = make_session_factory(app_engine)
    with factory() as slow, factory() as fast:
        insert_booking(slow, mill, day(1), day(4), order_ref="slow")  # older version, open
        insert_booking(fast, anodizer, day(1), day(2), order_ref="fast")
        fast.commit()  # newer version, committed first
        assert quote(client, buyer, rfq_id)["options"]  # the mill's booking is not visible yet
        slow.commit()
    assert quote(client, buyer, rfq_id)["options"] == []  # the mill is full now
