"""Quotes follow capacity changes: new bookings at once, a booking cancelled behind the
marketplace's back (no order event) within the cache lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from market_helpers import MILL, SUZHOU, day, machine, operation, post_rfq, quote, register
from sqlalchemy import Engine, update

from sharefab.services.capacity import MAX_AGE_S
from sharefab.services.quoting import compute_quote
from sharefab.storage.bookings import insert_booking
from sharefab.storage.db import make_session_factory
from sharefab.storage.models import Booking, User


def test_quotes_see_a_direct_booking_at_once_and_its_silent_cancellation_within_the_lifetime(
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

    with factory() as session:  # cancelled without an order event (as re-planning may do)
        session.execute(update(Booking).where(Booking.id == booking_id).values(status="cancelled"))
        session.commit()
    later = datetime.now(UTC) + timedelta(seconds=MAX_AGE_S + 1)
    with factory() as session:
        user = session.get(User, buyer.user_id)
        assert user is not None
        fresh = compute_quote(session, user, rfq_id, now=later)
        lots = [lot for option in fresh.options for lot in option.plan["lots"]]
        assert lots and {lot["resource_id"] for lot in lots} == {mill}
