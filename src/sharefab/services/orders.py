"""Orders: who sees what, lifecycle transitions and their money.

Visibility: the buyer sees its order whole; a provider sees the order's state and events and
*its own* work orders with its own subtotal only (never the total or another provider's
prices); platform operators see everything. Everyone else gets 404.

Transitions (``POST /orders/{id}/events``) follow :func:`sharefab.domain.orders.transition`
with the caller's role on the order (buyer, provider or operator); an illegal move is a
:class:`~sharefab.services.errors.Conflict` listing the allowed targets, a move that is another
party's (or a provider cancelling an order other providers share) is a
:class:`~sharefab.services.errors.PermissionDenied`; both name who may make it. Side effects,
in the same transaction:

* ``delivered`` releases the escrow (:func:`~sharefab.domain.ledger_flows.release_on_delivery`):
  the platform fee (``Settings.platform_fee_bps``) and each provider's share, weighted by its
  work orders' prices (transport is part of the escrow and goes to the providers pro rata,
  who ship); the system then records ``delivered -> settled``. (So a dispute must be raised
  before delivery is confirmed.)
* ``cancelled`` refunds by :class:`~sharefab.domain.ledger_flows.CancellationPolicy` (full
  before the 72 h notice or when a provider cancels; 90 % later; 50 % in production; from a
  dispute the operator refunds in full) and cancels every booking not yet completed.
* ``disputed -> settled`` (operator) releases the escrow like a delivery.

**Shipping in parts.** An order's *part* for a provider is that provider's work orders of it.
``inspected -> shipped`` by a provider marks *its own part* shipped (an
:class:`~sharefab.storage.market_models.OrderShipment` row with the note, e.g. a tracking
number); the order itself moves to ``shipped`` — one event, one ``order.*`` webhook — only
with the call that ships the last part. So a single-provider order ships at once, as before;
on an order shared by several providers the earlier calls answer ``201`` with the order still
``inspected`` and ``parts_shipped`` counting up. A provider marking its part again is a
:class:`~sharefab.services.errors.Conflict` saying when it shipped and how many parts remain.
A part stays shipped whatever happens next (a failed inspection sending the order back to
production reworks the parts not yet shipped). The buyer (and the operator) sees every part
(``parts``: provider, its work orders, when it shipped and the note); a provider sees only its
own part and the counts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, true, update
from sqlalchemy.orm import Session, selectinload

from sharefab.domain.ledger import escrow_account
from sharefab.domain.ledger_flows import (
    CancellationPolicy,
    ProviderShare,
    refund_on_cancel,
    release_on_delivery,
    settle_dispute,
)
from sharefab.domain.money import Money
from sharefab.domain.orders import (
    ActorRole,
    IllegalTransition,
    NotYourMove,
    OrderState,
    allowed_targets,
)
from sharefab.domain.orders import transition as domain_transition
from sharefab.services.common import Page, transaction
from sharefab.services.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from sharefab.services.ledger import balance_of, post_transaction
from sharefab.services.webhooks import emit_booking_status, emit_order_event
from sharefab.storage.market_models import Order, OrderEvent, OrderShipment, WorkOrder
from sharefab.storage.models import Booking, User
from sharefab.storage.types import utc_now

POLICY = CancellationPolicy()
"""The cancellation policy of every order (see the module doc)."""


def new_order_ref() -> str:
    """A unique, unguessable order reference such as ``ORD-3F9A1C2B7D10``."""
    return "ORD-" + uuid.uuid4().hex[:12].upper()


#: What an order view reads besides the order: work orders, events and shipped parts.
_ORDER_PARTS = (
    selectinload(Order.work_orders),
    selectinload(Order.events),
    selectinload(Order.shipments),
)


def load_order(session: Session, order_id: int, *, lock: bool = False) -> Order | None:
    """Order ``order_id`` with work orders and events (row-locked for update with ``lock``)."""
    stmt = select(Order).where(Order.id == order_id).options(*_ORDER_PARTS)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def role_on(order: Order, actor: User) -> ActorRole:
    """The caller's role on ``order``; :class:`NotFound` when it has none."""
    if actor.is_platform_operator:
        return ActorRole.OPERATOR
    if order.buyer_org_id == actor.org_id:
        return ActorRole.BUYER
    if any(w.provider_org_id == actor.org_id for w in order.work_orders):
        return ActorRole.PROVIDER
    raise NotFound("order", order.id)


