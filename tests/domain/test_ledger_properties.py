"""Property tests: random marketplace histories keep the ledger balanced and escrow sane.

A history is a random sequence of deposits, accepts (paid directly or from the wallet),
order progress, cancellations attempted by any role in any state, deliveries with release,
disputes, usage charges, payouts and reversals. Each step goes through the order state
machine and the ledger builders exactly as the service layer will use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sharefab.domain.ledger import (
    AccountCode,
    Journal,
    Transaction,
    TransactionKind,
    buyer_wallet,
    escrow_account,
    provider_payable,
    reverse,
)
from sharefab.domain.ledger_flows import (
    CancellationPolicy,
    ProviderShare,
    deposit,
    escrow_on_accept,
    payout,
    refund_on_cancel,
    release_on_delivery,
    settle_dispute,
    usage_charge,
    usage_lines_from_terms,
)
from sharefab.domain.money import Money
from sharefab.domain.orders import (
    ActorRole,
    IllegalTransition,
    OrderState,
    allowed_targets,
    transition,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
BUYERS = (1, 2)
PROVIDERS = (11, 12, 13)
CURRENCIES = ("CNY", "USD")
FORWARD = {
    OrderState.ACCEPTED: (OrderState.SCHEDULED, ActorRole.SYSTEM),
    OrderState.SCHEDULED: (OrderState.IN_PRODUCTION, ActorRole.PROVIDER),
    OrderState.IN_PRODUCTION: (OrderState.INSPECTED, ActorRole.PROVIDER),
    OrderState.INSPECTED: (OrderState.SHIPPED, ActorRole.PROVIDER),
    OrderState.SHIPPED: (OrderState.DELIVERED, ActorRole.BUYER),
}


@dataclass
class Order:
    ref: str
    buyer: int
    currency: str
    shares: list[ProviderShare]
    state: OrderState = OrderState.ACCEPTED
    closed_by: str | None = None
    quoted_minor: int = 0  # price of a quoted, not yet accepted order


@dataclass
class World:
    journal: Journal = field(default_factory=Journal)
    orders: list[Order] = field(default_factory=list)
    clock: int = 0

    def now(self) -> datetime:
        self.clock += 1
        return T0 + timedelta(minutes=self.clock)

    def escrow(self, o: Order) -> Money:
        return self.journal.balance(escrow_account(o.ref, o.buyer, o.currency))


amounts = st.integers(min_value=1, max_value=5_000_000)
advance = st.tuples(st.just("advance"), st.integers(0, 50), st.integers(min_value=1, max_value=6))
accept = st.tuples(
    st.just("accept"),
    st.sampled_from(BUYERS),
    st.sampled_from(CURRENCIES),
    amounts,
    st.booleans(),
    st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=3),
)
quote = st.tuples(
    st.just("quote"),
    st.sampled_from(BUYERS),
    st.sampled_from(CURRENCIES),
    amounts,
    st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=3),
)
steps = st.one_of(
    accept,
    accept,
    quote,
    advance,
    advance,
    advance,
    st.tuples(st.just("deposit"), st.sampled_from(BUYERS), st.sampled_from(CURRENCIES), amounts),
    st.tuples(
        st.just("cancel"),
        st.integers(min_value=0, max_value=50),
        st.sampled_from(list(ActorRole)),
        st.integers(min_value=-48, max_value=200),
    ),
    st.tuples(st.just("settle"), st.integers(min_value=0, max_value=50), st.integers(0, 3000)),
    st.tuples(st.just("settle"), st.integers(min_value=0, max_value=50), st.integers(0, 3000)),
    st.tuples(st.just("dispute"), st.integers(min_value=0, max_value=50), st.integers(0, 100)),
    st.tuples(
        st.just("usage"),
        st.sampled_from(BUYERS),
        st.sampled_from(PROVIDERS),
        st.sampled_from(CURRENCIES),
        st.integers(min_value=0, max_value=500),
        st.integers(min_value=0, max_value=10_000),
    ),
    st.tuples(st.just("payout"), st.sampled_from(PROVIDERS), st.sampled_from(CURRENCIES)),
    st.tuples(st.just("reverse_deposit"), st.integers(min_value=0, max_value=50)),
)


def _post_or_refused(world: World, tx: Transaction, wallet_short: bool) -> None:
    """Post; a refusal is only acceptable when the step overdraws the buyer's wallet."""
    try:
        world.journal.post(tx)
    except ValueError as err:
        assert wallet_short, f"unexpected refusal: {err}"
        assert "below zero" in str(err)
    else:
        assert not wallet_short, f"{tx.id} overdrew a wallet and was accepted"


