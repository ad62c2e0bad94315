"""Work on an order: provider progress, inspection records and the buyer's rating.

* **Progress** — a provider reports ``pending -> started -> done`` on its *own* work orders
  while the order is scheduled, in production or inspected
  (:func:`sharefab.domain.order_execution.report_progress`); the booking follows
  (``in_progress``, ``completed``) and the first start moves a scheduled order to
  ``in_production`` (system event).
* **Inspections** — recorded by a provider of the order (for its own work order, or the whole
  order) or the platform operator; the verdict comes from
  :class:`~sharefab.domain.order_execution.InspectionRecord` (limits, measurements, defects,
  the inspector's own call). A pass moves an order in production whose work orders are all
  done to ``inspected``; a fail moves an inspected order back to ``in_production`` (rework).
  An optional report file (base64) is kept with its content type and SHA-256.
* **Rating** — the buyer rates a delivered (or settled) order once, 1-5 stars.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sharefab.domain.credit import check_can_rate
from sharefab.domain.order_execution import (
    Defect,
    InspectionRecord,
    Measurement,
    OperationStatus,
    SpecLimit,
    report_progress,
    rollup_order_state,
)
from sharefab.domain.orders import ActorRole, OrderState
from sharefab.services.common import transaction
from sharefab.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sharefab.services.orders import (
    order_view,
    record_event,
    role_on,
    set_booking_status,
    visible_order,
)
from sharefab.storage.market_models import Inspection, Rating
from sharefab.storage.models import User
from sharefab.storage.types import utc_now

_BOOKING_OF_PROGRESS = {"started": "in_progress", "done": "completed"}


def report_operation_progress(
    session: Session, actor: User, order_id: int, work_order_id: int, to: str
) -> dict[str, Any]:
    """Apply a provider's progress report to its own work order; returns the caller's view."""
    with transaction(session):
        order = visible_order(session, actor, order_id, lock=True)
        work = next((w for w in order.work_orders if w.id == work_order_id), None)
        if work is None or (
            not actor.is_platform_operator and work.provider_org_id != actor.org_id
        ):
            raise NotFound("work order", work_order_id)
        status = OperationStatus(work.id, work.provider_org_id, work.progress)
        try:
            new = report_progress(status, work.provider_org_id, to, order.state)
        except ValueError as exc:
            raise Conflict(str(exc)) from None
        work.progress = new.progress.value
        set_booking_status(
            session, order, _BOOKING_OF_PROGRESS[work.progress], only=[work.booking_id]
        )
        statuses = [OperationStatus(w.id, w.provider_org_id, w.progress) for w in order.work_orders]
        implied = rollup_order_state(order.state, statuses)
        if implied is not None:
            record_event(
                session,
                order,
                implied,
                ActorRole.SYSTEM,
                actor=None,
                note=f"work order {work.id} started",
            )
        session.flush()
        return order_view(order, actor)


@dataclass(frozen=True, slots=True)
class InspectionInput:
    """An inspection as submitted (plain data from the API)."""

    work_order_id: int | None = None
    limits: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)
    defects: list[dict[str, Any]] = field(default_factory=list)
    max_minor_defects: int | None = None
    declared_passed: bool | None = None
    report_filename: str | None = None
    report_content_type: str | None = None
    report_base64: str | None = None


def _decode_report(data: InspectionInput, max_bytes: int) -> bytes | None:
    if data.report_base64 is None:
        return None
    try:
        raw = base64.b64decode(data.report_base64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput.single("report_base64", "not valid base64") from None
    if len(raw) > max_bytes:
        raise InvalidInput.single(
            "report_base64", f"{len(raw)} bytes exceed the limit of {max_bytes} bytes"
        )
    return raw


def add_inspection(
    session: Session,
    actor: User,
    order_id: int,
    data: InspectionInput,
    *,
    max_report_bytes: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record an inspection (see the module doc); returns it with the order's new state."""
    now = now or utc_now()
    with transaction(session):
        order = visible_order(session, actor, order_id, lock=True)
        role = role_on(order, actor)
        if role is ActorRole.BUYER:
            raise PermissionDenied(
                "inspections are recorded by the order's providers or the platform operator"
            )
        if data.work_order_id is not None:
            work = next((w for w in order.work_orders if w.id == data.work_order_id), None)
            if work is None or (
                role is ActorRole.PROVIDER and work.provider_org_id != actor.org_id
            ):
                raise InvalidInput.single("work_order_id", "not one of your work orders here")
        if order.state not in (OrderState.IN_PRODUCTION, OrderState.INSPECTED):
            raise Conflict(
                f"an order that is {order.state} cannot be inspected "
                "(in_production or inspected only)"
            )
        try:
            record = InspectionRecord(
                order.id,
                f"user:{actor.id}",
                now,
                limits=tuple(SpecLimit(**x) for x in data.limits),
                measurements=tuple(Measurement(**x) for x in data.measurements),
                defects=tuple(Defect(**x) for x in data.defects),
                max_minor_defects=data.max_minor_defects,
                declared_passed=data.declared_passed,
            )
            verdict = record.verdict
        except (TypeError, ValueError) as exc:
            raise InvalidInput.single("body", str(exc)) from None
        report = _decode_report(data, max_report_bytes)
        row = Inspection(
            order_id=order.id,
            work_order_id=data.work_order_id,
            inspector_org_id=actor.org_id,
            inspector_user_id=actor.id,
            passed=verdict.passed,
            reasons=list(verdict.reasons),
            limits=list(data.limits),
            measurements=list(data.measurements),
            defects=list(data.defects),
            report_filename=data.report_filename if report is not None else None,
            report_content_type=(data.report_content_type or "application/octet-stream")
            if report is not None
            else None,
            report_sha256=hashlib.sha256(report).hexdigest() if report is not None else None,
            report=report,
            at=now,
        )
        session.add(row)
        session.flush()
        all_done = all(w.progress == "done" for w in order.work_orders)
        if verdict.passed and order.state == OrderState.IN_PRODUCTION and all_done:
            record_event(
                session,
                order,
                OrderState.INSPECTED,
                role,
                actor=actor,
                note=f"inspection {row.id} passed",
                at=now,
            )
        elif not verdict.passed and order.state == OrderState.INSPECTED:
            record_event(
                session,
                order,
                OrderState.IN_PRODUCTION,
                role,
                actor=actor,
                note=f"inspection {row.id} failed: rework",
                at=now,
            )
        return inspection_view(row, order.state)