def is_sole_provider(order: Order, actor: User) -> bool:
    """Whether the caller's organization is the only provider of ``order``'s work orders."""
    return {w.provider_org_id for w in order.work_orders} == {actor.org_id}


def visible_order(session: Session, actor: User, order_id: int, *, lock: bool = False) -> Order:
    """The order if the caller takes part in it (404 otherwise)."""
    order = load_order(session, order_id, lock=lock)
    if order is None:
        raise NotFound("order", order_id)
    role_on(order, actor)
    return order


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def work_order_view(w: WorkOrder) -> dict[str, Any]:
    """A work order as JSON-ready data."""
    return {
        "id": w.id,
        "provider_org_id": w.provider_org_id,
        "operation": w.position,
        "operation_name": w.operation_name,
        "capability": w.capability,
        "resource_id": w.resource_id,
        "site_id": w.site_id,
        "booking_id": w.booking_id,
        "start_at": _iso(w.start_at),
        "end_at": _iso(w.end_at),
        "quantity": w.quantity,
        "price_minor": w.price_minor,
        "currency": w.currency,
        "progress": w.progress,
    }


#: States in which no part of an order can have shipped yet (the shipments are not read).
_BEFORE_SHIPPING = frozenset({"draft", "quoted", "accepted", "scheduled"})


def shipped_parts(order: Order) -> dict[int, tuple[datetime, str]]:
    """``{provider org: (when, note)}`` of the parts of ``order`` that have shipped.

    An order that moved to ``shipped`` before parts were recorded (no rows) counts every
    part as shipped by that event."""
    if order.state in _BEFORE_SHIPPING:
        return {}
    parts = {s.provider_org_id: (s.at, s.note) for s in order.shipments}
    event = next((e for e in order.events if e.to_state == OrderState.SHIPPED), None)
    if event is not None:
        for w in order.work_orders:
            parts.setdefault(w.provider_org_id, (event.at, event.note))
    return parts


def _parts_view(order: Order, actor: User, full: bool) -> dict[str, Any]:
    providers = sorted({w.provider_org_id for w in order.work_orders})
    shipped = shipped_parts(order)
    parts = []
    for org in providers:
        if not full and org != actor.org_id:
            continue
        at, note = shipped.get(org, (None, ""))
        parts.append(
            {
                "provider_org_id": org,
                "work_order_ids": [w.id for w in order.work_orders if w.provider_org_id == org],
                "shipped": org in shipped,
                "shipped_at": _iso(at),
                "note": note,
            }
        )
    return {
        "parts_total": len(providers),
        "parts_shipped": sum(1 for org in providers if org in shipped),
        "parts": parts,
    }


def order_view(order: Order, actor: User) -> dict[str, Any]:
    """The order as the caller may see it (JSON-ready; see the module doc)."""
    role = role_on(order, actor)
    full = role is not ActorRole.PROVIDER
    works = [w for w in order.work_orders if full or w.provider_org_id == actor.org_id]
    allowed = allowed_targets(order.state, role, sole_provider=is_sole_provider(order, actor))
    mine_shipped = role is ActorRole.PROVIDER and actor.org_id in shipped_parts(order)
    if mine_shipped and OrderState.SHIPPED in allowed:  # nothing more for it to ship
        allowed.remove(OrderState.SHIPPED)
    return {
        "id": order.id,
        "ref": order.ref,
        "state": order.state,
        "your_role": role.value,
        "buyer_org_id": order.buyer_org_id,
        "rfq_id": order.rfq_id,
        "quote_id": order.quote_id if full else None,
        "option_id": order.option_id if full else None,
        "total_minor": order.total_minor if full else None,
        "transport_minor": order.transport_minor if full else None,
        "your_subtotal_minor": sum(w.price_minor for w in works),
        "currency": order.currency,
        "promised_at": _iso(order.promised_at),
        "created_at": _iso(order.created_at),
        "work_orders": [work_order_view(w) for w in works],
        "events": [
            {
                "id": e.id,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "actor_role": e.actor_role,
                "actor_user_id": e.actor_user_id,
                "actor_org_id": e.actor_org_id,
                "at": _iso(e.at),
                "note": e.note,
            }
            for e in order.events
        ],
        **_parts_view(order, actor, full),
        "allowed_transitions": [s.value for s in allowed],
    }


