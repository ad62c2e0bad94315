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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sharefab.domain.ledger import Transaction
from sharefab.domain.ledger_flows import UsageLine, usage_charge, usage_lines_from_terms
from sharefab.services.common import require_role, transaction
from sharefab.services.errors import Conflict, InvalidInput, NotFound
from sharefab.services.ledger import post_transaction
from sharefab.storage.market_models import LedgerTransaction, Order
from sharefab.storage.models import Booking, Resource, User
from sharefab.storage.telemetry_models import Telemetry, UsageRecord
from sharefab.storage.types import utc_now

METRIC_UNITS = {"run_hours": "h", "cycles": "cycle", "kwh": "kWh"}


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
    lines = invoice_lines(resource.lease_terms, usage)
    record = session.scalar(select(UsageRecord).where(UsageRecord.booking_id == booking.id))
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
    resources for a platform operator) and return the statement; 404 when there is none."""
    stmt = (
        select(Booking.id)
        .join(Resource, Resource.id == Booking.resource_id)
        .where(Booking.order_ref == order_ref, Booking.status != "cancelled")
        .order_by(Booking.start_at, Booking.id)
    )
    if actor is not None and not actor.is_platform_operator:
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
    """Ledger transaction id of the usage bill of booking ``booking_id`` (one per booking)."""
    return f"usage:booking:{booking_id}"


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
class UsageBill:
    """The stored usage transaction of a booking; ``created`` is False when it already was."""

    booking_id: int
    transaction: LedgerTransaction
    created: bool


def _existing_bill(session: Session, booking_id: int) -> LedgerTransaction | None:
    return session.scalar(
        select(LedgerTransaction).where(LedgerTransaction.tx_id == usage_tx_id(booking_id))
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

    Only the resource owner (admin or planner) or a platform operator bills (404 for another
    tenant's booking). Idempotent: a booking already billed returns its stored transaction and
    posts nothing. Refused with :class:`Conflict` (409), writing nothing, when the resource is
    not leased pay-per-use, the booking is cancelled or belongs to no marketplace order, there
    is no billable usage, or the buyer's wallet cannot cover the charge.
    """
    booking = _visible_booking(session, actor, booking_id)
    if actor is not None and not actor.is_platform_operator:
        require_role(actor)
    existing = _existing_bill(session, booking.id)
    if existing is not None:
        return UsageBill(booking.id, existing, created=False)
    resource = session.get(Resource, booking.resource_id)
    assert resource is not None
    terms = resource.lease_terms or {}
    if terms.get("model") != "pay_per_use":
        model = terms.get("model", "none")
        raise Conflict(
            f"resource {resource.id} is not leased pay-per-use (lease model: {model}); "
            "only pay-per-use usage is billed"
        )
    if booking.status == "cancelled":
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
    try:
        with transaction(session):
            _, lines = _store_record(session, booking, resource)
            if sum(line.amount_minor for line in lines) <= 0:
                raise Conflict(f"booking {booking.id} has no billable usage (no telemetry)")
            tx = usage_charge(
                f"booking {booking.id}",
                order.buyer_org_id,
                resource.org_id,
                lines,
                resource.currency,
                platform_fee_bps,
                at or utc_now(),
                order_ref=order.ref,
                tx_id=usage_tx_id(booking.id),
            )
            try:
                stored = post_transaction(session, tx)
            except Conflict as exc:
                raise Conflict(
                    f"{exc.detail}: the buyer's wallet cannot cover the usage charge "
                    f"{tx.postings[0].amount_minor} {resource.currency} minor units"
                ) from exc
    except IntegrityError:
        # A concurrent call billed the same booking first (unique transaction id).
        existing = _existing_bill(session, booking.id)
        if existing is None:
            raise
        return UsageBill(booking.id, existing, created=False)
    return UsageBill(booking.id, stored, created=True)
