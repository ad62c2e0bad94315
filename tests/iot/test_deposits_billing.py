"""Funding and pay-per-use billing end to end, as an industrial park runs it: the operator
records a buyer's bank transfer (idempotent by its reference), the provider's machine reports
telemetry with its device credential, the provider bills the booking's usage from the
buyer's wallet, and both parties see the same balanced ledger and usage statement. Late
telemetry is billed as a separate difference transaction; a wallet that cannot pay is a 409
naming the shortfall (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

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
from sharefab.services.ledger import trial_balance
from sharefab.storage.db import make_session_factory
from sharefab.storage.market_models import LedgerPosting, LedgerTransaction
from sharefab.storage.models import Booking, User
from sharefab.storage.telemetry_models import Telemetry

from .billing_helpers import CHARGE, FEE_BPS, TERMS, billing_client, engine_of
from .conftest import telemetry


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with billing_client(db_url, "iot-deposit-tests-") as c:
        yield c


_engine = engine_of


def _operator(client: TestClient) -> Tenant:
    """The industrial park's platform operator."""
    ops = register(client, "Park Operations", ["provider"])
    with make_session_factory(_engine(client))() as session, session.begin():
        session.get_one(User, ops.user_id).is_platform_operator = True
    return ops


def _deposit(client: TestClient, ops: Tenant, org_id: int, amount: int, ref: str) -> Any:
    body = {"org_id": org_id, "amount_minor": amount, "currency": "CNY", "reference": ref}
    return client.post(f"{API}/ledger/deposits", json=body, headers=ops.headers)


def _ledger_rows(client: TestClient) -> tuple[int, int]:
    with make_session_factory(_engine(client))() as session:
        return (
            session.scalar(select(func.count()).select_from(LedgerTransaction)) or 0,
            session.scalar(select(func.count()).select_from(LedgerPosting)) or 0,
        )


def _wallet(client: TestClient, who: Tenant) -> int:
    rows = client.get(f"{API}/ledger/accounts", headers=who.headers).json()["data"]
    return sum(r["balance_minor"] for r in rows if r["code"] == "buyer_wallet")


def _books_balance(client: TestClient) -> None:
    with make_session_factory(_engine(client))() as session:
        assert set(trial_balance(session).values()) == {0}
        for tx in session.scalars(select(LedgerTransaction)):
            assert sum(p.amount_minor for p in tx.postings) == 0, tx.tx_id


def test_operator_records_a_bank_transfer_once_and_the_buyer_sees_it(
    client: TestClient,
) -> None:
    ops = _operator(client)
    buyer = register(client, "Buyer Co", ["buyer"])

    recorded = _deposit(client, ops, buyer.org_id, 50_000, "BOC-2026-11-0042")
    assert recorded.status_code == 201, recorded.text
    body = recorded.json()
    assert body["created"] is True
    assert body["transaction_id"] == "deposit:BOC-2026-11-0042"
    assert body["org_id"] == buyer.org_id and body["wallet_balance_minor"] == 50_000
    assert "BOC-2026-11-0042" in body["memo"]

    # The bank statement is imported twice: the second time posts nothing.
    rows = _ledger_rows(client)
    again = _deposit(client, ops, buyer.org_id, 50_000, "BOC-2026-11-0042")
    assert again.status_code == 200, again.text
    assert again.json()["created"] is False and again.json()["wallet_balance_minor"] == 50_000
    assert _ledger_rows(client) == rows

    # The same reference with other details is a mistake, not a second transfer.
    clash = assert_problem(_deposit(client, ops, buyer.org_id, 60_000, "BOC-2026-11-0042"), 409)
    assert "BOC-2026-11-0042" in clash["detail"] and "500.00" in clash["detail"]
    assert _ledger_rows(client) == rows

    # The buyer sees the money in its wallet, the transaction and its statement.
    assert _wallet(client, buyer) == 50_000
    txs = client.get(f"{API}/ledger/transactions", headers=buyer.headers).json()["data"]
    (dep,) = [t for t in txs if t["kind"] == "deposit"]
    assert dep["id"] == "deposit:BOC-2026-11-0042"
    assert [p["amount_minor"] for p in dep["postings"]] == [-50_000]  # a credit to its wallet
    csv = client.get(f"{API}/ledger/statement.csv", headers=buyer.headers).text
    assert "BOC-2026-11-0042" in csv
    _books_balance(client)

    # Only a platform operator records deposits; bad input names the field.
    assert_problem(_deposit(client, buyer, buyer.org_id, 1_000, "SELF-1"), 403)
    unknown = assert_problem(_deposit(client, ops, 999_999, 1_000, "X-1"), 422)
    assert "org_id" in str(unknown)
    assert_problem(_deposit(client, ops, buyer.org_id, 0, "X-2"), 422)
    future = {
        "org_id": buyer.org_id,
        "amount_minor": 5,
        "currency": "CNY",
        "reference": "X-3",
        "received_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
    }
    early = client.post(f"{API}/ledger/deposits", json=future, headers=ops.headers)
    assert "received_at" in str(assert_problem(early, 422))
    bad_currency = {"org_id": buyer.org_id, "amount_minor": 5, "currency": "cny", "reference": "X"}
    assert_problem(
        client.post(f"{API}/ledger/deposits", json=bad_currency, headers=ops.headers), 422
    )
    assert _ledger_rows(client) == rows