def get_order(session: Session, actor: User, order_id: int) -> dict[str, Any]:
    """The caller's view of order ``order_id``."""
    return order_view(visible_order(session, actor, order_id), actor)


def list_orders(
    session: Session, actor: User, *, limit: int = 50, offset: int = 0
) -> Page[dict[str, Any]]:
    """Orders the caller buys or works on (every order for platform operators), newest first."""
    cond: Any = true()
    if not actor.is_platform_operator:
        mine = select(WorkOrder.order_id).where(WorkOrder.provider_org_id == actor.org_id)
        cond = or_(Order.buyer_org_id == actor.org_id, Order.id.in_(mine))
    count = session.scalar(select(func.count()).select_from(Order).where(cond)) or 0
    rows = session.scalars(
        select(Order)
        .where(cond)
        .options(*_ORDER_PARTS)
        .order_by(Order.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return Page([order_view(o, actor) for o in rows], count)


def record_event(
    session: Session,
    order: Order,
    target: OrderState | str,
    role: ActorRole,
    *,
    actor: User | None,
    note: str = "",
    at: datetime | None = None,
    sole_provider: bool = True,
) -> OrderEvent:
    """Check and append one transition (no side effects; the caller's transaction).
    ``sole_provider=False``: a provider actor shares the order with other providers."""
    current = order.state
    new = domain_transition(current, target, role, sole_provider=sole_provider)
    trail = order.events  # loaded before the new event exists, so it is not listed twice
    event = OrderEvent(
        order_id=order.id,
        from_state=current,
        to_state=new.value,
        actor_role=role.value,
        actor_user_id=actor.id if actor is not None else None,
        actor_org_id=actor.org_id if actor is not None else None,
        at=at or utc_now(),
        note=note,
    )
    trail.append(event)
    session.add(event)
    order.state = new.value
    session.flush()
    emit_order_event(session, order, event)  # webhooks outbox (market-ops), same transaction
    return event


def _shares(order: Order) -> list[ProviderShare]:
    weights: dict[int, int] = {}
    for w in order.work_orders:
        weights[w.provider_org_id] = weights.get(w.provider_org_id, 0) + w.price_minor
    if sum(weights.values()) <= 0:  # free work: split evenly
        weights = dict.fromkeys(weights, 1)
    return [ProviderShare(org, weight) for org, weight in sorted(weights.items())]


def _escrow(session: Session, order: Order) -> Money:
    return balance_of(session, escrow_account(order.ref, order.buyer_org_id, order.currency))


def _release(session: Session, order: Order, fee_bps: int, at: datetime) -> None:
    escrow = _escrow(session, order)
    if escrow.amount_minor > 0:
        tx = release_on_delivery(order.ref, order.buyer_org_id, escrow, _shares(order), fee_bps, at)
        post_transaction(session, tx)


def _cancel_money(
    session: Session, order: Order, state: str, role: ActorRole, at: datetime
) -> None:
    escrow = _escrow(session, order)
    if escrow.amount_minor <= 0:
        return
    if state == OrderState.DISPUTED:
        tx = settle_dispute(order.ref, order.buyer_org_id, escrow, escrow, _shares(order), 0, at)
    else:
        first = min((w.start_at for w in order.work_orders), default=at)
        tx = refund_on_cancel(
            order.ref,
            order.buyer_org_id,
            escrow,
            _shares(order),
            POLICY,
            state,
            role,
            first - at,
            at,
        )
    post_transaction(session, tx)


def set_booking_status(session: Session, order: Order, status: str, *, only: list[int]) -> None:
    """Set ``status`` on the bookings ``only`` of ``order`` (never touching completed ones)."""
    if only:
        session.execute(
            update(Booking)
            .where(
                Booking.id.in_(only),
                Booking.order_ref == order.ref,
                Booking.status.not_in(("completed", "cancelled")),
            )
            .values(status=status)
        )
        emit_booking_status(session, order, only, status)  # webhooks outbox (market-ops)


def _ship_part(session: Session, order: Order, actor: User, note: str, at: datetime) -> bool:
    """Mark the caller's part of ``order`` shipped; whether every part now has (a
    :class:`Conflict` when the caller's part already had)."""
    providers = {w.provider_org_id for w in order.work_orders}
    shipped = shipped_parts(order)
    if actor.org_id in shipped:
        waiting = len(providers - set(shipped))
        why = (
            f"was already marked shipped at {shipped[actor.org_id][0].isoformat()}; the order "
            f"ships when the other {waiting} provider(s) have shipped theirs"
        )
        raise Conflict(
            f"your part of order {order.ref} {why}", [FieldError("to", f"your part {why}")]
        )
    row = OrderShipment(
        order_id=order.id,
        provider_org_id=actor.org_id,
        shipped_by_user_id=actor.id,
        at=at,
        note=note,
    )
    order.shipments.append(row)
    session.add(row)
    session.flush()
    return providers <= {s.provider_org_id for s in order.shipments}


def transition_order(
    session: Session,
    actor: User,
    order_id: int,
    target: str,
    note: str = "",
    *,
    platform_fee_bps: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Move an order (see the module doc for rules and money); returns the caller's view."""
    now = now or utc_now()
    with transaction(session):
        order = visible_order(session, actor, order_id, lock=True)
        role = role_on(order, actor)
        try:
            target_state = OrderState(target)
        except ValueError:
            names = ", ".join(s.value for s in OrderState)
            raise InvalidInput.single(
                "to", f"unknown order state {target!r}; one of {names}"
            ) from None
        before = order.state
        sole = is_sole_provider(order, actor)
        try:
            if target_state is OrderState.SHIPPED and role is ActorRole.PROVIDER:
                domain_transition(before, target_state, role, sole_provider=sole)  # may it?
                if not _ship_part(session, order, actor, note, now):
                    return order_view(order, actor)  # other providers' parts are to come
            record_event(
                session,
                order,
                target_state,
                role,
                actor=actor,
                note=note,
                at=now,
                sole_provider=sole,
            )
        except NotYourMove as exc:  # the move exists but is another party's: 403 naming who
            allowed = ", ".join(s.value for s in exc.allowed) or "none"
            raise PermissionDenied(
                str(exc), [FieldError("to", f"allowed from {before} for {role.value}: {allowed}")]
            ) from None
        except IllegalTransition as exc:
            allowed = ", ".join(s.value for s in exc.allowed) or "none"
            raise Conflict(
                str(exc), [FieldError("to", f"allowed from {before} for {role.value}: {allowed}")]
            ) from None
        if target_state is OrderState.DELIVERED:
            _release(session, order, platform_fee_bps, now)
            record_event(
                session,
                order,
                OrderState.SETTLED,
                ActorRole.SYSTEM,
                actor=None,
                note="escrow released to the providers",
                at=now,
            )
        elif target_state is OrderState.SETTLED and before == OrderState.DISPUTED:
            _release(session, order, platform_fee_bps, now)
        elif target_state is OrderState.CANCELLED:
            _cancel_money(session, order, before, role, now)
            set_booking_status(
                session, order, "cancelled", only=[w.booking_id for w in order.work_orders]
            )
        view = order_view(order, actor)
    return view
