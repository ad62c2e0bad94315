"""Quotes follow capacity changes at once, whoever makes them: bookings added, cancelled or
moved and windows deleted by raw SQL (no order event, no in-process invalidation), and bookings
moved by re-optimisation, show in the very next quote or cache lookup of another cache, through
the append-only ``capacity_changes`` log written by database triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from market_ops.helpers import make_org
from market_ops.market_builders import make_cluster, make_machine, make_order
from sharefab.services import capacity
from sharefab.services.capacity import CapacityCache, day_origin, prune_changes
from sharefab.services.optimize import optimize_cluster
from sharefab.storage.bookings import insert_booking
from sharefab.storage.capacity_models import CapacityChange
from sharefab.storage.db import make_session_factory
from sharefab.storage.models import Booking, CalendarWindow, Site


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
        session.execute(
            text("UPDATE bookings SET status = 'cancelled' WHERE id = :id"), {"id": booking_id}
        )
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


def test_every_booking_and_window_write_is_logged_for_its_resources(
    client: TestClient, app_engine: Engine
) -> None:
    provider = register(client, "Mill Co", ["provider"])
    first = machine(client, provider, MILL, SUZHOU, name="first")
    second = machine(client, provider, MILL, SUZHOU, name="second")
    factory = make_session_factory(app_engine)

    def logged_after(since: int) -> list[int]:
        with factory() as session:
            return list(
                session.scalars(
                    select(CapacityChange.resource_id)
                    .where(CapacityChange.id > since)
                    .order_by(CapacityChange.id)
                )
            )

    def newest() -> int:
        with factory() as session:
            return int(session.scalar(select(func.coalesce(func.max(CapacityChange.id), 0))))

    assert logged_after(0).count(first) >= 1  # the window written by machine()
    params = {"first": first, "a": day(1), "b": day(2)}
    for sql in (
        "INSERT INTO bookings (resource_id, unit, start_at, end_at, status, created_at) "
        "VALUES (:first, 0, :a, :b, 'confirmed', :a)",
        "UPDATE bookings SET status = 'cancelled' WHERE resource_id = :first",
        "DELETE FROM bookings WHERE resource_id = :first",
        "UPDATE calendar_windows SET end_at = :b WHERE resource_id = :first",
        "DELETE FROM calendar_windows WHERE resource_id = :first",
    ):
        before = newest()
        with factory() as session:
            session.execute(text(sql), params)
            session.commit()
        assert logged_after(before) == [first], sql

    with factory() as session:  # a booking moved to another resource logs both
        booking = insert_booking(session, first, day(1), day(2))
        session.commit()
        before = newest()
        session.execute(update(Booking).where(Booking.id == booking.id).values(resource_id=second))
        session.commit()
    assert sorted(logged_after(before)) == sorted([first, second])

    before = newest()
    with factory() as session:  # other columns (order_ref) change no capacity: nothing logged
        session.execute(update(Booking).values(order_ref="renamed"))
        session.commit()
    assert logged_after(before) == []


def test_pruning_deletes_old_log_rows_but_keeps_the_newest(
    client: TestClient, app_engine: Engine
) -> None:
    provider = register(client, "Mill Co", ["provider"])
    machine(client, provider, MILL, SUZHOU, name="first")
    machine(client, provider, MILL, SUZHOU, name="second")
    factory = make_session_factory(app_engine)
    with factory() as session:
        ids = list(session.scalars(select(CapacityChange.id).order_by(CapacityChange.id)))
        assert len(ids) >= 2
        later = datetime.now(UTC) + timedelta(seconds=capacity.PRUNE_AGE_S + 60)
        assert prune_changes(session, datetime.now(UTC), force=True) == 0  # all are recent
        assert prune_changes(session, later, force=True) == len(ids) - 1
        session.commit()
        assert list(session.scalars(select(CapacityChange.id))) == [ids[-1]]


def _views(factory: sessionmaker[Session], cache: CapacityCache, resources: dict[int, int], now):
    with factory() as session:
        got = cache.get(session, resources, day_origin(now), 21 * 1440, now)
        session.rollback()
    return {rid: (cap.windows, cap.bookings) for rid, cap in got.items()}


def test_another_cache_sees_bookings_moved_by_reoptimisation_at_once(
    session_factory: sessionmaker[Session],
) -> None:
    """The optimiser invalidates its own process's cache; a second cache (another worker) learns
    of the moves from the log alone, before any lifetime ends (the clock is frozen)."""
    now = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
    h = timedelta(hours=1)
    with session_factory() as session, session.begin():
        cluster = make_cluster(session)
        provider, _ = make_org(session, "Precision Parts")
        buyer, _ = make_org(session, "Buyer Co")
        site = Site(org_id=provider.id, cluster_id=cluster.id, name="Plant", lat=31.3, lon=120.7)
        session.add(site)
        session.flush()
        window = [(now - 2 * h, now + 72 * h)]
        r1 = make_machine(session, provider, site, "R1", windows=window)
        r2 = make_machine(session, provider, site, "R2", windows=window)
        make_order(
            session,
            ref="A",
            buyer=buyer,
            provider=provider,
            due_at=now + 8 * h,
            promised_at=now + 30 * h,
            lots=[(r1, now + 20 * h, 4, "pending")],
        )
        cluster_id, resources = cluster.id, {r1.id: 1, r2.id: 1}

    other = CapacityCache()
    before = _views(session_factory, other, resources, now)
    result = optimize_cluster(session_factory, cluster_id, time_limit_s=3.0, now=now)
    assert result.moves, "the late order should have been moved"
    after = _views(session_factory, other, resources, now)
    assert after != before
    assert after == _views(session_factory, CapacityCache(), resources, now)  # what is stored


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_booking_committed_after_a_later_change_is_still_seen(
    client: TestClient, app_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL hands out log ids at write time: a transaction holding an older id that
    commits after a newer one is still seen, the cursor trailing by ``LAG_S``."""
    monkeypatch.setattr(capacity, "LAG_S", 600.0)  # the test never depends on its own speed
    provider = register(client, "Mill Co", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    mill = machine(client, provider, MILL, SUZHOU, name="mill")
    anodizer = machine(client, provider, ANODIZE, SUZHOU, name="anodizer")
    rfq_id = post_rfq(client, buyer, [operation(MILL, 10, 30)]).json()["id"]
    assert quote(client, buyer, rfq_id)["options"]  # warms the capacity cache

    factory = make_session_factory(app_engine)
    with factory() as slow, factory() as fast:
        insert_booking(slow, mill, day(1), day(4), order_ref="slow")  # older id, open
        insert_booking(fast, anodizer, day(1), day(2), order_ref="fast")
        fast.commit()  # newer id, committed first
        assert quote(client, buyer, rfq_id)["options"]  # the mill's booking is not visible yet
        slow.commit()
    assert quote(client, buyer, rfq_id)["options"] == []  # the mill is full now
