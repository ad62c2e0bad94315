"""Requests for quotation: create with a validated routing, list, read.

Who sees an RFQ: its buyer organization, and the providers it *reached* (every provider that
appears in a quote option computed for it; they need the routing and the drawings to work on
it). Anyone else gets 404. Only the buyer's admins and planners create RFQs. A provider lists
the RFQs that reached it, each with its standing (quoted / won / lost), with
:func:`list_reached_rfqs`.

Routing rules: at least one operation; every capability is a known taxonomy code and its
attribute values are valid requests for it; ``quantity >= 1``; ``after`` (positions of the
operations it waits for) may only name earlier operations, so the routing is always a DAG;
when ``after`` is omitted the operation follows the previous one (a chain).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, joinedload, selectinload

from sharefab.domain.geo import validate_point
from sharefab.domain.taxonomy import UnknownCapability
from sharefab.services.common import Page, require_role, transaction
from sharefab.services.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from sharefab.services.resources import taxonomy
from sharefab.storage.market_models import (
    Order,
    Quote,
    QuoteOption,
    Rfq,
    RfqOperation,
    WorkOrder,
)
from sharefab.storage.models import Organization, Site, User
from sharefab.storage.types import utc_now

#: The earliest due date accepted: some time must be left to make anything.
MIN_DUE_AHEAD = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class OperationInput:
    """One routing step as the buyer describes it."""

    capability: str
    quantity: int
    unit_minutes: float
    name: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    setup_minutes: int = 0
    resumable: bool = False
    after: Sequence[int] | None = None


@dataclass(frozen=True, slots=True)
class RfqInput:
    """A new RFQ."""

    operations: Sequence[OperationInput]
    due_at: datetime
    title: str = ""
    budget_minor: int | None = None
    currency: str = "CNY"
    delivery_site_id: int | None = None
    delivery_lat: float | None = None
    delivery_lon: float | None = None
    min_provider_credit: int | None = None
    allow_split: bool = True
    allow_lots: bool = False


def _check_operations(ops: Sequence[OperationInput]) -> list[FieldError]:
    tax = taxonomy()
    errors: list[FieldError] = []
    if not ops:
        errors.append(FieldError("operations", "at least one operation is required"))
    for i, op in enumerate(ops):
        where = f"operations[{i}]"
        try:
            tax.get(op.capability)
            issues = tax.validate_request_attributes(op.capability, op.attributes)
            errors += [FieldError(f"{where}.attributes.{x.field}", x.message) for x in issues]
        except UnknownCapability as exc:
            errors.append(FieldError(f"{where}.capability", str(exc)))
        if op.quantity < 1:
            errors.append(FieldError(f"{where}.quantity", "must be at least 1"))
        if not op.unit_minutes >= 0:
            errors.append(FieldError(f"{where}.unit_minutes", "must be >= 0"))
        if op.setup_minutes < 0:
            errors.append(FieldError(f"{where}.setup_minutes", "must be >= 0"))
        positive = op.quantity >= 1 and op.unit_minutes >= 0 and op.setup_minutes >= 0
        if positive and op.setup_minutes + op.quantity * op.unit_minutes <= 0:
            errors.append(FieldError(f"{where}.unit_minutes", "the operation takes no time"))
        for a in op.after or ():
            if not 0 <= a < i:
                errors.append(
                    FieldError(f"{where}.after", f"{a} is not an earlier operation (0..{i - 1})")
                )
    return errors


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidInput.of(errors)


def require_buyer_org(session: Session, actor: User) -> None:
    """403 unless the caller's organization has the buyer role: RFQs are posted by buyers (an
    organization may be both); a provider-only one is scored and listed as a provider only."""
    org = session.get(Organization, actor.org_id)
    roles = sorted(org.roles or []) if org is not None else []
    if "buyer" not in roles:
        raise PermissionDenied(
            "only organizations with the buyer role may post RFQs; yours has: "
            + (", ".join(roles) or "no role")
        )


def create_rfq(session: Session, actor: User, data: RfqInput) -> Rfq:
    """Validate and store an RFQ of the caller's organization (422 naming each bad field;
    403 when the organization is not a buyer)."""
    require_role(actor)
    require_buyer_org(session, actor)
    errors = _check_operations(data.operations)
    now = utc_now()
    if data.due_at.tzinfo is None:
        errors.append(FieldError("due_at", "give a time zone (e.g. Z for UTC)"))
    elif data.due_at < now + MIN_DUE_AHEAD:
        errors.append(
            FieldError("due_at", f"{data.due_at.isoformat()} is in the past or less than 1 h ahead")
        )
    if data.budget_minor is not None and data.budget_minor < 0:
        errors.append(FieldError("budget_minor", "must be >= 0"))
    if len(data.currency) != 3 or not data.currency.isalpha():
        errors.append(FieldError("currency", "must be a 3-letter ISO 4217 code"))
    if data.min_provider_credit is not None and not 0 <= data.min_provider_credit <= 1000:
        errors.append(FieldError("min_provider_credit", "must be between 0 and 1000"))
    if (data.delivery_lat is None) != (data.delivery_lon is None):
        errors.append(FieldError("delivery_lat", "give both delivery_lat and delivery_lon"))
    elif data.delivery_lat is not None and data.delivery_lon is not None:
        try:
            validate_point(data.delivery_lat, data.delivery_lon)
        except ValueError as exc:
            errors.append(FieldError("delivery_lat", str(exc)))
    lat, lon = data.delivery_lat, data.delivery_lon
    if data.delivery_site_id is not None:
        site = session.get(Site, data.delivery_site_id)
        if site is None or site.org_id != actor.org_id:
            errors.append(FieldError("delivery_site_id", "not one of your sites"))
        elif lat is None:
            lat, lon = site.lat, site.lon
    _raise(errors)
    with transaction(session):
        rfq = Rfq(
            buyer_org_id=actor.org_id,
            created_by=actor.id,
            title=data.title,
            due_at=data.due_at,
            budget_minor=data.budget_minor,
            currency=data.currency.upper(),
            delivery_site_id=data.delivery_site_id,
            delivery_lat=lat,
            delivery_lon=lon,
            min_provider_credit=data.min_provider_credit,
            allow_split=data.allow_split,
            allow_lots=data.allow_lots,
        )
        for i, op in enumerate(data.operations):
            after = list(op.after) if op.after is not None else ([i - 1] if i else [])
            rfq.operations.append(
                RfqOperation(
                    position=i,
                    name=op.name or op.capability.rsplit(".", 1)[-1],
                    capability=op.capability,
                    attributes=dict(op.attributes),
                    quantity=op.quantity,
                    unit_minutes=float(op.unit_minutes),
                    setup_minutes=op.setup_minutes,
                    resumable=op.resumable,
                    after=sorted(set(after)),
                )
            )
        session.add(rfq)
        session.flush()
    return rfq


def load_rfq(session: Session, rfq_id: int) -> Rfq | None:
    """RFQ ``rfq_id`` with its operations (one query), or ``None``."""
    return session.get(Rfq, rfq_id, options=[joinedload(Rfq.operations)])


def visible_rfq(session: Session, actor: User, rfq_id: int) -> Rfq:
    """The RFQ if the caller is its buyer or a provider it reached; 404 otherwise."""
    rfq = load_rfq(session, rfq_id)
    if rfq is None:
        raise NotFound("rfq", rfq_id)
    if rfq.buyer_org_id != actor.org_id and not is_reached(session, actor.org_id, rfq_id):
        raise NotFound("rfq", rfq_id)
    return rfq


def own_rfq(session: Session, actor: User, rfq_id: int) -> Rfq:
    """The caller's own RFQ (404 for any other)."""
    rfq = load_rfq(session, rfq_id)
    if rfq is None or rfq.buyer_org_id != actor.org_id:
        raise NotFound("rfq", rfq_id)
    return rfq


