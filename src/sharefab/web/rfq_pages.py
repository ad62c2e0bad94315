"""Buyer pages: the RFQ list, the "New RFQ" form, the RFQ page with its quote options, and
accepting an option (which books it and opens the order)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from sharefab.services import rfqs
from sharefab.services.accepting import QuoteExpired, SlotTaken, accept_quote
from sharefab.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceError,
)
from sharefab.services.quoting import compute_quote, get_quote
from sharefab.storage.market_models import Quote, Rfq
from sharefab.storage.models import Organization, Site
from sharefab.web.auth import PageSession, RequiredViewer, Viewer
from sharefab.web.errors import not_found
from sharefab.web.lookups import error_lines, error_map, org_names, site_names
from sharefab.web.names import all_capabilities, capability_label
from sharefab.web.quote_view import quote_context
from sharefab.web.rfq_form import (
    CURRENCIES,
    RfqForm,
    label_of,
    parse_form,
    rows_from_lists,
)
from sharefab.web.templating import format_instant, format_money, render, script_json

router = APIRouter(include_in_schema=False)

FormList = Annotated[list[str], Form()]


def _own_sites(session: Session, viewer: Viewer) -> list[Site]:
    return list(
        session.scalars(select(Site).where(Site.org_id == viewer.org_id).order_by(Site.name))
    )


def _org_has_role(session: Session, viewer: Viewer, role: str) -> bool:
    """Whether the viewer's organisation has ``role`` (``buyer`` or ``provider``)."""
    org = session.get(Organization, viewer.org_id)
    return org is not None and role in (org.roles or [])


