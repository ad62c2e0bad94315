"""Ledger transactions for the marketplace flows, and the cancellation policy.

Flows (``order_ref`` is the order's reference; default transaction ids are derived from it so
a retried request produces the same id and a unique constraint stops a double posting):

====================  =====================================================================
builder               postings
====================  =====================================================================
deposit               Dr platform_cash, Cr buyer_wallet (buyer tops up its wallet)
escrow_on_accept      Dr platform_cash (paid by card/transfer) or Dr buyer_wallet, Cr escrow
release_on_delivery   Dr escrow (all), Cr fee_revenue (fee), Cr provider_payable (each share)
refund_on_cancel      Dr escrow (all), Cr buyer_wallet (refund), Cr provider_payable (comp.)
settle_dispute        Dr escrow (all), Cr buyer_wallet (agreed refund), rest released as above
usage_charge          Dr buyer_wallet (total), Cr provider_payable (net), Cr fee_revenue (fee)
payout                Dr provider_payable or buyer_wallet, Cr platform_cash
goodwill_credit       Dr refund_expense, Cr buyer_wallet (the platform pays, not a provider)
====================  =====================================================================

Rounding: the platform fee is ``Money.fee_bps`` (half to even); the remainder is split among
providers by :meth:`Money.allocate` (largest remainder), so fee + shares == escrow exactly.

Cancellation policy (:class:`CancellationPolicy`, defaults shown):

- cancelled by the **provider** or by the **system**: full refund, whatever the state;
- before the order is **scheduled** (``accepted``): full refund;
- ``scheduled`` and cancelled by the buyer or the operator at least ``free_notice`` (72 h)
  before the first operation starts: full refund;
- ``scheduled`` with less notice (or the start already passed): ``late_refund_bps`` (90 %)
  refunded, the rest (10 %) paid to the providers as compensation, split by their shares;
- ``in_production`` / ``inspected`` (only the operator may cancel): ``production_refund_bps``
  (50 %) refunded, the rest to the providers for the work done;
- ``shipped`` and later: no cancellation (the state machine refuses it; raise a dispute and
  use :func:`settle_dispute`; an operator resolving a dispute for the buyer,
  ``disputed -> cancelled``, posts ``settle_dispute`` with ``refund`` = the whole escrow).
  No platform fee is taken on compensation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from sharefab.domain.ledger import (
    Posting,
    Transaction,
    TransactionKind,
    buyer_wallet,
    credit,
    debit,
    escrow_account,
    fee_revenue,
    platform_cash,
    provider_payable,
    refund_expense,
)
from sharefab.domain.money import BPS_DENOMINATOR, Money
from sharefab.domain.orders import ActorRole, OrderState, parse_role, parse_state

__all__ = [
    "CancellationPolicy",
    "ProviderShare",
    "UsageLine",
    "deposit",
    "escrow_on_accept",
    "goodwill_credit",
    "payout",
    "refund_on_cancel",
    "release_on_delivery",
    "settle_dispute",
    "split_release",
    "usage_charge",
    "usage_lines_from_terms",
]


@dataclass(frozen=True, slots=True)
class ProviderShare:
    """A provider's part of a (possibly split) order; ``weight`` is usually its price."""

    org_id: int
    weight: int

    def __post_init__(self) -> None:
        if isinstance(self.weight, bool) or not isinstance(self.weight, int) or self.weight < 0:
            raise ValueError(f"provider {self.org_id}: weight must be an integer >= 0")


def _check_shares(shares: Sequence[ProviderShare]) -> None:
    if not shares:
        raise ValueError("at least one provider share is required")
    orgs = [s.org_id for s in shares]
    if len(set(orgs)) != len(orgs):
        raise ValueError(f"provider shares list an organisation twice: {orgs}")
    if sum(s.weight for s in shares) <= 0:
        raise ValueError("provider share weights must have a positive sum")


def _positive(amount: Money, what: str) -> None:
    if amount.amount_minor <= 0:
        raise ValueError(f"{what} must be positive, got {amount}")


def _provider_credits(amount: Money, shares: Sequence[ProviderShare]) -> list[Posting]:
    if amount.is_zero:
        return []
    parts = amount.allocate([s.weight for s in shares])
    return [
        credit(provider_payable(s.org_id, amount.currency), part)
        for s, part in zip(shares, parts, strict=True)
        if not part.is_zero
    ]


