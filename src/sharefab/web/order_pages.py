"""Order pages: the organisation's orders (as buyer and as provider) and one order with its
state, event timeline, work orders, inspections, the providers' shipped parts of a shared
order and the transitions the viewer may make."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from sharefab.services import orders
from sharefab.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceError,
)
from sharefab.services.order_work import (
    add_inspection,
    inspection_report,
    list_inspections,
    report_operation_progress,
)
from sharefab.web.auth import PageSession, PageSettings, RequiredViewer, Viewer
from sharefab.web.errors import not_found
from sharefab.web.inspection_form import (
    DEFECT_ROWS,
    ROWS,
    SEVERITIES,
    InspectionForm,
    parse_inspection,
)
from sharefab.web.lookups import (
    error_lines,
    error_map,
    org_names,
    parse_instant,
    resource_names,
    site_names,
)
from sharefab.web.names import capability_label
from sharefab.web.quote_view import span_label
from sharefab.web.templating import format_instant, format_money, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50

#: Button captions of the transitions (the allowed ones come from the domain state machine).
TRANSITION_LABELS = {
    "scheduled": "Mark scheduled",
    "in_production": "Start production",
    "inspected": "Mark inspected",
    "shipped": "Mark shipped",
    "delivered": "Confirm delivery",
    "settled": "Settle",
    "cancelled": "Cancel order",
    "disputed": "Raise a dispute",
}
STATE_NAMES = {
    "accepted": "accepted 已接受",
    "scheduled": "scheduled 已排产",
    "in_production": "in production 生产中",
    "inspected": "inspected 已检验",
    "shipped": "shipped 已发货",
    "delivered": "delivered 已交付",
    "settled": "settled 已结算",
    "cancelled": "cancelled 已取消",
    "disputed": "disputed 争议中",
}
_STATUS = {NotFound: 404, Conflict: 409, InvalidInput: 422, PermissionDenied: 403}


def _status_of(exc: ServiceError) -> int:
    return next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)


def _amount(view: dict[str, Any]) -> str:
    minor = view["total_minor"] if view["total_minor"] is not None else view["your_subtotal_minor"]
    return format_money(int(minor), view["currency"])


@router.get("/orders", name="web_orders")
def orders_page(
    request: Request, session: PageSession, viewer: RequiredViewer, page: int = 1
) -> Response:
    """The orders the organisation buys or works on, newest first."""
    page = max(1, page)
    listing = orders.list_orders(
        session, viewer.user, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    buyers = org_names(session, {v["buyer_org_id"] for v in listing.data})
    rows = [
        {
            "id": v["id"],
            "ref": v["ref"],
            "state": v["state"],
            "state_name": STATE_NAMES.get(v["state"], v["state"]),
            "role": v["your_role"],
            "buyer": buyers.get(v["buyer_org_id"], ""),
            "amount": _amount(v),
            "amount_kind": "total" if v["total_minor"] is not None else "your part",
            "promised": format_instant(parse_instant(v["promised_at"])),
            "created": format_instant(parse_instant(v["created_at"])),
            "work_orders": len(v["work_orders"]),
        }
        for v in listing.data
    ]
    pages = max(1, -(-listing.count // PAGE_SIZE))
    context = {"rows": rows, "count": listing.count, "page": page, "pages": pages}
    return render(request, "orders.html", context)


def order_context(session: Session, viewer: Viewer, view: dict[str, Any]) -> dict[str, Any]:
    """Template data of an order view (from :func:`sharefab.services.orders.get_order`)."""
    works = view["work_orders"]
    resources = resource_names(session, {w["resource_id"] for w in works})
    sites = site_names(session, {w["site_id"] for w in works})
    actor_orgs = {e["actor_org_id"] for e in view["events"] if e["actor_org_id"]}
    orgs = org_names(
        session, {view["buyer_org_id"], *actor_orgs, *(w["provider_org_id"] for w in works)}
    )
    is_provider_view = view["your_role"] in ("provider", "operator")
    work_rows = []
    for w in sorted(works, key=lambda w: (w["operation"], w["start_at"])):
        mine = w["provider_org_id"] == viewer.org_id or view["your_role"] == "operator"
        next_step = {"pending": "started", "started": "done"}.get(w["progress"])
        work_rows.append(
            {
                "id": w["id"],
                "operation": w["operation"] + 1,
                "operation_name": w["operation_name"],
                "capability": capability_label(w["capability"]),
                "provider": orgs.get(w["provider_org_id"], ""),
                "resource_id": w["resource_id"],
                "resource": resources.get(w["resource_id"], f"resource {w['resource_id']}"),
                "site": sites.get(w["site_id"], ""),
                "start": format_instant(parse_instant(w["start_at"])),
                "end": format_instant(parse_instant(w["end_at"])),
                "span": span_label(parse_instant(w["start_at"]), parse_instant(w["end_at"])),
                "quantity": w["quantity"],
                "price": format_money(w["price_minor"], w["currency"]),
                "progress": w["progress"],
                "next_step": next_step if (is_provider_view and mine) else None,
            }
        )
    events = [
        {
            "from": e["from_state"],
            "to": e["to_state"],
            "to_name": STATE_NAMES.get(e["to_state"], e["to_state"]),
            "actor": e["actor_role"]
            + (f" · {orgs[e['actor_org_id']]}" if e["actor_org_id"] in orgs else ""),
            "at": format_instant(parse_instant(e["at"])),
            "note": e["note"],
        }
        for e in view["events"]
    ]
    shared = view.get("parts_total", 0) > 1
    labels = {**TRANSITION_LABELS, **({"shipped": "Mark your part shipped"} if shared else {})}
    transitions = [
        {
            "to": t,
            "label": labels.get(t, t.replace("_", " ")),
            "danger": t in ("cancelled", "disputed"),
        }
        for t in view["allowed_transitions"]
    ]
    parts = [
        {
            "provider": orgs.get(p["provider_org_id"], f"organisation {p['provider_org_id']}"),
            "work_orders": len(p["work_order_ids"]),
            "shipped": p["shipped"],
            "at": format_instant(parse_instant(p["shipped_at"])) if p["shipped_at"] else None,
            "note": p["note"],
        }
        for p in view.get("parts", [])
    ]
    return {
        "o": {
            "id": view["id"],
            "ref": view["ref"],
            "state": view["state"],
            "state_name": STATE_NAMES.get(view["state"], view["state"]),
            "role": view["your_role"],
            "buyer": orgs.get(view["buyer_org_id"], ""),
            "rfq_id": view["rfq_id"] if view["your_role"] != "provider" else None,
            "total": format_money(view["total_minor"], view["currency"])
            if view["total_minor"] is not None
            else None,
            "transport": format_money(view["transport_minor"], view["currency"])
            if view["transport_minor"] is not None
            else None,
            "subtotal": format_money(view["your_subtotal_minor"], view["currency"]),
            "promised": format_instant(parse_instant(view["promised_at"])),
            "created": format_instant(parse_instant(view["created_at"])),
        },
        "work_orders": work_rows,
        "events": events,
        "transitions": transitions,
        "shipping": {
            "shared": shared,
            "total": view.get("parts_total", 0),
            "shipped": view.get("parts_shipped", 0),
            "parts": parts,
        },
    }


def _inspection_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": r["id"],
            "work_order_id": r["work_order_id"],
            "passed": r["passed"],
            "reasons": r["reasons"],
            "measurements": r["measurements"],
            "defects": r["defects"],
            "report": r["report_filename"],
            "at": format_instant(parse_instant(r["at"])),
        }
        for r in records
    ]


def _render_order(
    request: Request,
    session: Session,
    viewer: Viewer,
    order_id: int,
    *,
    problem: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    try:
        view = orders.get_order(session, viewer.user, order_id)
        inspections = list_inspections(session, viewer.user, order_id)
    except NotFound as exc:
        raise not_found("order") from exc
    context = order_context(session, viewer, view)
    context.update(
        inspections=_inspection_rows(inspections),
        problem=problem,
        notice=notice,
        can_inspect=view["your_role"] in ("provider", "operator")
        and view["state"] in ("in_production", "inspected"),
        inspection_rows=range(ROWS),
        defect_rows=range(DEFECT_ROWS),
        severities=SEVERITIES,
    )
    return render(request, "order.html", context, status_code=status)


@router.get("/orders/{order_id}", name="web_order")
def order_page(
    request: Request,
    order_id: int,
    session: PageSession,
    viewer: RequiredViewer,
    accepted: int = 0,
) -> Response:
    """One order as the viewer may see it; 404 for an order the organisation is not part of."""
    notice = "Order booked: every resource of the option is reserved for you." if accepted else None
    return _render_order(request, session, viewer, order_id, notice=notice)


@router.post("/orders/{order_id}/events")
def order_transition(
    request: Request,
    order_id: int,
    session: PageSession,
    settings: PageSettings,
    viewer: RequiredViewer,
    to: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    """Move the order to ``to``; an illegal move shows the message and the allowed ones."""
    if not to.strip():
        return _render_order(request, session, viewer, order_id,
                             problem="to: pick a transition button", status=422)  # fmt: skip
    if len(note) > 2000:
        return _render_order(request, session, viewer, order_id,
                             problem="note: at most 2000 characters", status=422)  # fmt: skip
    try:
        orders.transition_order(
            session,
            viewer.user,
            order_id,
            to.strip(),
            note.strip(),
            platform_fee_bps=settings.platform_fee_bps,
        )
    except NotFound as exc:
        raise not_found("order") from exc
    except ServiceError as exc:
        session.rollback()
        return _render_order(
            request, session, viewer, order_id,
            problem="; ".join(error_lines(error_map(exc))) if exc.errors else exc.detail,
            status=_status_of(exc),
        )  # fmt: skip
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


@router.post("/orders/{order_id}/work/{work_order_id}/progress")
def work_progress(
    request: Request,
    order_id: int,
    work_order_id: int,
    session: PageSession,
    viewer: RequiredViewer,
    to: Annotated[str, Form()] = "",
) -> Response:
    """A provider reports ``started`` or ``done`` on its own work order."""
    if to not in ("started", "done"):
        return _render_order(request, session, viewer, order_id,
                             problem="to: must be started or done", status=422)  # fmt: skip
    try:
        report_operation_progress(session, viewer.user, order_id, work_order_id, to)
    except NotFound as exc:
        session.rollback()
        raise not_found("work order") from exc
    except ServiceError as exc:
        session.rollback()
        return _render_order(request, session, viewer, order_id,
                             problem=exc.detail, status=_status_of(exc))  # fmt: skip
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


@router.get("/orders/{order_id}/inspections/{inspection_id}/report")
def inspection_report_file(
    order_id: int, inspection_id: int, session: PageSession, viewer: RequiredViewer
) -> Response:
    """The report attached to an inspection (for those who may see the order)."""
    try:
        row = inspection_report(session, viewer.user, order_id, inspection_id)
    except NotFound as exc:
        raise not_found("inspection report") from exc
    safe = json.dumps(row.report_filename or "report")[1:-1].replace('"', "")
    return Response(
        row.report,
        media_type=row.report_content_type or "application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )


FormList = Annotated[list[str], Form()]


@router.post("/orders/{order_id}/inspections")
def record_inspection(
    request: Request,
    order_id: int,
    session: PageSession,
    settings: PageSettings,
    viewer: RequiredViewer,
    work_order_id: Annotated[str, Form()] = "",
    verdict: Annotated[str, Form()] = "auto",
    m_name: FormList = [],  # noqa: B006 - FastAPI copies defaults
    m_value: FormList = [],  # noqa: B006
    m_unit: FormList = [],  # noqa: B006
    m_lower: FormList = [],  # noqa: B006
    m_upper: FormList = [],  # noqa: B006
    d_code: FormList = [],  # noqa: B006
    d_severity: FormList = [],  # noqa: B006
    d_quantity: FormList = [],  # noqa: B006
    d_description: FormList = [],  # noqa: B006
    report: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """A provider (or operator) records an inspection; a pass with every work order done
    moves the order to ``inspected``. Problems are shown on the order page naming the field."""
    form = InspectionForm(
        work_order_id, verdict, m_name, m_value, m_unit, m_lower, m_upper,
        d_code, d_severity, d_quantity, d_description,
    )  # fmt: skip
    limit = settings.attachment_max_bytes
    upload = None
    if report is not None and report.filename:
        upload = (report.filename, report.content_type or "", report.file.read(limit + 1))
    data, errors = parse_inspection(form, upload, limit)
    if data is None:
        problem = "; ".join(f"{k}: {v}" for k, v in errors.items())
        return _render_order(request, session, viewer, order_id, problem=problem, status=422)
    try:
        add_inspection(session, viewer.user, order_id, data, max_report_bytes=limit)
    except NotFound as exc:
        session.rollback()
        raise not_found("order") from exc
    except ServiceError as exc:
        session.rollback()
        return _render_order(
            request, session, viewer, order_id,
            problem="; ".join(error_lines(error_map(exc))), status=_status_of(exc),
        )  # fmt: skip
    return RedirectResponse(f"/orders/{order_id}#inspections", status_code=303)
