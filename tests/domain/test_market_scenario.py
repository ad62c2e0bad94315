"""A split order end to end through the pure marketplace rules.

Three providers (milling, anodising, inspection) quote; the buyer filters by credit and
budget, accepts the best option, the order runs through its lifecycle with per-operation
progress and an inspection, is delivered, rated and settled; the ledger and the credit
evidence come out consistent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sharefab.domain.credit import (
    CommitmentEvidence,
    CreditEvidence,
    InspectionEvidence,
    RatingEvidence,
    can_rate,
    compute_credit,
    delivery_evidence,
)
from sharefab.domain.ledger import Journal, escrow_account, fee_revenue, provider_payable
from sharefab.domain.ledger_flows import ProviderShare, escrow_on_accept, release_on_delivery
from sharefab.domain.ledger_statement import statement
from sharefab.domain.money import Money
from sharefab.domain.order_execution import (
    InspectionRecord,
    Measurement,
    OperationStatus,
    SpecLimit,
    report_progress,
    rollup_order_state,
)
from sharefab.domain.orders import OrderState, make_event, replay
from sharefab.domain.quotes import QuoteCandidate, QuoteValidity, rank_quote_options

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
BUYER, MILL, ANODISE, INSPECT, SHAKY = 1, 11, 12, 13, 14
CREDIT = {MILL: 820, ANODISE: 780, INSPECT: 900, SHAKY: 420}


def test_split_order_from_quote_to_settlement() -> None:
    due = T0 + timedelta(days=14)
    valid_until = QuoteValidity().valid_until(T0, T0 + timedelta(days=2))
    options = [
        QuoteCandidate(
            "A",
            Money(1_250_000, "CNY"),
            T0 + timedelta(days=9),
            due,
            {m: CREDIT[m] for m in (MILL, ANODISE, INSPECT)},
            valid_until,
        ),
        QuoteCandidate(
            "B",
            Money(990_000, "CNY"),
            T0 + timedelta(days=8),
            due,
            {SHAKY: CREDIT[SHAKY], INSPECT: CREDIT[INSPECT]},
            valid_until,
        ),
        QuoteCandidate(
            "C",
            Money(2_400_000, "CNY"),
            T0 + timedelta(days=5),
            due,
            {MILL: CREDIT[MILL]},
            valid_until,
        ),
    ]
    ranking = rank_quote_options(
        options,
        now=T0 + timedelta(minutes=1),
        min_provider_credit=600,
        budget_ceiling=Money(2_000_000, "CNY"),
    )
    assert [o.candidate.option_id for o in ranking.ranked] == ["A"]
    excluded = {e.candidate.option_id: e.reasons for e in ranking.excluded}
    assert excluded["B"] == ("provider 14 has credit 420, below the minimum 600",)
    assert excluded["C"] == ("price CNY 24,000.00 exceeds the budget ceiling CNY 20,000.00",)
    chosen = ranking.by_label("best_overall").candidate

    # accept: the payment goes to escrow; the order starts its event log
    order = "O-100"
    journal = Journal([escrow_on_accept(order, BUYER, chosen.total_price, T0 + timedelta(hours=1))])
    events = [
        make_event(order, "draft", "quoted", "system", T0),
        make_event(order, "quoted", "accepted", "buyer", T0 + timedelta(hours=1)),
        make_event(order, "accepted", "scheduled", "system", T0 + timedelta(hours=2)),
    ]

    # each provider reports on its own operation; the first start moves the order
    ops = [
        OperationStatus("mill", MILL),
        OperationStatus("anodise", ANODISE),
        OperationStatus("inspect", INSPECT),
    ]
    ops[0] = report_progress(ops[0], MILL, "started", "scheduled")
    implied = rollup_order_state("scheduled", ops)
    assert implied is OrderState.IN_PRODUCTION
    events.append(make_event(order, "scheduled", implied, "system", T0 + timedelta(days=1)))
    for i, org in enumerate((MILL, ANODISE, INSPECT)):
        if ops[i].progress == "pending":
            ops[i] = report_progress(ops[i], org, "started", "in_production")
        ops[i] = report_progress(ops[i], org, "done", "in_production")
    assert rollup_order_state("in_production", ops) is None  # waits for the inspection

    record = InspectionRecord(
        order,
        f"org:{INSPECT}",
        T0 + timedelta(days=7),
        limits=(SpecLimit("bore", 9.98, 10.02, "mm"),),
        measurements=(Measurement("bore", 10.01, "mm"), Measurement("bore", 9.99, "mm")),
    )
    at = record.at
    events.append(make_event(order, "in_production", record.next_state(), "provider", at))
    events.append(make_event(order, "inspected", "shipped", "provider", at + timedelta(hours=4)))
    delivered_at = chosen.delivery_at
    events.append(make_event(order, "shipped", "delivered", "buyer", delivered_at))
    assert replay(events) is OrderState.DELIVERED
    assert can_rate(replay(events), None)

    # settle: escrow released to the three providers by their part, minus a 3 % fee
    shares = [
        ProviderShare(MILL, 700_000),
        ProviderShare(ANODISE, 300_000),
        ProviderShare(INSPECT, 250_000),
    ]
    escrow = journal.balance(escrow_account(order, BUYER, "CNY"))
    journal.post(release_on_delivery(order, BUYER, escrow, shares, 300, delivered_at))
    events.append(make_event(order, "delivered", "settled", "system", delivered_at))
    assert replay(events) is OrderState.SETTLED
    assert journal.balance(escrow_account(order, BUYER, "CNY")).is_zero
    assert journal.balance(fee_revenue("CNY")) == Money(37_500, "CNY")
    paid = {s.org_id: journal.balance(provider_payable(s.org_id, "CNY")) for s in shares}
    assert paid == {
        MILL: Money(679_000, "CNY"),
        ANODISE: Money(291_000, "CNY"),
        INSPECT: Money(242_500, "CNY"),
    }
    # the milling provider's statement shows only its own money
    mill_rows = list(statement(journal.transactions, org_id=MILL))
    assert [(r.transaction_id, r.balance_minor) for r in mill_rows] == [("release:O-100", 679_000)]

    # the evidence from this order lifts the milling provider above a newcomer
    evidence = CreditEvidence(
        deliveries=[delivery_evidence(delivered_at, due)],
        inspections=[InspectionEvidence(record.at, record.passed)],
        commitments=[CommitmentEvidence(delivered_at)],
        ratings=[RatingEvidence(delivered_at, 5)],
    )
    as_of = delivered_at + timedelta(days=1)
    newcomer = compute_credit(CreditEvidence(), ["provider"], as_of)
    assert compute_credit(evidence, ["provider"], as_of).score > newcomer.score
