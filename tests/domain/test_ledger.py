"""Double-entry ledger: validated transactions, marketplace flows, policy, corrections."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sharefab.domain.ledger import (
    AccountCode,
    Journal,
    Posting,
    Transaction,
    TransactionKind,
    UnbalancedTransaction,
    balances,
    buyer_wallet,
    correct,
    credit,
    debit,
    escrow_account,
    fee_revenue,
    natural_balances,
    platform_cash,
    provider_payable,
    refund_expense,
    reverse,
)
from sharefab.domain.ledger_flows import (
    CancellationPolicy,
    ProviderShare,
    deposit,
    escrow_on_accept,
    goodwill_credit,
    payout,
    refund_on_cancel,
    release_on_delivery,
    settle_dispute,
    usage_charge,
    usage_lines_from_terms,
)
from sharefab.domain.ledger_statement import statement, statement_csv
from sharefab.domain.money import Money

AT = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
BUYER = 10
SHARES = [ProviderShare(21, 5000), ProviderShare(22, 3000), ProviderShare(23, 2000)]


def cny(minor: int) -> Money:
    return Money(minor, "CNY")


def test_transaction_must_balance_per_currency() -> None:
    with pytest.raises(UnbalancedTransaction, match=r"CNY 0\.01"):
        Transaction(
            "t1",
            TransactionKind.DEPOSIT,
            (debit(platform_cash("CNY"), cny(101)), credit(buyer_wallet(1, "CNY"), cny(100))),
            "",
            AT,
        )
    # balanced in total minor units but across two currencies: still refused
    with pytest.raises(UnbalancedTransaction):
        Transaction(
            "t2",
            TransactionKind.DEPOSIT,
            (
                debit(platform_cash("CNY"), cny(100)),
                credit(buyer_wallet(1, "USD"), Money(100, "USD")),
            ),
            "",
            AT,
        )


def test_transaction_shape_rules() -> None:
    cash = platform_cash("CNY")
    with pytest.raises(ValueError, match="at least two postings"):
        Transaction("t", "deposit", (debit(cash, cny(1)),), "", AT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="zero amount"):
        Posting(cash, 0, "CNY")
    with pytest.raises(ValueError, match="kept in CNY"):
        Posting(cash, 5, "USD")
    with pytest.raises(ValueError, match="timezone-aware"):
        deposit(1, cny(5), datetime(2026, 1, 1), tx_id="d")
    with pytest.raises(ValueError, match="needs the owning org_id"):
        dataclasses.replace(buyer_wallet(1, "CNY"), org_id=None)
    with pytest.raises(ValueError, match="order_ref is required"):
        dataclasses.replace(escrow_account("O-1", 1, "CNY"), order_ref=None)


def test_transactions_are_immutable() -> None:
    tx = deposit(1, cny(500), AT, tx_id="d1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        tx.memo = "changed"  # type: ignore[misc]
    assert isinstance(tx.postings, tuple)


def test_escrow_then_release_pays_each_provider_minus_fee_exactly() -> None:
    j = Journal()
    j.post(escrow_on_accept("O-1", BUYER, cny(1_000_001), AT))
    escrow = escrow_account("O-1", BUYER, "CNY")
    assert j.balance(escrow) == cny(1_000_001)
    release = release_on_delivery("O-1", BUYER, j.balance(escrow), SHARES, 250, AT)
    j.post(release)
    assert j.balance(escrow).is_zero
    fee = j.balance(fee_revenue("CNY"))
    assert fee == cny(25_000)  # 2.5 % of 10,000.01 = 250.00025 -> 250.00
    paid = [j.balance(provider_payable(s.org_id, "CNY")).amount_minor for s in SHARES]
    assert sum(paid) + fee.amount_minor == 1_000_001
    assert paid == [487_501, 292_500, 195_000]
    assert release.id == "release:O-1" and release.order_ref == "O-1"


def test_escrow_from_wallet_needs_funds() -> None:
    j = Journal([deposit(BUYER, cny(5_000), AT, tx_id="dep-1")])
    with pytest.raises(ValueError, match="below zero"):
        j.post(escrow_on_accept("O-2", BUYER, cny(6_000), AT, from_wallet=True))
    j.post(escrow_on_accept("O-2", BUYER, cny(4_000), AT, from_wallet=True))
    assert j.balance(buyer_wallet(BUYER, "CNY")) == cny(1_000)
    assert "escrow:O-2" in j


def test_cancellation_policy_tiers() -> None:
    p = CancellationPolicy()
    week, hour = timedelta(days=7), timedelta(hours=1)
    assert p.refund_bps("accepted", "buyer") == 10_000
    assert p.refund_bps("scheduled", "buyer", week) == 10_000
    assert p.refund_bps("scheduled", "buyer", timedelta(hours=72)) == 10_000
    assert p.refund_bps("scheduled", "buyer", hour) == 9_000
    assert p.refund_bps("scheduled", "buyer", -hour) == 9_000  # start passed, not started
    assert p.refund_bps("scheduled", "provider", hour) == 10_000
    assert p.refund_bps("in_production", "operator") == 5_000
    assert p.refund_bps("in_production", "provider") == 10_000
    with pytest.raises(ValueError, match="cannot be cancelled"):
        p.refund_bps("shipped", "operator")
    with pytest.raises(ValueError, match="nothing is in escrow"):
        p.refund_bps("quoted", "buyer")
    with pytest.raises(ValueError, match="time_before_start is required"):
        p.refund_bps("scheduled", "buyer")
    with pytest.raises(ValueError, match="late_refund_bps"):
        CancellationPolicy(late_refund_bps=12_000)


def test_late_buyer_cancellation_refunds_90_percent_and_compensates_providers() -> None:
    j = Journal([escrow_on_accept("O-3", BUYER, cny(100_003), AT)])
    tx = refund_on_cancel(
        "O-3",
        BUYER,
        cny(100_003),
        SHARES,
        CancellationPolicy(),
        "scheduled",
        "buyer",
        timedelta(hours=5),
        AT,
    )
    j.post(tx)
    assert j.balance(escrow_account("O-3", BUYER, "CNY")).is_zero
    refund = j.balance(buyer_wallet(BUYER, "CNY"))
    comp = [j.balance(provider_payable(s.org_id, "CNY")).amount_minor for s in SHARES]
    assert refund == cny(90_003)  # largest remainder on 90 % of 1,000.03
    assert comp == [5_000, 3_000, 2_000]
    assert "less than 72 h before start" in tx.memo
    assert j.balance(fee_revenue("CNY")).is_zero


def test_early_cancellation_is_a_full_refund_with_no_provider_lines() -> None:
    tx = refund_on_cancel(
        "O-4",
        BUYER,
        cny(777),
        SHARES,
        CancellationPolicy(),
        "accepted",
        "buyer",
        None,
        AT,
    )
    accounts = {p.account.code for p in tx.postings}
    assert accounts == {AccountCode.ESCROW, AccountCode.BUYER_WALLET}


def test_dispute_settlement_refunds_part_and_takes_fee_only_on_the_rest() -> None:
    j = Journal([escrow_on_accept("O-5", BUYER, cny(10_000), AT)])
    j.post(settle_dispute("O-5", BUYER, cny(10_000), cny(4_000), SHARES[:2], 500, AT))
    assert j.balance(buyer_wallet(BUYER, "CNY")) == cny(4_000)
    assert j.balance(fee_revenue("CNY")) == cny(300)
    assert j.balance(provider_payable(21, "CNY")) + j.balance(provider_payable(22, "CNY")) == cny(
        5_700
    )
    with pytest.raises(ValueError, match="between zero and the escrow"):
        settle_dispute("O-6", BUYER, cny(100), cny(101), SHARES, 500, AT)


def test_usage_billing_from_pay_per_use_terms() -> None:
    terms = {"model": "pay_per_use", "run_hour_minor": 12_000, "cycle_minor": 5, "kwh_minor": 90}
    lines = usage_lines_from_terms(terms, Decimal("2.5"), 1_001, Decimal("13.3"))
    assert [line.amount_minor for line in lines] == [30_000, 5_005, 1_197]
    j = Journal([deposit(BUYER, cny(50_000), AT, tx_id="dep")])
    j.post(usage_charge("u-1", BUYER, 21, lines, "CNY", 1_000, AT))
    assert j.balance(buyer_wallet(BUYER, "CNY")) == cny(50_000 - 36_202)
    assert j.balance(fee_revenue("CNY")) == cny(3_620)
    assert j.balance(provider_payable(21, "CNY")) == cny(32_582)
    with pytest.raises(ValueError, match="not 'pay_per_use'"):
        usage_lines_from_terms({"model": "hourly"}, 1, 1, 1)
    with pytest.raises(ValueError, match="quantity must be >= 0"):
        usage_lines_from_terms(terms, -1, 0, 0)


def test_payout_cannot_exceed_what_is_owed() -> None:
    j = Journal([escrow_on_accept("O-7", BUYER, cny(1_000), AT)])
    j.post(release_on_delivery("O-7", BUYER, cny(1_000), [ProviderShare(21, 1)], 0, AT))
    with pytest.raises(ValueError, match=r"provider_payable/org:21/CNY at CNY -0\.01"):
        j.post(payout(21, cny(1_001), AT, tx_id="p1"))
    j.post(payout(21, cny(1_000), AT, tx_id="p1"))
    assert j.balance(platform_cash("CNY")).is_zero


def test_a_correction_reverses_and_replaces_without_editing() -> None:
    wrong = deposit(BUYER, cny(1_000), AT, tx_id="dep-1")
    j = Journal([wrong])
    fixed_postings = [
        debit(platform_cash("CNY"), cny(100)),
        credit(buyer_wallet(BUYER, "CNY"), cny(100)),
    ]
    reversal, replacement = correct(
        wrong, fixed_postings, reversal_id="dep-1-rev", replacement_id="dep-1-fix", at=AT
    )
    j.post(reversal)
    j.post(replacement)
    assert j.transactions[0] is wrong and wrong.amount("CNY") == cny(1_000)
    assert j.balance(buyer_wallet(BUYER, "CNY")) == cny(100)
    assert replacement.correction_of == reversal.correction_of == "dep-1"
    with pytest.raises(ValueError, match="already reversed"):
        j.post(reverse(wrong, "dep-1-rev2", AT))
    with pytest.raises(ValueError, match="already posted"):
        j.post(wrong)
    with pytest.raises(ValueError, match="already replaced"):
        j.post(dataclasses.replace(replacement, id="dep-1-fix2"))
    with pytest.raises(ValueError, match="corrects unknown"):
        j.post(reverse(deposit(BUYER, cny(5), AT, tx_id="ghost"), "r", AT))


def test_goodwill_credit_is_a_platform_expense() -> None:
    tx = goodwill_credit(BUYER, cny(500), AT, tx_id="g1", memo="late delivery apology")
    assert natural_balances([tx])[refund_expense("CNY")] == cny(500)
    with pytest.raises(ValueError, match="memo"):
        goodwill_credit(BUYER, cny(500), AT, tx_id="g2", memo=" ")


def test_statement_shows_running_balances_for_one_organisation() -> None:
    txs = [
        deposit(BUYER, cny(10_000), AT, tx_id="dep"),
        escrow_on_accept("O-8", BUYER, cny(6_000), AT + timedelta(hours=1), from_wallet=True),
        release_on_delivery(
            "O-8", BUYER, cny(6_000), [ProviderShare(21, 1)], 100, AT + timedelta(days=3)
        ),
    ]
    rows = list(statement(txs, org_id=BUYER))
    assert [(r.transaction_id, r.account.code.value, r.balance_minor) for r in rows] == [
        ("dep", "buyer_wallet", 10_000),
        ("escrow:O-8", "buyer_wallet", 4_000),
        ("escrow:O-8", "escrow", 6_000),
        ("release:O-8", "escrow", 0),
    ]
    csv_row = rows[0].as_csv_row()
    assert csv_row["credit"] == "100.00" and csv_row["debit"] == "0.00"
    assert csv_row["account"] == f"buyer_wallet/org:{BUYER}/CNY"
    provider_rows = list(statement(txs, org_id=21))
    assert [r.balance_minor for r in provider_rows] == [5_940]
    assert sum(m.amount_minor for m in balances(txs).values()) == 0
    csv_text = statement_csv(rows)
    lines = csv_text.splitlines()
    assert lines[0] == "at,transaction_id,kind,order_ref,account,currency,debit,credit,balance,memo"
    assert lines[-1].startswith(f"{(AT + timedelta(days=3)).isoformat()},release:O-8,release,O-8,")
    assert ",60.00,0.00," in lines[-1] and len(lines) == 5


def test_a_replacement_needs_the_original_reversed_first() -> None:
    original = deposit(BUYER, cny(1_000), AT, tx_id="dep-9")
    j = Journal([original])
    _, replacement = correct(
        original,
        [debit(platform_cash("CNY"), cny(10)), credit(buyer_wallet(BUYER, "CNY"), cny(10))],
        reversal_id="r9",
        replacement_id="f9",
        at=AT,
    )
    with pytest.raises(ValueError, match="replaces dep-9, which is not reversed"):
        j.post(replacement)
    assert j.balance(buyer_wallet(BUYER, "CNY")) == cny(1_000)
