"""Outgoing webhooks: an organization's subscriptions, and events written to the outbox.

**Transactional outbox.** :func:`emit` adds one :class:`WebhookDelivery` row per matching
active subscription *to the caller's session*, so the event is stored if and only if the
change it reports commits. The dispatcher (:func:`dispatch_due`, :class:`WebhookDispatcher`,
both from :mod:`sharefab.services.webhook_delivery`) delivers due rows later, signed, retrying
with exponential backoff. Receivers therefore get each event *at least once*; the
``X-ShareFab-Delivery`` header carries the delivery id to deduplicate on.

Events (``EVENT_TYPES``) and who receives them:

* ``order.accepted``, ``order.state_changed``: the buyer and every provider of the order;
* ``work_order.created``: the provider of the work order;
* ``booking.created``, ``booking.cancelled``, ``booking.rescheduled``: the organization that
  owns the booked resource (:func:`emit_booking`);
* ``inspection.recorded``: the buyer and the providers of the order;
* ``webhook.test``: only the subscription it was sent to (``POST /webhooks/{id}/test``).

Managing subscriptions needs an organization admin; any member may list them and their
deliveries. The signing secret is returned once, when the subscription is created.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharefab.services.common import Page, transaction
from sharefab.services.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from sharefab.services.webhook_targets import (
    RefusedTarget,
    TargetPolicy,
    check_target,
    split_url,
)
from sharefab.storage.models import Booking, Resource, User
from sharefab.storage.types import utc_now
from sharefab.storage.webhook_models import WebhookDelivery, WebhookSubscription

EVENT_TYPES: tuple[str, ...] = (
    "order.accepted",
    "order.state_changed",
    "work_order.created",
    "booking.created",
    "booking.cancelled",
    "booking.rescheduled",
    "inspection.recorded",
)
TEST_EVENT = "webhook.test"
ALL_EVENTS = "*"
#: Subscriptions one organization may hold.
MAX_SUBSCRIPTIONS_PER_ORG = 25
SECRET_PREFIX = "whsec_"


def jsonable(value: Any) -> Any:
    """``value`` with datetimes, dates, decimals, enums and dataclasses made JSON-friendly."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# -- the outbox -------------------------------------------------------------------------------