def _render_form(
    request: Request,
    session: Session,
    viewer: Viewer,
    form: RfqForm,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    form.pad()
    context = {
        "form": form,
        "errors": errors,
        "error_lines": [f"{label_of(f)} ({f}): {m}" if f else m for f, m in errors.items()],
        "taxonomy": all_capabilities(),
        "sites": _own_sites(session, viewer),
        "currencies": CURRENCIES,
        "is_buyer": _org_has_role(session, viewer, "buyer"),
    }
    return render(request, "rfq_new.html", context, status_code=status)


#: RFQs shown per list on the RFQs page (the API pages through all of them).
RFQS_SHOWN = 100


def _standing_row(item: rfqs.ReachedRfq) -> dict[str, Any]:
    """How a reached provider's standing on an RFQ is shown."""
    share = (
        format_money(item.share_minor, item.currency)
        if item.share_minor is not None and item.currency is not None
        else None
    )
    return {
        "status": item.status,
        "label": {
            "quoted": "quoted – awaiting the buyer",
            "won": "won",
            "lost": "lost – the buyer ordered elsewhere",
        }[item.status],
        "order_id": item.order_id,
        "order_state": (item.order_state or "").replace("_", " "),
        "share": share,
    }


@router.get("/rfqs", name="web_rfqs")
def rfqs_page(request: Request, session: PageSession, viewer: RequiredViewer) -> Response:
    """The organisation's RFQs, newest first, and (for providers) the RFQs that reached it
    with its standing on each: quoted, won (with the order) or lost."""
    page = rfqs.list_rfqs(session, viewer.user, limit=RFQS_SHOWN, offset=0)
    rows = [
        {
            "id": r.id,
            "title": r.title or f"RFQ {r.id}",
            "operations": len(r.operations),
            "due": format_instant(r.due_at),
            "created": format_instant(r.created_at),
            "budget": format_money(r.budget_minor, r.currency) if r.budget_minor else "–",
        }
        for r in page.data
    ]
    reached = rfqs.list_reached_rfqs(session, viewer.user, limit=RFQS_SHOWN, offset=0)
    buyers = org_names(session, {item.rfq.buyer_org_id for item in reached.data})
    reached_rows = [
        {
            "id": item.rfq.id,
            "title": item.rfq.title or f"RFQ {item.rfq.id}",
            "buyer": buyers.get(item.rfq.buyer_org_id, f"organisation {item.rfq.buyer_org_id}"),
            "operations": len(item.rfq.operations),
            "due": format_instant(item.rfq.due_at),
            **_standing_row(item),
        }
        for item in reached.data
    ]
    context = {
        "rows": rows,
        "count": page.count,
        "reached_rows": reached_rows,
        "reached_count": reached.count,
        "show_reached": reached.count > 0 or _org_has_role(session, viewer, "provider"),
        "shown": RFQS_SHOWN,
    }
    return render(request, "rfqs.html", context)


@router.get("/rfqs/new", name="web_rfq_new")
def new_rfq_page(request: Request, session: PageSession, viewer: RequiredViewer) -> Response:
    """The blank "New RFQ" form."""
    return _render_form(request, session, viewer, RfqForm.blank_form(), {})


@router.post("/rfqs/new")
def new_rfq_submit(
    request: Request,
    session: PageSession,
    viewer: RequiredViewer,
    capability: FormList = [],  # noqa: B006 - FastAPI copies defaults
    op_name: FormList = [],  # noqa: B006
    quantity: FormList = [],  # noqa: B006
    unit_minutes: FormList = [],  # noqa: B006
    setup_minutes: FormList = [],  # noqa: B006
    title: Annotated[str, Form()] = "",
    due_at: Annotated[str, Form()] = "",
    budget: Annotated[str, Form()] = "",
    currency: Annotated[str, Form()] = "CNY",
    delivery_site_id: Annotated[str, Form()] = "",
    delivery_lat: Annotated[str, Form()] = "",
    delivery_lon: Annotated[str, Form()] = "",
    min_provider_credit: Annotated[str, Form()] = "",
    allow_split: Annotated[str, Form()] = "",
    allow_lots: Annotated[str, Form()] = "",
) -> Response:
    """Store the RFQ and open its page; on a problem show the form again (422) with each
    message next to its field."""
    form = RfqForm(
        title=title,
        due_at=due_at,
        budget=budget,
        currency=currency,
        delivery_site_id=delivery_site_id,
        delivery_lat=delivery_lat,
        delivery_lon=delivery_lon,
        min_provider_credit=min_provider_credit,
        allow_split=bool(allow_split),
        allow_lots=bool(allow_lots),
        operations=rows_from_lists(capability, op_name, quantity, unit_minutes, setup_minutes),
    )
    data, errors = parse_form(form)
    if data is None:
        return _render_form(request, session, viewer, form, errors, 422)
    try:
        rfq = rfqs.create_rfq(session, viewer.user, data)
    except InvalidInput as exc:
        session.rollback()
        return _render_form(request, session, viewer, form, error_map(exc), 422)
    except PermissionDenied as exc:
        session.rollback()
        return _render_form(request, session, viewer, form, {"": exc.detail}, 403)
    return RedirectResponse(f"/rfqs/{rfq.id}", status_code=303)


def _latest_quote_id(session: Session, rfq_id: int) -> int | None:
    return session.scalar(
        select(Quote.id).where(Quote.rfq_id == rfq_id).order_by(Quote.id.desc()).limit(1)
    )


def rfq_context(
    session: Session,
    viewer: Viewer,
    rfq: Rfq,
    quote_id: int | None,
    *,
    with_quote: bool = True,
) -> dict[str, Any]:
    """The RFQ's summary and, if any (and ``with_quote``), one quote (the latest unless
    ``quote_id`` is given)."""
    sites = site_names(session, [rfq.delivery_site_id] if rfq.delivery_site_id else [])
    ops = [
        {
            "position": op.position + 1,
            "name": op.name,
            "capability": capability_label(op.capability),
            "code": op.capability,
            "quantity": op.quantity,
            "unit_minutes": f"{op.unit_minutes:g}",
            "setup_minutes": op.setup_minutes,
            "after": ", ".join(str(a + 1) for a in op.after) or "–",
        }
        for op in sorted(rfq.operations, key=lambda o: o.position)
    ]
    if rfq.delivery_site_id:
        delivery = sites.get(rfq.delivery_site_id, f"site {rfq.delivery_site_id}")
    elif rfq.delivery_lat is not None:
        delivery = f"{rfq.delivery_lat:.4f}, {rfq.delivery_lon:.4f}"
    else:
        delivery = "collect at the provider (no delivery address)"
    summary = {
        "id": rfq.id,
        "title": rfq.title or f"RFQ {rfq.id}",
        "due": format_instant(rfq.due_at),
        "budget": format_money(rfq.budget_minor, rfq.currency)
        if rfq.budget_minor is not None
        else "no ceiling",
        "delivery": delivery,
        "split": "yes" if rfq.allow_split else "no (one provider)",
        "lots": "yes" if rfq.allow_lots else "no",
        "min_credit": rfq.min_provider_credit if rfq.min_provider_credit is not None else "any",
        "operations": ops,
    }
    quote = None
    qid = quote_id if quote_id is not None else _latest_quote_id(session, rfq.id)
    if qid is not None and with_quote:
        try:
            row = get_quote(session, viewer.user, qid)
        except NotFound:
            row = None
        if row is not None and row.rfq_id == rfq.id:
            quote = quote_context(session, row, rfq.due_at)
            quote["expired"] = datetime.now(UTC) >= row.valid_until
    return {
        "rfq": summary,
        "quote": quote,
        "charts_json": script_json(quote["charts"] if quote else {}),
        "idempotency_key": uuid.uuid4().hex,
        "standing": None,
    }


def _render_rfq(
    request: Request,
    session: Session,
    viewer: Viewer,
    rfq_id: int,
    quote_id: int | None = None,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    try:
        rfq = rfqs.visible_rfq(session, viewer.user, rfq_id)
    except NotFound as exc:
        raise not_found("RFQ") from exc
    if rfq.buyer_org_id != viewer.org_id:  # a provider the RFQ reached: read-only
        context = rfq_context(session, viewer, rfq, None, with_quote=False)
        context["standing"] = _standing_row(rfqs.standing_on(session, viewer.user, rfq))
        buyer = org_names(session, [rfq.buyer_org_id])
        context["buyer"] = buyer.get(rfq.buyer_org_id, f"organisation {rfq.buyer_org_id}")
    else:
        context = rfq_context(session, viewer, rfq, quote_id)
    context.update(notice=notice, problem=problem)
    return render(request, "rfq.html", context, status_code=status)


@router.get("/rfqs/{rfq_id}", name="web_rfq")
def rfq_page(
    request: Request,
    rfq_id: int,
    session: PageSession,
    viewer: RequiredViewer,
    quote: int | None = None,
) -> Response:
    """The buyer's RFQ with its latest (or the given) quote; a provider it reached sees the
    terms, routing and its standing (read-only: no quotes, no accept); 404 for anyone else."""
    return _render_rfq(request, session, viewer, rfq_id, quote)


@router.post("/rfqs/{rfq_id}/quotes")
def get_quotes(
    request: Request, rfq_id: int, session: PageSession, viewer: RequiredViewer
) -> Response:
    """Compute fresh ranked options and show them."""
    try:
        quote = compute_quote(session, viewer.user, rfq_id)
    except NotFound as exc:
        raise not_found("RFQ") from exc
    except ServiceError as exc:
        session.rollback()
        return _render_rfq(
            request, session, viewer, rfq_id, problem="; ".join(error_lines(error_map(exc))),
            status=409 if isinstance(exc, Conflict) else 422,
        )  # fmt: skip
    return RedirectResponse(f"/rfqs/{rfq_id}?quote={quote.id}#options", status_code=303)


@router.post("/quotes/{quote_id}/accept")
def accept_option(
    request: Request,
    quote_id: int,
    session: PageSession,
    viewer: RequiredViewer,
    option_id: Annotated[str, Form()] = "",
    idempotency_key: Annotated[str, Form()] = "",
) -> Response:
    """Book the option in one transaction and open the order. A slot taken meanwhile (409)
    shows the message and the fresh quote the service computed; nothing is booked then."""
    try:
        rfq_id = get_quote(session, viewer.user, quote_id).rfq_id
    except NotFound as exc:
        raise not_found("quote") from exc
    session.rollback()
    if not option_id.strip().isdigit():
        return _render_rfq(
            request, session, viewer, rfq_id, quote_id,
            problem="option_id: pick one of the options with its Accept button", status=422,
        )  # fmt: skip
    try:
        _code, order = accept_quote(
            session,
            viewer.user,
            quote_id,
            int(option_id),
            idempotency_key=idempotency_key.strip() or None,
        )
    except SlotTaken as exc:
        session.rollback()
        return _render_rfq(
            request, session, viewer, rfq_id, exc.fresh_quote_id,
            problem="A slot of this option was taken by someone else meanwhile, so nothing "
            "was booked. Below is a fresh quote computed just now: "
            + "; ".join(error_lines(error_map(exc))),
            status=409,
        )  # fmt: skip
    except QuoteExpired:
        session.rollback()
        return _render_rfq(
            request, session, viewer, rfq_id, quote_id,
            problem="This quote has expired. Press “Get quotes” for fresh options.",
            status=410,
        )  # fmt: skip
    except (Conflict, InvalidInput, PermissionDenied) as exc:
        session.rollback()
        status = 409 if isinstance(exc, Conflict) else 422
        if isinstance(exc, PermissionDenied):
            status = 403
        return _render_rfq(
            request, session, viewer, rfq_id, quote_id,
            problem="; ".join(error_lines(error_map(exc))), status=status,
        )  # fmt: skip
    except NotFound as exc:
        raise not_found("quote") from exc
    return RedirectResponse(f"/orders/{order['id']}?accepted=1", status_code=303)
