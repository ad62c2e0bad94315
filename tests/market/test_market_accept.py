"""Accepting quotes: races for one slot, idempotent retries, expiry, other tenants, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from market_helpers import (
    API,
    MILL,
    SUZHOU,
    Tenant,
    accept,
    assert_problem,
    day,
    machine,
    operation,
    post_rfq,
    quote,
    register,
)
from sqlalchemy import Engine, func, select, update

from sharefab.storage.bookings import insert_booking
from sharefab.storage.db import make_session_factory
from sharefab.storage.market_models import (
    IdempotencyKey,
    LedgerTransaction,
    Order,
    Quote,
    Rfq,
    RfqAttachment,
    WorkOrder,
)
from sharefab.storage.models import Booking

TURN = "separating.machining.turning.cnc"


def _counts(engine: Engine) -> dict[str, int]:
    tables = (
        Rfq,
        RfqAttachment,
        Quote,
        Order,
        WorkOrder,
        Booking,
        LedgerTransaction,
        IdempotencyKey,
    )
    with make_session_factory(engine)() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0 for t in tables}


def _short_window_shop(client: TestClient) -> tuple[Tenant, int, int]:
    """A provider with a lathe and a mill (two sites, one hour of handling between them),
    both idle only on day 2, 00:00-07:00."""
    shop = register(client, "One Slot Shop", ["provider"])
    window = [(day(2), day(2) + timedelta(hours=7))]
    lathe = machine(client, shop, TURN, SUZHOU, windows=window, name="lathe")
    mill = machine(client, shop, MILL, SUZHOU, windows=window, name="mill")
    return shop, lathe, mill


def test_two_buyers_race_for_one_slot_the_loser_gets_409_and_nothing_is_booked(
    client: TestClient, app_engine: Engine
) -> None:
    _shop, lathe, mill = _short_window_shop(client)
    first = register(client, "First Buyer", ["buyer"])
    second = register(client, "Second Buyer", ["buyer"])
    rfq1 = post_rfq(client, first, [operation(MILL, 10, 30)]).json()
    # The second buyer's routing turns first (free lathe), then mills on the contested mill.
    rfq2 = post_rfq(client, second, [operation(TURN, 1, 30), operation(MILL, 10, 30)]).json()
    q1 = quote(client, first, rfq1["id"])
    q2 = quote(client, second, rfq2["id"])
    assert q2["options"], q2["diagnosis"]
    assert [lot["resource_id"] for lot in q2["options"][0]["plan"]["lots"]] == [lathe, mill]

    won = accept(client, first, q1["id"], q1["options"][0]["id"])
    assert won.status_code == 201, won.text
    before = _counts(app_engine)
    lost = accept(client, second, q2["id"], q2["options"][0]["id"])
    body = assert_problem(lost, 409)
    assert "nothing was booked" in body["detail"]
    assert body["conflicts"][0]["resource_id"] == mill
    fresh = client.get(body["fresh_quote"], headers=second.headers)
    assert fresh.status_code == 200 and fresh.json()["id"] == body["fresh_quote_id"]
    # the mill is full for the day: the fresh quote says why instead of offering a clash
    assert fresh.json()["options"] == [] and fresh.json()["diagnosis"]
    after = _counts(app_engine)
    assert after["bookings"] == before["bookings"] == 1  # the lathe lot was rolled back too
    assert after["orders"] == 1 and after["ledger_transactions"] == 1
    assert after["quotes"] == before["quotes"] + 1


def test_idempotent_retry_returns_the_first_result_and_a_reused_key_is_refused(
    client: TestClient, app_engine: Engine
) -> None:
    machine(client, register(client, "Mill Co", ["provider"]), MILL, SUZHOU)
    buyer = register(client, "Buyer Co", ["buyer"])
    rfq = post_rfq(client, buyer, [operation(MILL, 4, 30)]).json()
    offer = quote(client, buyer, rfq["id"])
    option = offer["options"][0]["id"]
    first = accept(client, buyer, offer["id"], option, key="k-1")
    second = accept(client, buyer, offer["id"], option, key="k-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert _counts(app_engine)["orders"] == 1 and _counts(app_engine)["bookings"] == 1
    other = quote(client, buyer, rfq["id"])
    reused = accept(client, buyer, other["id"], other["options"][0]["id"], key="k-1")
    assert "Idempotency-Key" in assert_problem(reused, 422)["detail"]
    twice = accept(client, buyer, offer["id"], option)
    assert "already accepted" in assert_problem(twice, 409)["detail"]


def test_expired_and_foreign_quotes_are_refused_and_nothing_is_stored(
    client: TestClient, app_engine: Engine
) -> None:
    machine(client, register(client, "Mill Co", ["provider"]), MILL, SUZHOU)
    buyer = register(client, "Buyer Co", ["buyer"])
    intruder = register(client, "Other Buyer", ["buyer"])
    rfq = post_rfq(client, buyer, [operation(MILL, 4, 30)]).json()
    offer = quote(client, buyer, rfq["id"])
    option = offer["options"][0]["id"]
    before = _counts(app_engine)
    foreign = accept(client, intruder, offer["id"], option)
    assert assert_problem(foreign, 404)["detail"] == f"quote {offer['id']} not found"
    assert_problem(client.get(f"{API}/quotes/{offer['id']}", headers=intruder.headers), 404)
    with make_session_factory(app_engine)() as s, s.begin():
        past = datetime.now(UTC) - timedelta(seconds=1)
        s.execute(update(Quote).where(Quote.id == offer["id"]).values(valid_until=past))
    expired = assert_problem(accept(client, buyer, offer["id"], option), 410)
    assert "expired" in expired["detail"] and expired["new_quote"].endswith("/quotes")
    assert _counts(app_engine) == before


def test_bad_rfq_input_is_a_clear_422_and_nothing_is_stored(
    client: TestClient, app_engine: Engine
) -> None:
    buyer = register(client, "Buyer Co", ["buyer"])
    before = _counts(app_engine)
    cases = [
        ([operation("separating.machining.telepathy")], {}, "operations[0].capability"),
        ([operation(MILL, quantity=0)], {}, "operations[0].quantity"),
        ([operation(MILL)], {"due_at": (day(0) - timedelta(days=1)).isoformat()}, "due_at"),
        ([operation(MILL), operation(MILL, after=[1])], {}, "operations[1].after"),
        ([operation(MILL, attributes={"tolerance_mm": -1})], {}, None),
        ([], {}, "operations"),
    ]
    for ops, extra, field in cases:
        body = assert_problem(post_rfq(client, buyer, ops, **extra), 422)
        if field is not None:
            assert field in [e["field"] for e in body["errors"]], body
    assert _counts(app_engine) == before


def test_attachment_over_the_limit_is_refused(client: TestClient, app_engine: Engine) -> None:
    buyer = register(client, "Buyer Co", ["buyer"])
    rfq = post_rfq(client, buyer, [operation(MILL)]).json()
    before = _counts(app_engine)
    url = f"{API}/rfqs/{rfq['id']}/attachments"
    big = client.post(
        url, files={"file": ("big.pdf", b"x" * 4097, "application/pdf")}, headers=buyer.headers
    )
    assert "4096" in assert_problem(big, 413)["detail"]
    assert _counts(app_engine) == before
    ok = client.post(
        url, files={"file": ("ok.pdf", b"x" * 4096, "application/pdf")}, headers=buyer.headers
    )
    assert ok.status_code == 201 and ok.json()["size_bytes"] == 4096
    assert len(ok.json()["sha256"]) == 64


def test_quotes_see_bookings_made_outside_the_marketplace_at_once(
    client: TestClient, app_engine: Engine
) -> None:
    provider = register(client, "Mill Co", ["provider"])
    mill = machine(client, provider, MILL, SUZHOU)
    buyer = register(client, "Buyer Co", ["buyer"])
    rfq = post_rfq(client, buyer, [operation(MILL, 4, 30)]).json()
    first = quote(client, buyer, rfq["id"])["options"][0]["plan"]["lots"][0]
    start = datetime.fromisoformat(first["start_at"])
    with make_session_factory(app_engine)() as s, s.begin():  # the provider's own job
        insert_booking(s, mill, start, start + timedelta(hours=5), order_ref="own-work")
    second = quote(client, buyer, rfq["id"])["options"][0]["plan"]["lots"][0]
    assert datetime.fromisoformat(second["start_at"]) >= start + timedelta(hours=5)