def rate_order(
    session: Session, actor: User, order_id: int, stars: int, comment: str = ""
) -> Rating:
    """The buyer's single rating of a delivered order (409 when not allowed)."""
    if stars not in (1, 2, 3, 4, 5):
        raise InvalidInput.single("stars", "must be 1 to 5")
    try:
        with transaction(session):
            order = visible_order(session, actor, order_id, lock=True)
            if order.buyer_org_id != actor.org_id:
                raise PermissionDenied("only the buyer rates an order")
            existing = session.scalar(select(Rating).where(Rating.order_id == order.id))
            try:
                check_can_rate(order.state, existing)
            except ValueError as exc:
                raise Conflict(str(exc)) from None
            rating = Rating(
                order_id=order.id, buyer_org_id=actor.org_id, stars=stars, comment=comment
            )
            session.add(rating)
            session.flush()
    except IntegrityError:  # a concurrent second rating lost the race
        raise Conflict("this order already has a rating; only one rating per order") from None
    return rating


def inspection_view(row: Inspection, order_state: str) -> dict[str, Any]:
    """An inspection record as JSON-ready data (without the report bytes)."""
    return {
        "id": row.id,
        "order_id": row.order_id,
        "work_order_id": row.work_order_id,
        "passed": row.passed,
        "reasons": list(row.reasons),
        "measurements": list(row.measurements),
        "defects": list(row.defects),
        "report_filename": row.report_filename,
        "report_sha256": row.report_sha256,
        "at": row.at.isoformat(),
        "order_state": order_state,
    }


def list_inspections(session: Session, actor: User, order_id: int) -> list[dict[str, Any]]:
    """The inspection records of an order the caller takes part in, oldest first."""
    order = visible_order(session, actor, order_id)
    rows = session.scalars(
        select(Inspection).where(Inspection.order_id == order.id).order_by(Inspection.id)
    )
    return [inspection_view(r, order.state) for r in rows]


def inspection_report(
    session: Session, actor: User, order_id: int, inspection_id: int
) -> Inspection:
    """An inspection of an order the caller takes part in, with its report bytes (404 when
    the inspection has no report)."""
    visible_order(session, actor, order_id)
    row = session.get(Inspection, inspection_id)
    if row is None or row.order_id != order_id or row.report is None:
        raise NotFound("inspection report", inspection_id)
    return row