def _ordered_booking(client: TestClient) -> tuple[Tenant, Tenant, dict, int, int]:
    """A provider's mill leased pay-per-use, a buyer's accepted order on it, the booking id
    and the mill's resource id."""
    provider = register(client, "Mill Co", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    rid = machine(client, provider, MILL, SUZHOU, windows=[(day(1), day(3))])
    patched = client.patch(
        f"{API}/resources/{rid}", json={"lease_terms": TERMS}, headers=provider.headers
    )
    assert patched.status_code == 200, patched.text
    rfq = post_rfq(client, buyer, [operation(MILL, 4, 30)]).json()
    offer = quote(client, buyer, rfq["id"])
    order = accept(client, buyer, offer["id"], offer["options"][0]["id"])
    assert order.status_code == 201, order.text
    booking_id = order.json()["work_orders"][0]["booking_id"]
    return provider, buyer, order.json(), booking_id, rid


def _report(client: TestClient, token: str, msgs: list[dict]) -> None:
    """The machine reports over HTTP with its own device credential."""
    sent = client.post(f"{API}/telemetry", json=msgs, headers={"Authorization": f"Device {token}"})
    assert sent.status_code in (200, 201, 202), sent.text
    assert sent.json()["accepted"] == len(msgs) and sent.json()["rejected"] == 0


def _readings(
    client: TestClient, booking_id: int, rid: int, ids: range, every_min: float = 30
) -> list[dict]:
    """Readings every 30 min (``every_min``) from 1 min into the two-hour booking: each step
    0.5 run hour, 50 cycles and 2 kWh (message i carries the counters after i steps)."""
    with make_session_factory(_engine(client))() as session:
        start = session.get_one(Booking, booking_id).start_at
    return [
        telemetry(
            rid,
            i,
            ts=start + timedelta(minutes=1 + every_min * i),
            run_seconds=1800.0 * i,
            cycle_count=50 * i,
            energy_wh=2000.0 * i,
        )
        for i in ids
    ]


def _bill(client: TestClient, who: Tenant, booking_id: int) -> Any:
    return client.post(f"{API}/usage/bill", json={"booking_id": booking_id}, headers=who.headers)


def _statement(client: TestClient, who: Tenant, order_ref: str) -> dict:
    got = client.get(
        f"{API}/usage/statements", params={"order_ref": order_ref}, headers=who.headers
    )
    assert got.status_code == 200, got.text
    return got.json()  # type: ignore[no-any-return]


def test_deposit_funded_pay_per_use_booking_is_billed_end_to_end_from_telemetry(
    client: TestClient,
) -> None:
    ops = _operator(client)
    provider, buyer, order, booking_id, rid = _ordered_booking(client)
    cred = client.post(f"{API}/resources/{rid}/device-credentials", headers=provider.headers)
    assert cred.status_code == 201, cred.text
    token = cred.json()["http_authorization"].removeprefix("Device ")

    # ingest: the machine reports one run hour inside the booking
    _report(client, token, _readings(client, booking_id, rid, range(3)))

    # funding: the buyer's bank transfer arrives and the operator records it
    assert _deposit(client, ops, buyer.org_id, 20_000, "ICBC-77310").status_code == 201

    # metering -> invoice lines -> balanced ledger postings
    billed = _bill(client, provider, booking_id)
    assert billed.status_code == 201, billed.text
    assert billed.json()["amount_minor"] == CHARGE
    tx_id = f"usage:booking:{booking_id}"
    with make_session_factory(_engine(client))() as session:
        tx = session.scalars(
            select(LedgerTransaction).where(LedgerTransaction.tx_id == tx_id)
        ).one()
        by_code = {p.account.code: p.amount_minor for p in tx.postings}
        assert tx.order_ref == order["ref"]
    fee = round(CHARGE * FEE_BPS / 10_000)
    assert by_code == {
        "buyer_wallet": CHARGE,
        "provider_payable": -(CHARGE - fee),
        "fee_revenue": -fee,
    }
    _books_balance(client)

    # the usage statement on the order, the same for the buyer and the provider
    for who in (buyer, provider):
        statement = _statement(client, who, order["ref"])
        (row,) = statement["data"]
        assert row["booking_id"] == booking_id and row["billed_by"] == tx_id
        lines = {line["metric"]: (line["quantity"], line["amount_minor"]) for line in row["lines"]}
        assert lines == {
            "run_hours": ("1.000000", 12_000),
            "cycles": ("100", 500),
            "kwh": ("4.000", 360),
        }
        assert statement["totals_minor"] == statement["billed_minor"] == {"CNY": CHARGE}
        assert statement["unbilled_minor"] == {"CNY": 0}

    # wallets: the buyer paid from its deposit, the provider earned the net
    assert _wallet(client, buyer) == 20_000 - CHARGE
    payable = client.get(f"{API}/ledger/accounts", headers=provider.headers).json()["data"]
    assert [r["balance_minor"] for r in payable if r["code"] == "provider_payable"] == [
        CHARGE - fee
    ]
    # a stranger to the order sees no statement
    stranger = register(client, "Other Buyer", ["buyer"])
    assert_problem(
        client.get(
            f"{API}/usage/statements", params={"order_ref": order["ref"]}, headers=stranger.headers
        ),
        404,
    )


def test_insufficient_funds_is_a_409_naming_the_shortfall_and_writes_nothing(
    client: TestClient,
) -> None:
    ops = _operator(client)
    provider, buyer, _, booking_id, rid = _ordered_booking(client)
    cred = client.post(f"{API}/resources/{rid}/device-credentials", headers=provider.headers)
    _report(
        client,
        cred.json()["http_authorization"].removeprefix("Device "),
        _readings(client, booking_id, rid, range(3)),
    )
    assert _deposit(client, ops, buyer.org_id, 10_000, "T-1").status_code == 201
    rows = _ledger_rows(client)

    poor = assert_problem(_bill(client, provider, booking_id), 409)
    assert "insufficient funds" in poor["detail"]
    assert f"short by {CHARGE - 10_000} CNY" in poor["detail"]
    assert str(CHARGE) in poor["detail"] and "holds 10000" in poor["detail"]
    assert _ledger_rows(client) == rows and _wallet(client, buyer) == 10_000

    # a second transfer covers it
    assert _deposit(client, ops, buyer.org_id, 5_000, "T-2").status_code == 201
    assert _bill(client, provider, booking_id).status_code == 201
    assert _wallet(client, buyer) == 15_000 - CHARGE
    _books_balance(client)


def test_late_telemetry_after_billing_is_billed_as_a_new_difference_transaction(
    client: TestClient,
) -> None:
    ops = _operator(client)
    provider, buyer, order, booking_id, rid = _ordered_booking(client)
    cred = client.post(f"{API}/resources/{rid}/device-credentials", headers=provider.headers)
    token = cred.json()["http_authorization"].removeprefix("Device ")
    _report(client, token, _readings(client, booking_id, rid, range(3)))
    assert _deposit(client, ops, buyer.org_id, 50_000, "W-1").status_code == 201
    assert _bill(client, provider, booking_id).status_code == 201
    first_id = f"usage:booking:{booking_id}"

    def postings(tx_id: str) -> list[tuple[str, int]]:
        with make_session_factory(_engine(client))() as session:
            tx = session.scalars(
                select(LedgerTransaction).where(LedgerTransaction.tx_id == tx_id)
            ).one()
            return sorted((p.account.code, p.amount_minor) for p in tx.postings)

    first = postings(first_id)

    # The machine was offline for the last half hour and sends its buffer after the bill:
    # another 0.5 run hour, 50 cycles and 2 kWh inside the booking.
    _report(client, token, _readings(client, booking_id, rid, range(3, 4)))
    late = 6_000 + 250 + 180
    statement = _statement(client, provider, order["ref"])
    assert statement["totals_minor"] == {"CNY": CHARGE + late}
    assert statement["billed_minor"] == {"CNY": CHARGE}
    assert statement["unbilled_minor"] == {"CNY": late}  # flagged, not lost

    # Billing again posts the difference as a new transaction; the first is unchanged.
    again = _bill(client, provider, booking_id)
    assert again.status_code == 201, again.text
    body = again.json()
    assert body["created"] is True and body["transaction_id"] == f"{first_id}:late:1"
    assert body["amount_minor"] == late and first_id in body["memo"]
    assert postings(first_id) == first
    fee_total = round((CHARGE + late) * FEE_BPS / 10_000)
    with make_session_factory(_engine(client))() as session:
        usage = session.scalars(
            select(LedgerTransaction).where(LedgerTransaction.kind == "usage")
        ).all()
        assert {t.tx_id for t in usage} == {first_id, f"{first_id}:late:1"}
        fee = -sum(
            p.amount_minor for t in usage for p in t.postings if p.account.code == "fee_revenue"
        )
    assert fee == fee_total  # the booking's fee is the fee of its whole charge
    _books_balance(client)
    assert _wallet(client, buyer) == 50_000 - CHARGE - late
    statement = _statement(client, buyer, order["ref"])
    assert statement["billed_minor"] == {"CNY": CHARGE + late}
    assert statement["unbilled_minor"] == {"CNY": 0}
    assert statement["data"][0]["billing_transactions"] == [first_id, f"{first_id}:late:1"]

    # Nothing new: billing again posts nothing.
    rows = _ledger_rows(client)
    same = _bill(client, provider, booking_id)
    assert same.status_code == 200 and same.json()["created"] is False
    assert _ledger_rows(client) == rows

    # A billed booking keeps its prices: a later rate change does not reprice it.
    dearer = TERMS | {"run_hour_minor": 99_000}
    client.patch(f"{API}/resources/{rid}", json={"lease_terms": dearer}, headers=provider.headers)
    assert _bill(client, provider, booking_id).status_code == 200
    assert _ledger_rows(client) == rows

    # Even after the lease changed model, late readings of the billed booking are billed at
    # the prices it was billed at (another 0.5 run hour, 50 cycles and 2 kWh).
    hourly = {"model": "hourly"}
    client.patch(f"{API}/resources/{rid}", json={"lease_terms": hourly}, headers=provider.headers)
    _report(client, token, _readings(client, booking_id, rid, range(4, 5), every_min=27))
    assert _statement(client, provider, order["ref"])["unbilled_minor"] == {"CNY": late}
    second = _bill(client, provider, booking_id)
    assert second.status_code == 201, second.text
    assert second.json()["transaction_id"] == f"{first_id}:late:2"
    assert second.json()["amount_minor"] == late
    rows = _ledger_rows(client)
    _books_balance(client)

    # Telemetry removed after billing would lower the bill: refused, nothing credited.
    with make_session_factory(_engine(client))() as session, session.begin():
        session.execute(
            Telemetry.__table__.delete().where(
                Telemetry.resource_id == rid, Telemetry.message_id == 4
            )
        )
    lower = assert_problem(_bill(client, provider, booking_id), 409)
    assert "removed" in lower["detail"] and str(CHARGE + 2 * late) in lower["detail"]
    assert _ledger_rows(client) == rows


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_transfers_recorded_at_once_post_once_each(client: TestClient) -> None:
    """Two imports of the same two transfers into a new wallet, all four at once: each
    transfer is posted once (the losers get the stored deposit), nothing fails."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from sharefab.domain.money import Money
    from sharefab.services.ledger import DepositRecord, record_deposit

    ops = _operator(client)
    buyer = register(client, "Buyer Co", ["buyer"])
    factory = make_session_factory(_engine(client))
    barrier = Barrier(4)
    transfers = [("SWIFT-991", 7_500), ("SWIFT-992", 2_500)] * 2

    def record(k: int) -> DepositRecord:
        reference, amount = transfers[k]
        with factory() as session:
            actor = session.get_one(User, ops.user_id)
            barrier.wait()
            return record_deposit(
                session, actor, buyer.org_id, Money(amount, "CNY"), reference, at=datetime.now(UTC)
            )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(record, range(4)))
    for reference in ("SWIFT-991", "SWIFT-992"):
        mine = [r for r in results if r.reference == reference]
        assert sorted(r.created for r in mine) == [False, True]
        assert {r.transaction.tx_id for r in mine} == {f"deposit:{reference}"}
    assert _wallet(client, buyer) == 10_000
    _books_balance(client)
