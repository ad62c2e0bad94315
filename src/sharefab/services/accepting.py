"""Accepting a quote option: all bookings, the order, the escrow, in ONE transaction.

:func:`accept_quote`:

1. With an ``Idempotency-Key``, a stored first result of the same organization and key is
   returned as it was (same status and body); the same key with a different request is a 422.
   The key row is written in the accepting transaction, so a concurrent duplicate either sees
   it or fails on the unique ``(org_id, key)`` constraint and then returns the stored result.
   Failed attempts are not stored (they changed nothing, so a retry simply tries again).
2. Another tenant's (or a missing) quote is 404; an option that is not in the quote 422; an
   option already turned into an order 409; a quote past ``valid_until``
   :class:`QuoteExpired` (410).
3. Every lot is re-checked (the resource is still public and a published window still covers
   the lot's start, and its end for non-resumable operations) and booked with
   :func:`sharefab.storage.bookings.insert_booking`. Any conflict rolls the whole transaction
   back (no partial booking), computes a fresh quote for the RFQ in a new transaction and
   raises :class:`SlotTaken` (409) naming it. A lot whose every unit visibly holds an
   overlapping committed booking is refused the same way before the write transaction starts
   (one read per lot, no resource lock, nothing written), which is what most losers of a race
   get; the write transaction re-checks everything for the rest.
4. The order (state ``scheduled`` via ``quoted -> accepted`` by the buyer and
   ``accepted -> scheduled`` by the system, since every slot is booked), one work order per
   lot, and the escrow transaction (buyer payment -> escrow) are written with the bookings.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, distinct, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from sharefab.domain.ledger_flows import escrow_on_accept
from sharefab.domain.money import Money
from sharefab.domain.orders import ActorRole, OrderState
from sharefab.services.capacity import CACHE
from sharefab.services.common import require_role, transaction
from sharefab.services.errors import Conflict, FieldError, InvalidInput, NotFound, ServiceError
from sharefab.services.ledger import post_transaction
from sharefab.services.orders import new_order_ref, order_view, record_event
from sharefab.services.quoting import fresh_quote
from sharefab.storage.bookings import insert_booking, overlap_conditions
from sharefab.storage.errors import BookingConflict
from sharefab.storage.market_models import (
    IdempotencyKey,
    Order,
    Quote,
    QuoteOption,
    Rfq,
    RfqOperation,
    WorkOrder,
)
from sharefab.storage.models import Booking, CalendarWindow, Resource, User
from sharefab.storage.types import utc_now


class QuoteExpired(ServiceError):
    """The quote's validity ended (HTTP 410); ask for a fresh quote."""

    def __init__(self, detail: str, rfq_id: int) -> None:
        super().__init__(detail)
        self.rfq_id = rfq_id


class SlotTaken(Conflict):
    """A slot of the option was taken meanwhile (HTTP 409); ``fresh_quote_id`` offers anew."""

    def __init__(self, detail: str, fresh_quote_id: int, conflicts: list[dict[str, Any]]) -> None:
        super().__init__(detail, [FieldError("option_id", detail)])
        self.fresh_quote_id = fresh_quote_id
        self.conflicts = conflicts


def request_hash(quote_id: int, option_id: int) -> str:
    """Fingerprint of an accept request (to refuse a reused key with another request)."""
    raw = json.dumps({"quote_id": quote_id, "option_id": option_id}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def _stored(session: Session, org_id: int, key: str) -> IdempotencyKey | None:
    return session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.org_id == org_id, IdempotencyKey.key == key)
    )


def _key_exists(with_key: bool) -> Any:
    """SQL: whether the Idempotency-Key ``:key`` is stored for ``:org_id`` (false without a
    key)."""
    if not with_key:
        return literal(False)
    return (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.org_id == bindparam("org_id"), IdempotencyKey.key == bindparam("key"))
        .exists()
    )