def list_rfqs(session: Session, actor: User, *, limit: int = 50, offset: int = 0) -> Page[Rfq]:
    """The caller's own RFQs, newest first."""
    return _rfq_page(session, Rfq.buyer_org_id == actor.org_id, limit, offset)


def _rfq_page(
    session: Session, condition: ColumnElement[bool], limit: int, offset: int
) -> Page[Rfq]:
    """The RFQs matching ``condition`` (with their routing), newest first, one page of them,
    and how many match in all."""
    count = session.scalar(select(func.count()).select_from(Rfq).where(condition)) or 0
    rows = session.scalars(
        select(Rfq)
        .where(condition)
        .options(selectinload(Rfq.operations))
        .order_by(Rfq.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return Page(rows, count)


def _names_provider(session: Session, org_id: int) -> ColumnElement[bool]:
    """SQL: ``quote_options.provider_org_ids`` (a JSON array of ids) holds ``org_id``.

    PostgreSQL: JSONB containment ``@> '[org_id]'`` (served by the GIN index
    ``ix_quote_options_provider_org_ids``); SQLite: ``EXISTS`` over ``json_each`` of the array.
    """
    if session.get_bind(mapper=QuoteOption).dialect.name == "postgresql":
        return type_coerce(QuoteOption.provider_org_ids, JSONB).contains([org_id])
    members = func.json_each(QuoteOption.provider_org_ids).table_valued("value")
    return select(members.c.value).where(members.c.value == org_id).exists()


def reached_rfq_ids(session: Session, org_id: int) -> Any:
    """SQL subquery: ids of the RFQs with a quote option naming provider ``org_id``."""
    return (
        select(Quote.rfq_id)
        .join(QuoteOption, QuoteOption.quote_id == Quote.id)
        .where(_names_provider(session, org_id))
    )


def is_reached(session: Session, org_id: int, rfq_id: int) -> bool:
    """Whether RFQ ``rfq_id`` reached provider ``org_id`` (the listing's rule, in SQL)."""
    found = reached_rfq_ids(session, org_id).where(Quote.rfq_id == rfq_id).exists()
    return bool(session.scalar(select(found)))


ProviderStanding = Literal["quoted", "won", "lost"]


@dataclass(frozen=True, slots=True)
class ReachedRfq:
    """An RFQ that reached the caller as a provider, and where the caller stands on it.

    ``status``:

    * ``won`` — an order of this RFQ has work orders of the caller's organization;
      ``order_id`` and ``order_state`` name the newest such order (even if it was cancelled
      later: the state says so), ``share_minor`` is the sum of the caller's work orders'
      prices in it, in ``currency``;
    * ``lost`` — the buyer ordered without the caller: an order of this RFQ that is not
      cancelled has none of its work (that order is another party's; nothing of it is given);
    * ``quoted`` — otherwise: no order yet (or only cancelled ones without the caller), so
      the buyer may still accept an option naming the caller.
    """

    rfq: Rfq
    status: ProviderStanding
    order_id: int | None = None
    order_state: str | None = None
    share_minor: int | None = None
    currency: str | None = None


def _standings(session: Session, org_id: int, rfqs: Sequence[Rfq]) -> list[ReachedRfq]:
    """Each RFQ's :class:`ReachedRfq` for provider ``org_id`` (two queries for the page)."""
    if not rfqs:
        return []
    ids = [r.id for r in rfqs]
    orders = session.execute(
        select(Order.id, Order.rfq_id, Order.state, Order.currency)
        .where(Order.rfq_id.in_(ids))
        .order_by(Order.id.desc())
    ).all()
    shares: dict[int, int] = {}
    if orders:
        shares = {
            order_id: int(total)
            for order_id, total in session.execute(
                select(WorkOrder.order_id, func.sum(WorkOrder.price_minor))
                .where(WorkOrder.order_id.in_([o.id for o in orders]))
                .where(WorkOrder.provider_org_id == org_id)
                .group_by(WorkOrder.order_id)
            )
        }
    out = []
    for rfq in rfqs:
        of_rfq = [o for o in orders if o.rfq_id == rfq.id]  # newest first
        won = next((o for o in of_rfq if o.id in shares), None)
        if won is not None:
            out.append(ReachedRfq(rfq, "won", won.id, won.state, shares[won.id], won.currency))
        elif any(o.state != "cancelled" for o in of_rfq):
            out.append(ReachedRfq(rfq, "lost"))
        else:
            out.append(ReachedRfq(rfq, "quoted"))
    return out


def standing_on(session: Session, actor: User, rfq: Rfq) -> ReachedRfq:
    """Where the caller's organization stands, as a provider, on ``rfq`` (see
    :class:`ReachedRfq`); the caller is assumed to be reached (:func:`visible_rfq`)."""
    return _standings(session, actor.org_id, [rfq])[0]


def list_reached_rfqs(
    session: Session, actor: User, *, limit: int = 50, offset: int = 0
) -> Page[ReachedRfq]:
    """RFQs that reached the caller's organization as a provider (a quote option computed
    for them names it), newest first, each with the caller's standing (see
    :class:`ReachedRfq`). Filtered, counted and paged in SQL; the standings of one page take
    two more queries. An organization that is both buyer and provider sees its own RFQ here
    only when one of its quotes named its own resources."""
    page = _rfq_page(session, Rfq.id.in_(reached_rfq_ids(session, actor.org_id)), limit, offset)
    return Page(_standings(session, actor.org_id, page.data), page.count)