def split_release(
    amount: Money, shares: Sequence[ProviderShare], platform_fee_bps: int
) -> tuple[Money, dict[int, Money]]:
    """``(fee, {provider org: share})`` for releasing ``amount``; they sum to ``amount``."""
    _check_shares(shares)
    fee, rest = amount.split_fee(platform_fee_bps)
    parts = rest.allocate([s.weight for s in shares])
    return fee, {s.org_id: p for s, p in zip(shares, parts, strict=True)}


def deposit(
    buyer_org: int, amount: Money, at: datetime, *, tx_id: str, memo: str = ""
) -> Transaction:
    """Buyer tops up its wallet: Dr platform_cash, Cr buyer_wallet."""
    _positive(amount, "deposit")
    return Transaction(
        tx_id,
        TransactionKind.DEPOSIT,
        (
            debit(platform_cash(amount.currency), amount),
            credit(buyer_wallet(buyer_org, amount.currency), amount),
        ),
        memo or f"deposit by org {buyer_org}",
        at,
    )


def escrow_on_accept(
    order_ref: str,
    buyer_org: int,
    amount: Money,
    at: datetime,
    *,
    from_wallet: bool = False,
    tx_id: str | None = None,
) -> Transaction:
    """On accept the buyer's payment moves to the order's escrow.

    Paid directly (``from_wallet=False``): Dr platform_cash; from its wallet: Dr buyer_wallet.
    Cr escrow. Default id ``escrow:{order_ref}``.
    """
    _positive(amount, "escrow amount")
    cur = amount.currency
    source = buyer_wallet(buyer_org, cur) if from_wallet else platform_cash(cur)
    return Transaction(
        tx_id or f"escrow:{order_ref}",
        TransactionKind.ESCROW,
        (debit(source, amount), credit(escrow_account(order_ref, buyer_org, cur), amount)),
        f"payment for order {order_ref} held in escrow",
        at,
        order_ref=order_ref,
    )


def release_on_delivery(
    order_ref: str,
    buyer_org: int,
    escrow_amount: Money,
    shares: Sequence[ProviderShare],
    platform_fee_bps: int,
    at: datetime,
    *,
    tx_id: str | None = None,
) -> Transaction:
    """Release the whole escrow: the platform fee, then each provider's share of the rest.

    ``escrow_amount`` is the order's escrow balance; afterwards the escrow is zero.
    Default id ``release:{order_ref}``.
    """
    _positive(escrow_amount, "escrow amount")
    fee, parts = split_release(escrow_amount, shares, platform_fee_bps)
    cur = escrow_amount.currency
    postings = [debit(escrow_account(order_ref, buyer_org, cur), escrow_amount)]
    if not fee.is_zero:
        postings.append(credit(fee_revenue(cur), fee))
    postings += [
        credit(provider_payable(org, cur), part) for org, part in parts.items() if not part.is_zero
    ]
    return Transaction(
        tx_id or f"release:{order_ref}",
        TransactionKind.RELEASE,
        tuple(postings),
        f"order {order_ref} delivered: escrow released, platform fee {fee}",
        at,
        order_ref=order_ref,
    )


@dataclass(frozen=True, slots=True)
class CancellationPolicy:
    """How much of the escrow a cancellation refunds (see the module docstring)."""

    free_notice: timedelta = timedelta(hours=72)
    late_refund_bps: int = 9_000
    production_refund_bps: int = 5_000

    def __post_init__(self) -> None:
        if self.free_notice < timedelta(0):
            raise ValueError("free_notice must not be negative")
        for name in ("late_refund_bps", "production_refund_bps"):
            value = getattr(self, name)
            if not 0 <= value <= BPS_DENOMINATOR:
                raise ValueError(f"{name} must be between 0 and {BPS_DENOMINATOR}, got {value}")

    def refund_bps(
        self,
        state: OrderState | str,
        cancelled_by: ActorRole | str,
        time_before_start: timedelta | None = None,
    ) -> int:
        """Share of the escrow refunded to the buyer, in basis points."""
        return self.decide(state, cancelled_by, time_before_start)[0]

    def decide(
        self,
        state: OrderState | str,
        cancelled_by: ActorRole | str,
        time_before_start: timedelta | None = None,
    ) -> tuple[int, str]:
        """``(refund_bps, reason)`` for a cancellation in ``state`` by ``cancelled_by``."""
        st = parse_state(state, "cancellation")
        role = parse_role(cancelled_by)
        full = BPS_DENOMINATOR
        if st in (OrderState.DRAFT, OrderState.QUOTED):
            raise ValueError(f"nothing is in escrow for an order in state {st.value}")
        if st in (
            OrderState.SHIPPED,
            OrderState.DELIVERED,
            OrderState.SETTLED,
            OrderState.CANCELLED,
            OrderState.DISPUTED,
        ):
            raise ValueError(f"an order in state {st.value} cannot be cancelled for a refund")
        if role in (ActorRole.PROVIDER, ActorRole.SYSTEM):
            return full, f"cancelled by {role.value}: full refund"
        if st is OrderState.ACCEPTED:
            return full, "cancelled before scheduling: full refund"
        if st is OrderState.SCHEDULED:
            if time_before_start is None:
                raise ValueError("time_before_start is required to cancel a scheduled order")
            hours = self.free_notice.total_seconds() / 3600
            if time_before_start >= self.free_notice:
                return full, f"cancelled at least {hours:g} h before start: full refund"
            pct = self.late_refund_bps / 100
            return self.late_refund_bps, (
                f"cancelled less than {hours:g} h before start: {pct:g} % refund, "
                "the rest compensates the providers"
            )
        pct = self.production_refund_bps / 100
        return self.production_refund_bps, (
            f"cancelled during production: {pct:g} % refund, the rest pays the providers"
        )