#: The first read of an accept (without, with an Idempotency-Key), built once (statements are
#: cached by SQLAlchemy per object, so no statement is rebuilt or re-keyed per request). The
#: RFQ and its routing come along: a loser's fresh quote then finds them in the session.
_ACCEPT_READ = tuple(
    select(
        Quote,
        QuoteOption,
        select(Order.id).where(Order.option_id == bindparam("option_id")).scalar_subquery(),
        _key_exists(with_key),
        Rfq,
    )
    .outerjoin(
        QuoteOption,
        (QuoteOption.id == bindparam("option_id")) & (QuoteOption.quote_id == Quote.id),
    )
    .join(Rfq, Rfq.id == Quote.rfq_id)
    .options(joinedload(Rfq.operations))
    .where(Quote.id == bindparam("quote_id"))
    for with_key in (False, True)
)

_OVERLAP = overlap_conditions(bindparam("rid"), bindparam("start"), bindparam("end"))
#: The pre-check of one lot (see :func:`_booked_meanwhile`), without and with a key.
_PRECHECK = tuple(
    select(
        Resource.capacity,
        select(func.count(distinct(Booking.unit))).where(*_OVERLAP).scalar_subquery(),
        select(func.min(Booking.id)).where(*_OVERLAP).scalar_subquery(),
        _key_exists(with_key),
    ).where(Resource.id == bindparam("rid"))
    for with_key in (False, True)
)


def _replay(row: IdempotencyKey, digest: str) -> tuple[int, dict[str, Any]]:
    if row.request_hash != digest:
        raise InvalidInput.single(
            "Idempotency-Key", "this key was already used for a different request"
        )
    return row.response_status, dict(row.response_body)


def _slot_problem(session: Session, lot: dict[str, Any]) -> str | None:
    """Why ``lot`` can no longer be booked as planned (``None`` when it still can); one query."""
    rid = int(lot["resource_id"])
    start = datetime.fromisoformat(lot["start_at"])
    covered = (
        select(CalendarWindow.id)
        .where(
            CalendarWindow.resource_id == rid,
            CalendarWindow.start_at <= start,
            CalendarWindow.end_at > start,
        )
        .exists()
    )
    row = session.execute(select(Resource.is_public, covered).where(Resource.id == rid)).first()
    if row is None or not row[0]:
        return f"resource {rid} is no longer offered"
    if not row[1]:
        return f"resource {rid} no longer publishes a window at {start.isoformat()}"
    return None


def _booked_meanwhile(
    session: Session, lots: list[dict[str, Any]], org_id: int, key: str | None
) -> _Taken | None:
    """A lot whose every unit already holds a committed, non-cancelled booking overlapping it
    (so booking it must fail), checked before the write transaction: a loser of a race is
    refused without taking the resource's lock. One query per lot; ``None`` when no lot is
    visibly taken (the write transaction still re-checks everything). Whether ``key`` is stored
    for ``org_id`` is read in the same statement: a refusal notes whether a concurrent
    retry with the same Idempotency-Key had already won (its booking and key row commit
    together, so one snapshot sees both or neither)."""
    for lot in lots:
        rid = int(lot["resource_id"])
        start = datetime.fromisoformat(lot["start_at"])
        end = datetime.fromisoformat(lot["end_at"])
        row = session.execute(
            _PRECHECK[key is not None],
            {"rid": rid, "start": start, "end": end, "org_id": org_id, "key": key},
        ).first()
        if row is None:
            continue  # the write transaction reports the missing resource
        capacity, units, first, key_won = row
        if units >= capacity:
            taken = _Taken(
                f"resource {rid} was booked meanwhile for [{start.isoformat()}, {end.isoformat()})",
                [
                    {
                        "resource_id": rid,
                        "booking_id": first,
                        "start_at": lot["start_at"],
                        "end_at": lot["end_at"],
                    }
                ],
            )
            taken.key_checked, taken.key_won = True, bool(key_won)
            return taken
    return None