def emit(
    session: Session, org_id: int, event_type: str, payload: dict[str, Any]
) -> list[WebhookDelivery]:
    """Queue ``event_type`` with ``payload`` for every active subscription of ``org_id`` that
    wants it, in the caller's transaction (nothing is sent now). Returns the new rows."""
    if event_type not in EVENT_TYPES and event_type != TEST_EVENT:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    subscriptions = session.scalars(
        select(WebhookSubscription).where(
            WebhookSubscription.org_id == org_id, WebhookSubscription.active.is_(True)
        )
    ).all()
    data = jsonable(payload)
    now = utc_now()
    rows = [
        WebhookDelivery(
            subscription_id=sub.id,
            event_type=event_type,
            payload=data,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for sub in subscriptions
        if sub.wants(event_type)
    ]
    session.add_all(rows)
    return rows


def emit_to(
    session: Session, org_ids: Iterable[int], event_type: str, payload: dict[str, Any]
) -> list[WebhookDelivery]:
    """:func:`emit` to each distinct organization of ``org_ids`` (e.g. buyer and providers)."""
    rows: list[WebhookDelivery] = []
    for org_id in sorted(set(org_ids)):
        rows.extend(emit(session, org_id, event_type, payload))
    return rows


def booking_payload(booking: Booking) -> dict[str, Any]:
    """The ``data`` of a booking event."""
    return {
        "booking_id": booking.id,
        "resource_id": booking.resource_id,
        "unit": booking.unit,
        "start_at": booking.start_at,
        "end_at": booking.end_at,
        "status": booking.status,
        "order_ref": booking.order_ref,
    }


def emit_booking(
    session: Session, booking: Booking, event_type: str, **extra: Any
) -> list[WebhookDelivery]:
    """Queue a booking event for the organization owning the booked resource (flushes first
    so a new booking has its id)."""
    session.flush()
    owner = session.scalar(select(Resource.org_id).where(Resource.id == booking.resource_id))
    if owner is None:
        return []
    return emit(session, owner, event_type, {**booking_payload(booking), **extra})


def _subscriptions_by_org(
    session: Session, org_ids: Iterable[int]
) -> dict[int, list[WebhookSubscription]]:
    """Active subscriptions of ``org_ids`` in one query."""
    wanted = sorted(set(org_ids))
    out: dict[int, list[WebhookSubscription]] = {}
    if not wanted:
        return out
    for sub in session.scalars(
        select(WebhookSubscription).where(
            WebhookSubscription.org_id.in_(wanted), WebhookSubscription.active.is_(True)
        )
    ):
        out.setdefault(sub.org_id, []).append(sub)
    return out


def _queue(
    session: Session,
    subs: dict[int, list[WebhookSubscription]],
    org_id: int,
    event_type: str,
    payload: dict[str, Any],
) -> list[WebhookDelivery]:
    now = utc_now()
    rows = [
        WebhookDelivery(
            subscription_id=sub.id,
            event_type=event_type,
            payload=jsonable(payload),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        for sub in subs.get(org_id, [])
        if sub.wants(event_type)
    ]
    session.add_all(rows)
    return rows


def work_order_payload(work: Any, order_ref: str) -> dict[str, Any]:
    """The ``data`` of a ``work_order.created`` event (the provider's own part only)."""
    fields = (
        "id", "order_id", "position", "operation_name", "capability", "resource_id", "site_id",
        "booking_id", "start_at", "end_at", "quantity", "price_minor", "currency", "progress",
    )  # fmt: skip
    data = {name: getattr(work, name) for name in fields}
    data["work_order_id"] = data.pop("id")
    return {**data, "order_ref": order_ref}


def emit_order_event(session: Session, order: Any, event: Any) -> list[WebhookDelivery]:
    """Queue the webhooks of one order transition (called by
    :func:`sharefab.services.orders.record_event` in the same transaction).

    Every transition sends ``order.state_changed`` (and ``order.accepted`` on acceptance) to
    the buyer and every provider of the order; acceptance also sends each provider
    ``work_order.created`` and ``booking.created`` for its own work orders only. Costs one
    query when nobody involved has subscribed.
    """
    works = list(order.work_orders)
    subs = _subscriptions_by_org(session, {order.buyer_org_id, *(w.provider_org_id for w in works)})
    if not subs:
        return []
    payload = {
        "order_id": order.id,
        "order_ref": order.ref,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "actor_role": event.actor_role,
        "at": event.at,
        "note": event.note,
        "promised_at": order.promised_at,
    }
    parties = sorted({order.buyer_org_id, *(w.provider_org_id for w in works)})
    rows: list[WebhookDelivery] = []
    for org_id in parties:
        if event.to_state == "accepted":
            rows += _queue(session, subs, org_id, "order.accepted", payload)
        rows += _queue(session, subs, org_id, "order.state_changed", payload)
    if event.to_state == "accepted":
        for work in works:
            rows += _queue(
                session, subs, work.provider_org_id, "work_order.created",
                work_order_payload(work, order.ref),
            )  # fmt: skip
            booking = session.get(Booking, work.booking_id)
            if booking is not None:
                rows += _queue(
                    session, subs, work.provider_org_id, "booking.created",
                    {**booking_payload(booking), "work_order_id": work.id},
                )  # fmt: skip
    return rows


def emit_booking_status(
    session: Session, order: Any, booking_ids: Sequence[int], status: str
) -> list[WebhookDelivery]:
    """Queue ``booking.cancelled`` for the order's bookings ``booking_ids`` when ``status`` is
    ``cancelled`` (called by :func:`sharefab.services.orders.set_booking_status`)."""
    if status != "cancelled" or not booking_ids:
        return []
    owner = {w.booking_id: w.provider_org_id for w in order.work_orders}
    subs = _subscriptions_by_org(session, {owner[b] for b in booking_ids if b in owner})
    if not subs:
        return []
    rows: list[WebhookDelivery] = []
    fresh = (
        select(Booking)
        .where(Booking.id.in_(list(booking_ids)))
        .execution_options(populate_existing=True)
    )
    for booking in session.scalars(fresh):
        if booking.status == "cancelled" and booking.id in owner:
            rows += _queue(
                session, subs, owner[booking.id], "booking.cancelled", booking_payload(booking)
            )
    return rows


# -- subscriptions ----------------------------------------------------------------------------


def _require_admin(actor: User) -> None:
    if actor.role != "admin":
        raise PermissionDenied("only an organization admin may manage webhooks")


def _check_url(url: str, targets: TargetPolicy) -> str:
    url = url.strip()
    if len(url) > 2000:
        raise InvalidInput.single("url", "must be at most 2000 characters")
    if any(ord(c) < 33 or c == "\x7f" for c in url):
        raise InvalidInput.single("url", "must not contain spaces or control characters")
    try:
        split_url(url)
        parts = urlsplit(url)
        if parts.username or parts.password:
            raise InvalidInput.single("url", "must not contain credentials; use the signature")
        check_target(url, targets)
    except RefusedTarget as exc:
        raise InvalidInput.single("url", str(exc)) from exc
    return url


def _check_event_types(event_types: Sequence[str]) -> list[str]:
    if not event_types:
        raise InvalidInput.single("event_types", "name at least one event type, or '*'")
    known = ", ".join((*EVENT_TYPES, ALL_EVENTS))
    errors = [
        FieldError(f"event_types[{i}]", f"unknown event type {name!r}; known: {known}")
        for i, name in enumerate(event_types)
        if name not in EVENT_TYPES and name != ALL_EVENTS
    ]
    if errors:
        raise InvalidInput.of(errors)
    return sorted(set(event_types))


def create_subscription(
    session: Session,
    actor: User,
    *,
    url: str,
    event_types: Sequence[str],
    description: str = "",
    targets: TargetPolicy | None = None,
) -> WebhookSubscription:
    """A new active subscription of the caller's organization with a fresh signing secret.

    ``targets`` decides whether private destinations are allowed (default: from the process
    settings); see :mod:`sharefab.services.webhook_targets`."""
    _require_admin(actor)
    clean_url = _check_url(url, targets or TargetPolicy.from_settings())
    types = _check_event_types(event_types)
    with transaction(session):
        held = session.scalar(
            select(func.count())
            .select_from(WebhookSubscription)
            .where(WebhookSubscription.org_id == actor.org_id)
        )
        if (held or 0) >= MAX_SUBSCRIPTIONS_PER_ORG:
            raise InvalidInput.single(
                "url", f"an organization may hold at most {MAX_SUBSCRIPTIONS_PER_ORG} webhooks"
            )
        sub = WebhookSubscription(
            org_id=actor.org_id,
            url=clean_url,
            secret=SECRET_PREFIX + secrets.token_urlsafe(32),
            event_types=types,
            description=description,
            active=True,
            created_at=utc_now(),
        )
        session.add(sub)
        session.flush()
    return sub


def own_subscription(session: Session, actor: User, subscription_id: int) -> WebhookSubscription:
    """The caller's subscription; 404 when missing or another organization's."""
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is None or sub.org_id != actor.org_id:
        raise NotFound("webhook", subscription_id)
    return sub


def list_subscriptions(
    session: Session, actor: User, *, limit: int, offset: int
) -> Page[WebhookSubscription]:
    """The caller's organization's subscriptions, oldest first."""
    where = WebhookSubscription.org_id == actor.org_id
    count = session.scalar(select(func.count()).select_from(WebhookSubscription).where(where))
    rows = session.scalars(
        select(WebhookSubscription)
        .where(where)
        .order_by(WebhookSubscription.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return Page(rows, count or 0)


def delete_subscription(session: Session, actor: User, subscription_id: int) -> None:
    """Delete the caller's subscription and its delivery history."""
    sub = own_subscription(session, actor, subscription_id)
    _require_admin(actor)
    with transaction(session):
        session.delete(sub)


def list_deliveries(
    session: Session,
    actor: User,
    subscription_id: int,
    *,
    status: str | None = None,
    limit: int,
    offset: int,
) -> Page[WebhookDelivery]:
    """Deliveries of the caller's subscription, newest first (optionally one ``status``)."""
    sub = own_subscription(session, actor, subscription_id)
    conditions = [WebhookDelivery.subscription_id == sub.id]
    if status is not None:
        conditions.append(WebhookDelivery.status == status)
    count = session.scalar(select(func.count()).select_from(WebhookDelivery).where(*conditions))
    rows = session.scalars(
        select(WebhookDelivery)
        .where(*conditions)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return Page(rows, count or 0)


def send_test(session: Session, actor: User, subscription_id: int) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this subscription only (delivered by the
    dispatcher like any other event)."""
    sub = own_subscription(session, actor, subscription_id)
    _require_admin(actor)
    now = utc_now()
    with transaction(session):
        row = WebhookDelivery(
            subscription_id=sub.id,
            event_type=TEST_EVENT,
            payload={"subscription_id": sub.id, "message": "test event from ShareFab"},
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(row)
        session.flush()
    return row


# Re-exported so callers find the whole feature here.
from sharefab.services.webhook_delivery import (  # noqa: E402
    RetryPolicy,
    WebhookDispatcher,
    dispatch_due,
    sign,
    verify_signature,
)

__all__ = [
    "ALL_EVENTS",
    "EVENT_TYPES",
    "TEST_EVENT",
    "RetryPolicy",
    "WebhookDispatcher",
    "booking_payload",
    "create_subscription",
    "delete_subscription",
    "dispatch_due",
    "emit",
    "emit_booking",
    "emit_booking_status",
    "emit_order_event",
    "emit_to",
    "list_deliveries",
    "list_subscriptions",
    "own_subscription",
    "send_test",
    "sign",
    "verify_signature",
]