def refund_on_cancel(
    order_ref: str,
    buyer_org: int,
    escrow_amount: Money,
    shares: Sequence[ProviderShare],
    policy: CancellationPolicy,
    state: OrderState | str,
    cancelled_by: ActorRole | str,
    time_before_start: timedelta | None,
    at: datetime,
    *,
    tx_id: str | None = None,
) -> Transaction:
    """Empty the escrow of a cancelled order: refund per ``policy``, rest to the providers.

    ``state`` is the order's state when it was cancelled; ``time_before_start`` the time from
    the cancellation to the first operation's planned start. Default id ``refund:{order_ref}``.
    """
    _positive(escrow_amount, "escrow amount")
    _check_shares(shares)
    bps, reason = policy.decide(state, cancelled_by, time_before_start)
    refund, compensation = escrow_amount.allocate([bps, BPS_DENOMINATOR - bps])
    cur = escrow_amount.currency
    postings = [debit(escrow_account(order_ref, buyer_org, cur), escrow_amount)]
    if not refund.is_zero:
        postings.append(credit(buyer_wallet(buyer_org, cur), refund))
    postings += _provider_credits(compensation, shares)
    return Transaction(
        tx_id or f"refund:{order_ref}",
        TransactionKind.REFUND,
        tuple(postings),
        f"order {order_ref} cancelled: {reason}",
        at,
        order_ref=order_ref,
    )


def settle_dispute(
    order_ref: str,
    buyer_org: int,
    escrow_amount: Money,
    refund: Money,
    shares: Sequence[ProviderShare],
    platform_fee_bps: int,
    at: datetime,
    *,
    tx_id: str | None = None,
) -> Transaction:
    """Resolve a dispute: ``refund`` to the buyer, the rest released (fee on the rest only)."""
    _positive(escrow_amount, "escrow amount")
    if refund.is_negative or refund > escrow_amount:
        raise ValueError(f"refund {refund} must be between zero and the escrow {escrow_amount}")
    _check_shares(shares)
    cur = escrow_amount.currency
    postings = [debit(escrow_account(order_ref, buyer_org, cur), escrow_amount)]
    if not refund.is_zero:
        postings.append(credit(buyer_wallet(buyer_org, cur), refund))
    released = escrow_amount - refund
    fee = Money.zero(cur)
    if not released.is_zero:
        fee, parts = split_release(released, shares, platform_fee_bps)
        if not fee.is_zero:
            postings.append(credit(fee_revenue(cur), fee))
        postings += [credit(provider_payable(o, cur), p) for o, p in parts.items() if not p.is_zero]
    return Transaction(
        tx_id or f"dispute:{order_ref}",
        TransactionKind.DISPUTE_SETTLEMENT,
        tuple(postings),
        f"dispute on order {order_ref} settled: {refund} refunded, fee {fee}",
        at,
        order_ref=order_ref,
    )