def accept_quote(
    session: Session,
    actor: User,
    quote_id: int,
    option_id: int,
    *,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> tuple[int, dict[str, Any]]:
    """Turn an option into an order with bookings; ``(HTTP status, order view)``."""
    now = now or utc_now()
    digest = request_hash(quote_id, option_id)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 200:
        raise InvalidInput.single("Idempotency-Key", "must be 1 to 200 characters")
    # One round trip: the quote, the option, an order already made of it, a stored key.
    row = session.execute(
        _ACCEPT_READ[idempotency_key is not None],
        {"quote_id": quote_id, "option_id": option_id, "org_id": actor.org_id,
         "key": idempotency_key},
    ).unique().first()  # fmt: skip
    if idempotency_key is not None and (row is None or row[3]):
        stored = _stored(session, actor.org_id, idempotency_key)
        if stored is not None:
            return _replay(stored, digest)
    quote, option, taken = (row[0], row[1], row[2]) if row is not None else (None, None, None)
    if quote is None or quote.buyer_org_id != actor.org_id:
        raise NotFound("quote", quote_id)
    require_role(actor)
    if option is None:
        raise InvalidInput.single("option_id", f"{option_id} is not an option of quote {quote_id}")
    if taken is not None:
        stored = _stored(session, actor.org_id, idempotency_key) if idempotency_key else None
        if stored is not None:  # a concurrent retry with this key won meanwhile
            return _replay(stored, digest)
        raise Conflict(f"option {option_id} was already accepted as order {taken}")
    if now >= quote.valid_until:
        raise QuoteExpired(
            f"quote {quote_id} expired at {quote.valid_until.isoformat()}; request a fresh "
            f"quote with POST /api/v1/rfqs/{quote.rfq_id}/quotes",
            quote.rfq_id,
        )
    rfq_id = quote.rfq_id
    visibly_taken = _booked_meanwhile(session, option.plan["lots"], actor.org_id, idempotency_key)
    if visibly_taken is None:
        session.rollback()  # end the read transaction; the write transaction starts below
    # else the fresh quote is computed and stored in this same transaction (no round trips
    # to end it and begin another)
    try:
        if visibly_taken is not None:
            raise visibly_taken
        status, body = _book(session, actor, quote_id, option_id, idempotency_key, digest, now)
    except _Taken as taken_exc:
        # a concurrent retry with this key may have won
        if idempotency_key is not None and (taken_exc.key_won or not taken_exc.key_checked):
            stored = _stored(session, actor.org_id, idempotency_key)
            if stored is not None:
                return _replay(stored, digest)
        for c in taken_exc.conflicts:
            if "start_at" in c:
                CACHE.invalidate_unless_busy(
                    int(c["resource_id"]),
                    datetime.fromisoformat(c["start_at"]),
                    datetime.fromisoformat(c["end_at"]),
                )
            else:
                CACHE.invalidate([int(c["resource_id"])])
        fresh_id, fresh_options = fresh_quote(session, rfq_id, now)
        raise SlotTaken(
            f"{taken_exc.reason}; nothing was booked. A fresh quote {fresh_id} with "
            f"{fresh_options} options is ready: GET /api/v1/quotes/{fresh_id}",
            fresh_id,
            taken_exc.conflicts,
        ) from None
    except IntegrityError:
        session.rollback()
        if idempotency_key is not None:
            row = _stored(session, actor.org_id, idempotency_key)
            if row is not None:
                return _replay(row, digest)
        taken = session.scalar(select(Order.id).where(Order.option_id == option_id))
        raise Conflict(f"option {option_id} was already accepted as order {taken}") from None
    return status, body


class _Taken(Exception):
    def __init__(self, reason: str, conflicts: list[dict[str, Any]]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.conflicts = conflicts
        #: Whether the Idempotency-Key was looked up with the refusal, and found stored.
        self.key_checked = False
        self.key_won = False


def _book(
    session: Session,
    actor: User,
    quote_id: int,
    option_id: int,
    key: str | None,
    digest: str,
    now: datetime,
) -> tuple[int, dict[str, Any]]:
    with transaction(session):
        quote = session.get(Quote, quote_id)
        option = session.get(QuoteOption, option_id)
        assert quote is not None and option is not None
        ops = {
            o.position: o
            for o in session.scalars(
                select(RfqOperation).where(RfqOperation.rfq_id == quote.rfq_id)
            )
        }
        ref = new_order_ref()
        order = Order(
            ref=ref,
            buyer_org_id=actor.org_id,
            rfq_id=quote.rfq_id,
            quote_id=quote.id,
            option_id=option.id,
            state=OrderState.QUOTED.value,
            total_minor=option.total_minor,
            transport_minor=option.transport_minor,
            currency=option.currency,
            promised_at=option.delivery_at,
            created_at=now,
        )
        session.add(order)
        session.flush()
        works = order.work_orders  # loaded (empty) now, so new work orders are listed once
        # Book in resource order: every accept locks resource rows in the same order, so two
        # concurrent multi-resource accepts on PostgreSQL wait for each other, never deadlock.
        for lot in sorted(option.plan["lots"], key=_booking_order):
            problem = _slot_problem(session, lot)
            if problem is not None:
                raise _Taken(problem, [{"resource_id": lot["resource_id"], "reason": problem}])
            start = datetime.fromisoformat(lot["start_at"])
            end = datetime.fromisoformat(lot["end_at"])
            try:
                booking = insert_booking(
                    session, int(lot["resource_id"]), start, end, order_ref=ref
                )
            except BookingConflict as exc:
                raise _Taken(
                    f"resource {exc.resource_id} was booked meanwhile for "
                    f"[{start.isoformat()}, {end.isoformat()})",
                    [
                        {
                            "resource_id": exc.resource_id,
                            "booking_id": exc.booking_id,
                            "start_at": lot["start_at"],
                            "end_at": lot["end_at"],
                        }
                    ],
                ) from None
            op = ops[int(lot["operation"])]
            work = WorkOrder(
                order_id=order.id,
                provider_org_id=int(lot["org_id"]),
                rfq_operation_id=op.id,
                position=op.position,
                operation_name=op.name,
                capability=op.capability,
                resource_id=int(lot["resource_id"]),
                site_id=int(lot["site_id"]),
                booking_id=booking.id,
                start_at=start,
                end_at=end,
                quantity=int(lot["quantity"]),
                price_minor=int(lot["price_minor"]),
                currency=option.currency,
            )
            works.append(work)
            session.add(work)
        session.flush()
        record_event(
            session,
            order,
            OrderState.ACCEPTED,
            ActorRole.BUYER,
            actor=actor,
            note=f"option {option.id} ({option.label}) of quote {quote.id}",
            at=now,
        )
        record_event(
            session,
            order,
            OrderState.SCHEDULED,
            ActorRole.SYSTEM,
            actor=None,
            note=f"{len(order.work_orders)} slots booked",
            at=now,
        )
        if option.total_minor > 0:
            post_transaction(
                session,
                escrow_on_accept(
                    ref, actor.org_id, Money(option.total_minor, option.currency), now
                ),
            )
        body = order_view(order, actor)
        if key is not None:
            session.add(
                IdempotencyKey(
                    org_id=actor.org_id,
                    user_id=actor.id,
                    key=key,
                    request_hash=digest,
                    response_status=201,
                    response_body=body,
                    created_at=now,
                )
            )
            session.flush()
    return 201, body


def _booking_order(lot: dict[str, Any]) -> tuple[int, str]:
    """Lots sorted by resource id, then start: the lock order of an accept."""
    return int(lot["resource_id"]), str(lot["start_at"])