def _apply(world: World, step: tuple) -> None:
    kind = step[0]
    j = world.journal
    if kind == "deposit":
        _, buyer, cur, amount = step
        j.post(deposit(buyer, Money(amount, cur), world.now(), tx_id=f"dep-{world.clock}"))
    elif kind == "accept":
        _, buyer, cur, amount, from_wallet, weights = step
        if sum(weights) == 0:
            weights = [1]
        ref = f"O-{len(world.orders)}"
        shares = [ProviderShare(PROVIDERS[i], w) for i, w in enumerate(weights)]
        tx = escrow_on_accept(ref, buyer, Money(amount, cur), world.now(), from_wallet=from_wallet)
        short = from_wallet and j.balance(buyer_wallet(buyer, cur)).amount_minor < amount
        _post_or_refused(world, tx, short)
        if not short:
            world.orders.append(Order(ref, buyer, cur, shares))
    elif kind == "quote":
        _, buyer, cur, amount, weights = step
        shares = [ProviderShare(PROVIDERS[i], w) for i, w in enumerate(weights)]
        world.orders.append(
            Order(f"O-{len(world.orders)}", buyer, cur, shares, OrderState.QUOTED, None, amount)
        )
    elif kind == "advance" and world.orders:
        o = world.orders[step[1] % len(world.orders)]
        for _ in range(step[2]):
            if o.state is OrderState.QUOTED:
                o.state = transition(o.state, OrderState.ACCEPTED, ActorRole.BUYER)
                price = Money(o.quoted_minor, o.currency)
                j.post(escrow_on_accept(o.ref, o.buyer, price, world.now()))
            elif o.state in FORWARD:
                target, role = FORWARD[o.state]
                o.state = transition(o.state, target, role)
    elif kind == "cancel" and world.orders:
        _, idx, role, hours = step
        o = world.orders[idx % len(world.orders)]
        try:
            transition(o.state, OrderState.CANCELLED, role)
        except IllegalTransition:
            assert OrderState.CANCELLED not in allowed_targets(o.state, role)
            return
        if o.state is OrderState.QUOTED:  # nothing paid yet, nothing to refund
            with pytest.raises(ValueError, match="nothing is in escrow"):
                CancellationPolicy().refund_bps(o.state, role, timedelta(hours=hours))
        elif o.state is OrderState.DISPUTED:
            j.post(
                settle_dispute(
                    o.ref, o.buyer, world.escrow(o), world.escrow(o), o.shares, 0, world.now()
                )
            )
        else:
            j.post(
                refund_on_cancel(
                    o.ref,
                    o.buyer,
                    world.escrow(o),
                    o.shares,
                    CancellationPolicy(),
                    o.state,
                    role,
                    timedelta(hours=hours),
                    world.now(),
                )
            )
        o.state, o.closed_by = OrderState.CANCELLED, "refund"
    elif kind == "settle" and world.orders:
        _, idx, fee_bps = step
        o = world.orders[idx % len(world.orders)]
        if o.state is OrderState.DELIVERED:
            escrow = world.escrow(o)
            tx = release_on_delivery(o.ref, o.buyer, escrow, o.shares, fee_bps, world.now())
            j.post(tx)
            fee = sum(
                -p.amount_minor for p in tx.postings if p.account.code is AccountCode.FEE_REVENUE
            )
            paid = sum(
                -p.amount_minor
                for p in tx.postings
                if p.account.code is AccountCode.PROVIDER_PAYABLE
            )
            assert fee + paid == escrow.amount_minor
            o.state, o.closed_by = transition(o.state, OrderState.SETTLED, "system"), "release"
    elif kind == "dispute" and world.orders:
        _, idx, refund_pct = step
        o = world.orders[idx % len(world.orders)]
        if o.state in (OrderState.SHIPPED, OrderState.DELIVERED):
            o.state = transition(o.state, OrderState.DISPUTED, "buyer")
            if refund_pct % 2:  # resolve now, otherwise leave it open for a later cancel
                escrow = world.escrow(o)
                refund = Money(escrow.amount_minor * refund_pct // 100, o.currency)
                j.post(settle_dispute(o.ref, o.buyer, escrow, refund, o.shares, 300, world.now()))
                o.state, o.closed_by = transition(o.state, "settled", "operator"), "dispute"
    elif kind == "usage":
        _, buyer, provider, cur, run_minutes, cycles = step
        terms = {"model": "pay_per_use", "run_hour_minor": 6_000, "cycle_minor": 3}
        lines = usage_lines_from_terms(terms, run_minutes / 60, cycles, 0)
        total = sum(line.amount_minor for line in lines)
        if total == 0:
            return
        tx = usage_charge(f"u{world.clock}", buyer, provider, lines, cur, 800, world.now())
        _post_or_refused(world, tx, j.balance(buyer_wallet(buyer, cur)).amount_minor < total)
    elif kind == "payout":
        _, provider, cur = step
        owed = j.balance(provider_payable(provider, cur))
        if not owed.is_zero:
            j.post(payout(provider, owed, world.now(), tx_id=f"pay-{world.clock}"))
    elif kind == "reverse_deposit":
        deposits = [t for t in j.transactions if t.kind is TransactionKind.DEPOSIT]
        if deposits:
            dep = deposits[step[1] % len(deposits)]
            wallet = dep.postings[1].account
            short = j.balance(wallet).amount_minor < dep.amount(wallet.currency).amount_minor
            if f"rev-{dep.id}" in j:
                return
            _post_or_refused(world, reverse(dep, f"rev-{dep.id}", world.now()), short)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, min_size=20, max_size=60))
def test_any_history_keeps_the_ledger_balanced_and_escrow_sane(history: list[tuple]) -> None:
    world = World()
    for step in history:
        _apply(world, step)
        totals: dict[str, int] = {}
        for account, money in world.journal.balances().items():
            totals[account.currency] = totals.get(account.currency, 0) + money.amount_minor
            if account.code in (AccountCode.ESCROW, AccountCode.BUYER_WALLET):
                assert world.journal.balance(account).amount_minor >= 0
        assert all(v == 0 for v in totals.values()), totals
    for tx in world.journal.transactions:
        per_currency: dict[str, int] = {}
        for p in tx.postings:
            assert p.amount_minor != 0
            per_currency[p.currency] = per_currency.get(p.currency, 0) + p.amount_minor
        assert set(per_currency.values()) == {0}
    for o in world.orders:
        event(f"order ended {o.state.value}")
        escrow = world.escrow(o)
        if o.closed_by is not None:
            assert escrow.is_zero, f"{o.ref} closed by {o.closed_by} left {escrow} in escrow"
        elif o.state is OrderState.QUOTED:
            assert escrow.is_zero
        else:
            assert escrow.amount_minor > 0