@dataclass(frozen=True, slots=True)
class UsageLine:
    """A metered pay-per-use line: ``quantity`` of ``metric`` at ``unit_price_minor`` each.

    The line amount is ``quantity * unit_price_minor`` rounded half to even to the minor unit.
    """

    metric: str
    quantity: Decimal
    unit_price_minor: int

    def __post_init__(self) -> None:
        try:
            qty = Decimal(str(self.quantity))
        except InvalidOperation:
            raise ValueError(
                f"usage {self.metric}: quantity {self.quantity!r} is not a number"
            ) from None
        if not qty.is_finite() or qty < 0:
            raise ValueError(f"usage {self.metric}: quantity must be >= 0, got {self.quantity}")
        object.__setattr__(self, "quantity", qty)
        if self.unit_price_minor < 0:
            raise ValueError(f"usage {self.metric}: unit price must be >= 0")

    @property
    def amount_minor(self) -> int:
        """Line amount in minor units."""
        exact = self.quantity * self.unit_price_minor
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


_TERM_METRICS = (("run_hour_minor", "run_hours"), ("cycle_minor", "cycles"), ("kwh_minor", "kwh"))


def usage_lines_from_terms(
    lease_terms: Mapping[str, object], run_hours: Decimal | float, cycles: int, kwh: Decimal | float
) -> list[UsageLine]:
    """Lines for a resource's pay-per-use ``lease_terms`` (e.g. ``{"model": "pay_per_use",
    "run_hour_minor": 12000, "cycle_minor": 5, "kwh_minor": 90}``) and metered usage."""
    if lease_terms.get("model") != "pay_per_use":
        raise ValueError(f"lease terms model is {lease_terms.get('model')!r}, not 'pay_per_use'")
    usage = {"run_hours": run_hours, "cycles": cycles, "kwh": kwh}
    lines = []
    for key, metric in _TERM_METRICS:
        price = lease_terms.get(key)
        if price is None:
            continue
        if isinstance(price, bool) or not isinstance(price, int):
            raise ValueError(f"lease terms {key} must be an integer of minor units")
        lines.append(UsageLine(metric, Decimal(str(usage[metric])), price))
    if not lines:
        raise ValueError(
            "pay-per-use lease terms name no price (run_hour_minor, cycle_minor, kwh_minor)"
        )
    return lines


def usage_charge(
    ref: str,
    buyer_org: int,
    provider_org: int,
    lines: Sequence[UsageLine],
    currency: str,
    platform_fee_bps: int,
    at: datetime,
    *,
    order_ref: str | None = None,
    tx_id: str | None = None,
) -> Transaction:
    """Bill metered usage: Dr buyer_wallet total, Cr provider_payable net, Cr fee_revenue fee.

    ``ref`` identifies the usage record (default id ``usage:{ref}``).
    """
    total = Money(sum(line.amount_minor for line in lines), currency)
    _positive(total, "usage total")
    fee, net = total.split_fee(platform_fee_bps)
    postings = [debit(buyer_wallet(buyer_org, currency), total)]
    if not net.is_zero:
        postings.append(credit(provider_payable(provider_org, currency), net))
    if not fee.is_zero:
        postings.append(credit(fee_revenue(currency), fee))
    detail = ", ".join(f"{line.quantity} {line.metric}" for line in lines)
    return Transaction(
        tx_id or f"usage:{ref}",
        TransactionKind.USAGE,
        tuple(postings),
        f"pay-per-use {ref}: {detail}",
        at,
        order_ref=order_ref,
    )


def payout(
    org_id: int, amount: Money, at: datetime, *, tx_id: str, provider: bool = True
) -> Transaction:
    """Pay money out to an organisation: Dr provider_payable (or buyer_wallet), Cr platform_cash."""
    _positive(amount, "payout")
    cur = amount.currency
    source = provider_payable(org_id, cur) if provider else buyer_wallet(org_id, cur)
    return Transaction(
        tx_id,
        TransactionKind.PAYOUT,
        (debit(source, amount), credit(platform_cash(cur), amount)),
        f"payout to org {org_id}",
        at,
    )


def goodwill_credit(
    buyer_org: int,
    amount: Money,
    at: datetime,
    *,
    tx_id: str,
    memo: str,
    order_ref: str | None = None,
) -> Transaction:
    """The platform credits a buyer from its own pocket: Dr refund_expense, Cr buyer_wallet."""
    _positive(amount, "goodwill credit")
    if not memo.strip():
        raise ValueError("a goodwill credit needs a memo saying why")
    cur = amount.currency
    return Transaction(
        tx_id,
        TransactionKind.GOODWILL,
        (debit(refund_expense(cur), amount), credit(buyer_wallet(buyer_org, cur), amount)),
        memo,
        at,
        order_ref=order_ref,
    )
