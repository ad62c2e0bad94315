"""RFQs, their attachments and quotes; accepting a quote option."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Header, Query, Response, UploadFile, status
from fastapi.responses import JSONResponse

from sharefab.api.deps import CurrentUser, SessionDep, SettingsDep
from sharefab.api.errors import problem_response
from sharefab.api.schemas.common import PROBLEM_RESPONSES
from sharefab.api.schemas.market import (
    AcceptBody,
    AttachmentPublic,
    OrderPublic,
    QuotePublic,
    ReachedRfqPublic,
    ReachedRfqsPublic,
    RfqCreate,
    RfqPublic,
    RfqsPublic,
)
from sharefab.services import attachments, rfqs
from sharefab.services.accepting import QuoteExpired, SlotTaken, accept_quote
from sharefab.services.errors import InvalidInput
from sharefab.services.quoting import compute_quote, get_quote
from sharefab.storage.market_models import Rfq

rfq_router = APIRouter(prefix="/rfqs", tags=["rfqs"], responses=PROBLEM_RESPONSES)
quote_router = APIRouter(prefix="/quotes", tags=["quotes"], responses=PROBLEM_RESPONSES)


def _rfq_public(session: Any, rfq: Rfq) -> RfqPublic:
    public = RfqPublic.model_validate(rfq)
    public.attachments = [
        AttachmentPublic.model_validate(a) for a in attachments.list_attachments(session, rfq.id)
    ]
    return public


@rfq_router.post("", status_code=status.HTTP_201_CREATED)
def create_rfq(body: RfqCreate, session: SessionDep, user: CurrentUser) -> RfqPublic:
    """Post a request for quotation with its routing (422 names each bad field)."""
    data = rfqs.RfqInput(
        operations=[rfqs.OperationInput(**op.model_dump()) for op in body.operations],
        **body.model_dump(exclude={"operations"}),
    )
    return _rfq_public(session, rfqs.create_rfq(session, user, data))


def _reached_public(session: Any, item: rfqs.ReachedRfq) -> ReachedRfqPublic:
    public = _rfq_public(session, item.rfq)
    return ReachedRfqPublic(
        **public.model_dump(),
        your_status=item.status,
        your_order_id=item.order_id,
        your_order_state=item.order_state,
        your_share_minor=item.share_minor,
        your_share_currency=item.currency,
    )


@rfq_router.get("")
def list_rfqs(
    session: SessionDep,
    user: CurrentUser,
    limit: int = 50,
    offset: int = 0,
    as_: Annotated[Literal["buyer", "provider"], Query(alias="as")] = "buyer",
) -> RfqsPublic | ReachedRfqsPublic:
    """The caller's RFQs, newest first; with ``as=provider`` the RFQs that reached the
    caller's organization as a provider, each with ``your_status`` (quoted, won, lost)."""
    limit, offset = min(max(limit, 1), 500), max(offset, 0)
    if as_ == "provider":
        reached = rfqs.list_reached_rfqs(session, user, limit=limit, offset=offset)
        return ReachedRfqsPublic(
            data=[_reached_public(session, r) for r in reached.data], count=reached.count
        )
    page = rfqs.list_rfqs(session, user, limit=limit, offset=offset)
    return RfqsPublic(data=[_rfq_public(session, r) for r in page.data], count=page.count)


@rfq_router.get("/{rfq_id}")
def read_rfq(rfq_id: int, session: SessionDep, user: CurrentUser) -> RfqPublic:
    """An RFQ of the caller, or one that reached the caller as a provider."""
    return _rfq_public(session, rfqs.visible_rfq(session, user, rfq_id))


@rfq_router.post(
    "/{rfq_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentPublic,
    responses={413: {"description": "The file exceeds the attachment size limit"}},
)
def upload_attachment(
    rfq_id: int,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File(description="drawing or spec")] = None,
) -> Any:
    """Attach a file to the caller's RFQ (multipart field ``file``; size-limited)."""
    rfqs.own_rfq(session, user, rfq_id)  # 404 before anything else for other tenants
    if file is None:
        raise InvalidInput.single("file", "send the file as multipart form field 'file'")
    limit = settings.attachment_max_bytes
    content = file.file.read(limit + 1)
    try:
        row = attachments.add_attachment(
            session,
            user,
            rfq_id,
            filename=file.filename or "",
            content_type=file.content_type or "application/octet-stream",
            content=content,
            max_bytes=limit,
        )
    except attachments.AttachmentTooLarge as exc:
        return problem_response(413, exc.detail, slug="attachment-too-large", errors=exc.errors)
    return AttachmentPublic.model_validate(row)


@rfq_router.get(
    "/{rfq_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_attachment(
    rfq_id: int, attachment_id: int, session: SessionDep, user: CurrentUser
) -> Response:
    """The file, for the buyer and the providers the RFQ reached (404 for anyone else)."""
    row = attachments.read_attachment(session, user, rfq_id, attachment_id)
    safe = json.dumps(row.filename)[1:-1].replace('"', "")
    return Response(
        row.content,
        media_type=row.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe}"',
            "ETag": f'"{row.sha256}"',
        },
    )


@rfq_router.post("/{rfq_id}/quotes", status_code=status.HTTP_201_CREATED)
def create_quote(rfq_id: int, session: SessionDep, user: CurrentUser) -> QuotePublic:
    """Compute ranked quote options (valid 15 minutes; they do not block capacity)."""
    return QuotePublic.model_validate(compute_quote(session, user, rfq_id))


@quote_router.get("/{quote_id}")
def read_quote(quote_id: int, session: SessionDep, user: CurrentUser) -> QuotePublic:
    """A quote of the caller's RFQ (404 for anyone else)."""
    return QuotePublic.model_validate(get_quote(session, user, quote_id))


@quote_router.post(
    "/{quote_id}/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderPublic,
    responses={410: {"description": "The quote expired; request a fresh one"}},
)
def accept(
    quote_id: int,
    body: AcceptBody,
    session: SessionDep,
    user: CurrentUser,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Any:
    """Book every lot of the option in one transaction and create the order.

    409 (with ``fresh_quote_id``) when a slot was taken meanwhile: nothing is booked.
    Retrying with the same ``Idempotency-Key`` returns the first result.
    """
    try:
        code, view = accept_quote(
            session, user, quote_id, body.option_id, idempotency_key=idempotency_key
        )
    except SlotTaken as exc:
        response = problem_response(409, exc.detail, slug="slot-taken", errors=exc.errors)
        payload = json.loads(bytes(response.body))
        payload.update(
            fresh_quote_id=exc.fresh_quote_id,
            fresh_quote=f"/api/v1/quotes/{exc.fresh_quote_id}",
            conflicts=exc.conflicts,
        )
        return JSONResponse(payload, 409, media_type="application/problem+json")
    except QuoteExpired as exc:
        response = problem_response(410, exc.detail, slug="quote-expired", title="Quote expired")
        payload = json.loads(bytes(response.body))
        payload["new_quote"] = f"/api/v1/rfqs/{exc.rfq_id}/quotes"
        return JSONResponse(payload, 410, media_type="application/problem+json")
    return JSONResponse(OrderPublic.model_validate(view).model_dump(mode="json"), code)
