"""Pay-per-use billing of a marketplace order's booking: one balanced ledger transaction per
booking (buyer wallet -> provider payable + platform fee), seen by both parties, billed once,
and clear refusals that write nothing (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from market.market_helpers import (
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
from sharefab.domain.ledger_flows import deposit
from sharefab.domain.money import Money
from sharefab.iot.ingest import TelemetryWriter
from sharefab.iot.schema import parse_payload
from sharefab.services.ledger import post_transaction, trial_balance
from sharefab.storage.bookings import insert_booking
from sharefab.storage.db import make_session_factory
from sharefab.storage.market_models import LedgerPosting, LedgerTransaction
from sharefab.storage.models import Booking
from sharefab.storage.telemetry_models import UsageRecord

from .billing_helpers import CHARGE, FEE_BPS, TERMS, billing_client, engine_of
from .conftest import telemetry


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with billing_client(db_url, "iot-billing-tests-") as c:
        yield c


_engine = engine_of


def _order(client: TestClient, terms: dict[str, Any] | None) -> tuple[Tenant, Tenant, dict, int]:
    """A provider's machine leased on ``terms``, an accepted order on it, its booking id."""
    provider = register(client, "Mill Co", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    rid = machine(client, provider, MILL, SUZHOU, windows=[(day(1), day(3))])
    if terms is not None:
        patched = client.patch(
            f"{API}/resources/{rid}", json={"lease_terms": terms}, headers=provider.headers
        )
        assert patched.status_code == 200, patched.text
    rfq = post_rfq(client, buyer, [operation(MILL, 4, 30)]).json()
    offer = quote(client, buyer, rfq["id"])
    order = accept(client, buyer, offer["id"], offer["options"][0]["id"])
    assert order.status_code == 201, order.text
    booking_id = order.json()["work_orders"][0]["booking_id"]
    _run_one_hour(_engine(client), booking_id)
    return provider, buyer, order.json(), booking_id


def _run_one_hour(engine: Engine, booking_id: int) -> None:
    """Telemetry inside the booking: 1 run hour, 100 cycles, 4 kWh."""
    with make_session_factory(engine)() as session:
        booking = session.get(Booking, booking_id)
        assert booking is not None
        rid, start = booking.resource_id, booking.start_at
    msgs = [
        telemetry(
            rid,
            i,
            ts=start + timedelta(minutes=1 + 30 * i),
            run_seconds=1800.0 * i,
            cycle_count=50 * i,
            energy_wh=2000.0 * i,
        )
        for i in range(3)
    ]
    good, bad = parse_payload(json.dumps(msgs))
    assert bad == []
    assert TelemetryWriter(engine).write(good).accepted == 3


def _fund(engine: Engine, org_id: int, amount_minor: int) -> None:
    with make_session_factory(engine)() as session, session.begin():
        tx = deposit(org_id, Money(amount_minor, "CNY"), datetime.now(UTC), tx_id="deposit:t1")
        post_transaction(session, tx)


def _ledger_rows(engine: Engine) -> tuple[int, int, int]:
    with make_session_factory(engine)() as session:
        return (
            session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0,
            session.scalar(select(func.count()).select_from(LedgerPosting)) or 0,
            session.scalar(select(func.count()).select_from(UsageRecord)) or 0,
        )


def _bill(client: TestClient, who: Tenant, booking_id: int) -> Any:
    return client.post(f"{API}/usage/bill", json={"booking_id": booking_id}, headers=who.headers)


def _usage_tx(client: TestClient, who: Tenant) -> list[dict]:
    rows = client.get(f"{API}/ledger/transactions", headers=who.headers).json()["data"]
    return [row for row in rows if row["kind"] == "usage"]


def test_billing_posts_one_balanced_transaction_seen_by_both_parties_once(
    client: TestClient,
) -> None:
    provider, buyer, order, booking_id = _order(client, TERMS)
    engine = _engine(client)

    # The buyer paid the order directly: its wallet cannot cover usage yet. Nothing is written.
    before = _ledger_rows(engine)
    poor = assert_problem(_bill(client, provider, booking_id), 409)
    assert "wallet" in poor["detail"] and str(CHARGE) in poor["detail"]
    assert _ledger_rows(engine) == before

    _fund(engine, buyer.org_id, 50_000)
    billed = _bill(client, provider, booking_id)
    assert billed.status_code == 201, billed.text
    bill = billed.json()
    tx_id = f"usage:booking:{booking_id}"
    assert bill["created"] is True and bill["transaction_id"] == tx_id
    assert bill["amount_minor"] == CHARGE and bill["order_ref"] == order["ref"]

    # Both parties see it, each with its own posting only; the books balance.
    (seen_by_buyer,) = _usage_tx(client, buyer)
    (seen_by_provider,) = _usage_tx(client, provider)
    assert seen_by_buyer["id"] == seen_by_provider["id"] == tx_id
    assert [(p["amount_minor"], p["account"].split("/")[0]) for p in seen_by_buyer["postings"]] == [
        (CHARGE, "buyer_wallet")
    ]
    (payable,) = seen_by_provider["postings"]
    assert payable["account"].startswith("provider_payable")
    fee = CHARGE + payable["amount_minor"]  # the credit is negative: the rest is the fee
    assert fee == round(CHARGE * FEE_BPS / 10_000)
    with make_session_factory(engine)() as session:
        stored = session.scalars(
            select(LedgerPosting.amount_minor)
            .join(LedgerTransaction)
            .where(LedgerTransaction.tx_id == tx_id)
        ).all()
        assert sum(stored) == 0 and len(stored) == 3
        assert set(trial_balance(session).values()) == {0}
    balances = {
        r["code"]: r["balance_minor"]
        for r in client.get(f"{API}/ledger/accounts", headers=buyer.headers).json()["data"]
    }
    assert balances["buyer_wallet"] == 50_000 - CHARGE

    # Billing again posts nothing and returns the same transaction.
    after_first = _ledger_rows(engine)
    again = _bill(client, provider, booking_id)
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False and again.json()["transaction_id"] == tx_id
    assert _ledger_rows(engine) == after_first
    assert len(_usage_tx(client, buyer)) == 1

    # The statement names the transaction that billed the booking.
    statement = client.get(
        f"{API}/usage/statements", params={"order_ref": order["ref"]}, headers=provider.headers
    ).json()
    assert [(r["booking_id"], r["billed_by"]) for r in statement["data"]] == [(booking_id, tx_id)]
    assert statement["totals_minor"] == {"CNY": CHARGE}

    # Only the provider (or a platform operator) bills: the buyer does not see the booking.
    assert_problem(_bill(client, buyer, booking_id), 404)


def test_non_pay_per_use_resource_is_refused_and_nothing_is_written(client: TestClient) -> None:
    provider, buyer, order, booking_id = _order(client, {"model": "hourly"})
    engine = _engine(client)
    _fund(engine, buyer.org_id, 50_000)
    before = _ledger_rows(engine)
    body = assert_problem(_bill(client, provider, booking_id), 409)
    assert "not leased pay-per-use" in body["detail"] and "hourly" in body["detail"]
    assert _ledger_rows(engine) == before
    statement = client.get(
        f"{API}/usage/statements", params={"order_ref": order["ref"]}, headers=provider.headers
    ).json()
    assert statement["data"][0]["billed_by"] is None


def test_booking_without_an_order_is_refused_and_unknown_booking_is_404(
    client: TestClient,
) -> None:
    provider, buyer, _, booking_id = _order(client, TERMS)
    engine = _engine(client)
    _fund(engine, buyer.org_id, 50_000)
    with make_session_factory(engine)() as session, session.begin():
        rid = session.get(Booking, booking_id).resource_id  # type: ignore[union-attr]
        direct = insert_booking(session, rid, day(5), day(5) + timedelta(hours=2))
        direct_id = direct.id
    before = _ledger_rows(engine)
    body = assert_problem(_bill(client, provider, direct_id), 409)
    assert f"booking {direct_id} belongs to no marketplace order" in body["detail"]
    assert_problem(_bill(client, provider, direct_id + 1000), 404)
    assert_problem(client.post(f"{API}/usage/bill", json={}, headers=provider.headers), 422)
    assert _ledger_rows(engine) == before
