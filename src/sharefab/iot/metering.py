"""Metering: machine usage inside a booking from telemetry counter deltas, pay-per-use
invoice lines at the resource's lease terms, and a usage statement per order reference.

Usage in ``[start, end]`` is the sum of the increments of each cumulative counter between
consecutive messages, from the last message at or before ``start`` (or the first one after
it) to the last message at or before ``end``. A counter that goes *down* was reset (device
replaced or rebooted without memory): the increment after a reset is the new value itself,
as in Prometheus' ``increase()``. Messages are ordered by timestamp, then message id.

Ledger postings: :func:`sharefab.domain.ledger_flows.usage_charge` builds the balanced
transaction (buyer wallet -> provider payable + platform fee). :func:`ledger_transaction`
builds it for a whole statement without storing it; :func:`bill_usage` bills one
booking and stores the transaction through :func:`sharefab.services.ledger.post_transaction`.
Telemetry that arrives after a booking was billed is billed as a separate difference
transaction the next time the booking is billed (never by editing the first bill);
:func:`billed_usage` tells what the ledger has charged for a booking so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from sharefab.domain.ledger import (
    AccountCode,
    Posting,
    Transaction,
    TransactionKind,
    buyer_wallet,
    fee_revenue,
    provider_payable,
)
from sharefab.domain.ledger_flows import UsageLine, usage_charge, usage_lines_from_terms
from sharefab.domain.money import Money
from sharefab.services.common import require_role, transaction
from sharefab.services.errors import Conflict, InvalidInput, NotFound
from sharefab.services.ledger import balance_of, post_transaction
from sharefab.storage.market_models import LedgerPosting, LedgerTransaction, Order
from sharefab.storage.models import Booking, Resource, User
from sharefab.storage.telemetry_models import Telemetry, UsageRecord
from sharefab.storage.types import utc_now

METRIC_UNITS = {"run_hours": "h", "cycles": "cycle", "kwh": "kWh"}
_TERM_KEYS = {"run_hours": "run_hour_minor", "cycles": "cycle_minor", "kwh": "kwh_minor"}


@dataclass(frozen=True, slots=True)
class Usage:
    """Metered usage of one resource in one interval."""

    run_seconds: float
    spindle_seconds: float
    cycles: int
    energy_wh: float
    samples: int

    @property
    def run_hours(self) -> Decimal:
        """Run time in hours (exact to the millisecond)."""
        return (Decimal(str(round(self.run_seconds, 3))) / 3600).quantize(Decimal("0.000001"))

    @property
    def kwh(self) -> Decimal:
        """Energy in kWh (to the Wh)."""
        return (Decimal(str(round(self.energy_wh))) / 1000).quantize(Decimal("0.001"))


def counter_usage(session: Session, resource_id: int, start: datetime, end: datetime) -> Usage:
    """Usage of ``resource_id`` in ``[start, end]`` from counter deltas (see module doc)."""
    if end <= start:
        raise InvalidInput.single("to", "must be after 'from'")
    baseline = session.scalar(
        select(func.max(Telemetry.ts)).where(
            Telemetry.resource_id == resource_id, Telemetry.ts <= start
        )
    )
    lo = baseline if baseline is not None else start
    order = (Telemetry.ts, Telemetry.message_id)

    def increment(col: Any) -> Any:
        delta = col - func.lag(col).over(order_by=order)
        return case((delta < 0, col), else_=delta)

    inner = (
        select(
            increment(Telemetry.run_seconds).label("run"),
            increment(Telemetry.spindle_seconds).label("spindle"),
            increment(Telemetry.cycle_count).label("cycles"),
            increment(Telemetry.energy_wh).label("energy"),
        )
        .where(Telemetry.resource_id == resource_id, Telemetry.ts >= lo, Telemetry.ts <= end)
        .subquery()
    )
    row = session.execute(
        select(
            func.coalesce(func.sum(inner.c.run), 0),
            func.coalesce(func.sum(inner.c.spindle), 0),
            func.coalesce(func.sum(inner.c.cycles), 0),
            func.coalesce(func.sum(inner.c.energy), 0),
            func.count(),
        )
    ).one()
    return Usage(
        run_seconds=float(row[0]),
        spindle_seconds=float(row[1]),
        cycles=int(row[2]),
        energy_wh=float(row[3]),
        samples=int(row[4]),
    )


def invoice_lines(lease_terms: dict[str, Any] | None, usage: Usage) -> list[UsageLine]:
    """Pay-per-use lines for ``usage`` at ``lease_terms``; none for other lease models."""
    if not lease_terms or lease_terms.get("model") != "pay_per_use":
        return []
    return usage_lines_from_terms(lease_terms, usage.run_hours, usage.cycles, usage.kwh)


def _line_dict(line: UsageLine, currency: str) -> dict[str, Any]:
    return {
        "metric": line.metric,
        "quantity": str(line.quantity),
        "unit": METRIC_UNITS.get(line.metric, ""),
        "unit_price_minor": line.unit_price_minor,
        "amount_minor": line.amount_minor,
        "currency": currency,
    }


def _visible_booking(session: Session, actor: User | None, booking_id: int) -> Booking:
    booking = session.get(Booking, booking_id)
    if booking is None:
        raise NotFound("booking", booking_id)
    if actor is not None and not actor.is_platform_operator:
        resource = session.get(Resource, booking.resource_id)
        if resource is None or resource.org_id != actor.org_id:
            raise NotFound("booking", booking_id)
    return booking


def meter_booking(session: Session, actor: User | None, booking_id: int) -> UsageRecord:
    """Meter one booking (the provider's, or any for a platform operator / ``actor=None``)
    and store or refresh its usage record with the invoice lines, in one transaction."""
    booking = _visible_booking(session, actor, booking_id)
    resource = session.get(Resource, booking.resource_id)
    assert resource is not None
    with transaction(session):
        record, _ = _store_record(session, booking, resource)
    return record


def _store_record(
    session: Session, booking: Booking, resource: Resource
) -> tuple[UsageRecord, list[UsageLine]]:
    """Meter ``booking`` and store or refresh its usage record (caller's transaction)."""
    usage = counter_usage(session, booking.resource_id, booking.start_at, booking.end_at)
    record = session.scalar(select(UsageRecord).where(UsageRecord.booking_id == booking.id))
    terms = resource.lease_terms
    if record is not None and record.lines and billed_transactions(session, [booking.id]):
        # once billed, a booking keeps the unit prices it was billed at (the record was
        # stored with them by the bill): late telemetry is priced like the rest of it
        terms = {"model": "pay_per_use"} | {
            _TERM_KEYS[line["metric"]]: int(line["unit_price_minor"]) for line in record.lines
        }
    lines = invoice_lines(terms, usage)
    if record is None:
        record = UsageRecord(booking_id=booking.id, resource_id=booking.resource_id)
        session.add(record)
    record.order_ref = booking.order_ref
    record.run_seconds = usage.run_seconds
    record.spindle_seconds = usage.spindle_seconds
    record.cycles = usage.cycles
    record.energy_wh = usage.energy_wh
    record.currency = resource.currency
    record.lines = [_line_dict(line, resource.currency) for line in lines]
    record.amount_minor = sum(line.amount_minor for line in lines)
    record.computed_at = utc_now()
    session.flush()
    return record, lines


def resource_usage(
    session: Session, actor: User, resource_id: int, start: datetime, end: datetime
) -> tuple[Usage, list[dict[str, Any]], str]:
    """Usage of the caller's resource over ``[start, end]`` with its priced lines (404 for
    another tenant's resource)."""
    resource = session.get(Resource, resource_id)
    if resource is None or (resource.org_id != actor.org_id and not actor.is_platform_operator):
        raise NotFound("resource", resource_id)
    usage = counter_usage(session, resource_id, start, end)
    lines = invoice_lines(resource.lease_terms, usage)
    return usage, [_line_dict(line, resource.currency) for line in lines], resource.currency


@dataclass(frozen=True, slots=True)
class UsageStatement:
    """Usage and pay-per-use charges of every booking of one order reference."""

    order_ref: str
    records: Sequence[UsageRecord]
    totals_minor: dict[str, int]


def usage_statement(session: Session, actor: User | None, order_ref: str) -> UsageStatement:
    """Meter every non-cancelled booking with ``order_ref`` on the caller's resources (all
    resources for a platform operator, and for the buyer of the marketplace order
    ``order_ref``: the buyer sees what it is billed for) and return the statement; 404 when
    there is none."""
    stmt = (
        select(Booking.id)
        .join(Resource, Resource.id == Booking.resource_id)
        .where(Booking.order_ref == order_ref, Booking.status != "cancelled")
        .order_by(Booking.start_at, Booking.id)
    )
    if actor is not None and not actor.is_platform_operator:
        buyer = session.scalar(select(Order.buyer_org_id).where(Order.ref == order_ref))
        if buyer != actor.org_id:
            stmt = stmt.where(Resource.org_id == actor.org_id)
    booking_ids = list(session.scalars(stmt))
    if not booking_ids:
        raise NotFound("usage statement", "for this order reference")
    records = [meter_booking(session, None, bid) for bid in booking_ids]
    totals: dict[str, int] = {}
    for r in records:
        totals[r.currency] = totals.get(r.currency, 0) + r.amount_minor
    return UsageStatement(order_ref, records, totals)


def ledger_transaction(
    statement: UsageStatement,
    *,
    buyer_org: int,
    provider_org: int,
    platform_fee_bps: int,
    at: datetime | None = None,
) -> Transaction | None:
    """The balanced usage-billing transaction for a single-currency statement (``None`` when
    nothing is billable), not stored: :func:`bill_usage` stores one per
    booking."""
    lines = [
        UsageLine(line["metric"], Decimal(line["quantity"]), int(line["unit_price_minor"]))
        for record in statement.records
        for line in record.lines
    ]
    if not lines or sum(line.amount_minor for line in lines) == 0:
        return None
    currencies = set(statement.totals_minor)
    if len(currencies) != 1:
        raise InvalidInput.single("currency", "bill a multi-currency statement per currency")
    return usage_charge(
        statement.order_ref,
        buyer_org,
        provider_org,
        lines,
        currencies.pop(),
        platform_fee_bps,
        at or utc_now(),
        order_ref=statement.order_ref,
    )


def usage_tx_id(booking_id: int) -> str:
    """Ledger transaction id of the usage bill of booking ``booking_id`` (one per booking;
    late-telemetry adjustments are ``<this id>:late:<n>``)."""
    return f"usage:booking:{booking_id}"


def late_tx_id(booking_id: int, n: int) -> str:
    """Id of the ``n``-th late-telemetry adjustment of booking ``booking_id``'s usage bill."""
    return f"{usage_tx_id(booking_id)}:late:{n}"


def billed_transactions(session: Session, booking_ids: Sequence[int]) -> dict[int, str]:
    """Booking id -> id of the ledger transaction that billed its usage, for billed ones."""
    if not booking_ids:
        return {}
    by_tx = {usage_tx_id(bid): bid for bid in booking_ids}
    stored = session.scalars(
        select(LedgerTransaction.tx_id).where(LedgerTransaction.tx_id.in_(list(by_tx)))
    )
    return {by_tx[tx_id]: tx_id for tx_id in stored}


@dataclass(frozen=True, slots=True)
class Billed:
    """What the ledger holds for one booking's usage: its usage transactions (the bill and
    any late-telemetry adjustments, oldest first), the net amount charged to the buyer and
    the net platform fee taken."""

    transactions: Sequence[LedgerTransaction]
    charged_minor: int
    fee_minor: int


def billed_usage(session: Session, booking_id: int) -> Billed:
    """The usage transactions of ``booking_id`` and their net amounts."""
    base = usage_tx_id(booking_id)
    rows = list(
        session.scalars(
            select(LedgerTransaction)
            .where(
                or_(
                    LedgerTransaction.tx_id == base,
                    LedgerTransaction.tx_id.like(f"{base}:late:%"),
                )
            )
            .options(selectinload(LedgerTransaction.postings).selectinload(LedgerPosting.account))
            .order_by(LedgerTransaction.id)
        )
    )
    charged = fee = 0
    for tx in rows:
        for p in tx.postings:
            if p.account.code == AccountCode.BUYER_WALLET.value:
                charged += p.amount_minor  # debit: the buyer paid
            elif p.account.code == AccountCode.FEE_REVENUE.value:
                fee -= p.amount_minor  # credit: the platform earned
    return Billed(rows, charged, fee)


@dataclass(frozen=True, slots=True)
class UsageBill:
    """The booking's latest usage transaction; ``created`` is False when this call posted
    nothing (already billed and no late telemetry changed the metered amount)."""

    booking_id: int
    transaction: LedgerTransaction
    created: bool


def _wallet_check(
    session: Session, buyer_org: int, currency: str, charge_minor: int, what: str
) -> None:
    """Refuse (409 naming the shortfall) a charge the buyer's wallet cannot cover."""
    held = balance_of(session, buyer_wallet(buyer_org, currency)).amount_minor
    if charge_minor > held:
        short = charge_minor - held
        raise Conflict(
            f"insufficient funds: {what} is {charge_minor} {currency} minor units but the "
            f"wallet of buyer organization {buyer_org} holds {held}: short by {short} "
            f"{currency} minor units; record a deposit (POST /api/v1/ledger/deposits) and "
            "bill again"
        )


def _late_adjustment(
    booking: Booking,
    order: Order,
    resource: Resource,
    lines: Sequence[UsageLine],
    billed: Billed,
    platform_fee_bps: int,
    at: datetime,
) -> Transaction | None:
    """The transaction billing the difference between the metered amount now and what the
    booking's usage transactions charged (``None`` when they agree): Dr the buyer's wallet,
    Cr provider payable and fee revenue, the fee settled so that the booking's total fee is
    the fee of its total charge. Added readings never lower counter-delta usage and a billed
    booking keeps its unit prices, so a lower amount means telemetry was removed: refused
    (409), nothing is credited back automatically."""
    cur = resource.currency
    total = sum(line.amount_minor for line in lines)
    delta = total - billed.charged_minor
    if delta == 0:
        return None
    if delta < 0:
        raise Conflict(
            f"booking {booking.id} now meters {total} {cur} minor units but "
            f"{billed.charged_minor} were billed: telemetry inside the booking was removed "
            "after billing; nothing is credited automatically (a platform operator can "
            "credit the buyer)"
        )
    fee_delta = Money(total, cur).fee_bps(platform_fee_bps).amount_minor - billed.fee_minor
    net_delta = delta - fee_delta
    postings = [Posting(buyer_wallet(order.buyer_org_id, cur), delta, cur)]
    if net_delta:
        postings.append(Posting(provider_payable(resource.org_id, cur), -net_delta, cur))
    if fee_delta:
        postings.append(Posting(fee_revenue(cur), -fee_delta, cur))
    detail = ", ".join(f"{line.quantity} {line.metric}" for line in lines)
    n = len(billed.transactions)
    first = billed.transactions[0].tx_id
    return Transaction(
        late_tx_id(booking.id, n),
        TransactionKind.USAGE,
        tuple(postings),
        f"late telemetry for booking {booking.id} after {first}: metered now {detail} = "
        f"{total}, billed before {billed.charged_minor}, difference {delta:+} {cur} minor units",
        at,
        order_ref=order.ref,
    )


def bill_usage(
    session: Session,
    actor: User | None,
    booking_id: int,
    *,
    platform_fee_bps: int,
    at: datetime | None = None,
) -> UsageBill:
    """Bill the metered usage of one pay-per-use booking: one balanced ledger transaction
    (id :func:`usage_tx_id`) debiting the wallet of the buyer of the order holding the booking
    and crediting the provider's payable (net) and the platform's fee revenue.

    Billing again re-meters the booking. Telemetry that arrived after the bill (a device
    that was offline and sent its buffer later) changes the metered amount; the difference is
    then billed as a new transaction (id :func:`late_tx_id`, memo naming the first bill):
    stored transactions are never edited. When nothing changed, nothing is posted and the
    booking's latest usage transaction is returned (``created=False``). The usage statement
    shows per booking what is billed and what is not yet (``unbilled_minor``).

    Only the resource owner (admin or planner) or a platform operator bills (404 for another
    tenant's booking). Refused with :class:`Conflict` (409), writing nothing, when the
    resource is not leased pay-per-use, the booking is cancelled or belongs to no marketplace
    order, there is no billable usage, or the buyer's wallet cannot cover the charge (the
    message names the shortfall).
    """
    booking = _visible_booking(session, actor, booking_id)
    if actor is not None and not actor.is_platform_operator:
        require_role(actor)
    billed = billed_usage(session, booking.id)
    resource = session.get(Resource, booking.resource_id)
    assert resource is not None
    terms = resource.lease_terms or {}
    # a billed booking keeps the prices it was billed at, whatever the lease says now
    if terms.get("model") != "pay_per_use" and not billed.transactions:
        model = terms.get("model", "none")
        raise Conflict(
            f"resource {resource.id} is not leased pay-per-use (lease model: {model}); "
            "only pay-per-use usage is billed"
        )
    if booking.status == "cancelled" and not billed.transactions:
        raise Conflict(f"booking {booking.id} is cancelled; its usage is not billed")
    order = (
        session.scalar(select(Order).where(Order.ref == booking.order_ref))
        if booking.order_ref
        else None
    )
    if order is None:
        raise Conflict(
            f"booking {booking.id} belongs to no marketplace order "
            f"(order reference: {booking.order_ref or 'none'}); usage is billed to the buyer "
            "of the order holding the booking"
        )
    when = at or utc_now()
    try:
        with transaction(session):
            _, lines = _store_record(session, booking, resource)
            if billed.transactions:
                tx = _late_adjustment(
                    booking, order, resource, lines, billed, platform_fee_bps, when
                )
                if tx is None:
                    return UsageBill(booking.id, billed.transactions[-1], created=False)
                what = f"the late-telemetry charge of booking {booking.id}"
            else:
                if sum(line.amount_minor for line in lines) <= 0:
                    raise Conflict(f"booking {booking.id} has no billable usage (no telemetry)")
                tx = usage_charge(
                    f"booking {booking.id}",
                    order.buyer_org_id,
                    resource.org_id,
                    lines,
                    resource.currency,
                    platform_fee_bps,
                    when,
                    order_ref=order.ref,
                    tx_id=usage_tx_id(booking.id),
                )
                what = f"the usage charge of booking {booking.id}"
            charge = tx.net_for(buyer_wallet(order.buyer_org_id, resource.currency))
            if charge > 0:
                _wallet_check(session, order.buyer_org_id, resource.currency, charge, what)
            try:
                stored = post_transaction(session, tx)
            except Conflict as exc:
                # e.g. a credit back to the buyer after the provider was paid out
                raise Conflict(f"{exc.detail}; {what} cannot be posted") from exc
    except IntegrityError:
        # A concurrent call billed the same booking (or the same adjustment) first.
        session.rollback()
        again = billed_usage(session, booking.id)
        if not again.transactions:
            raise
        return UsageBill(booking.id, again.transactions[-1], created=False)
    return UsageBill(booking.id, stored, created=True)
