"""RFQ attachments (drawings, specs): size-limited, hashed, readable by the buyer and the
providers the RFQ reached.

The bytes are kept in the database (``rfq_attachments.content``), so a backup of the database
is a backup of the attachments and access control is one query. The size limit is
``Settings.attachment_max_bytes``; an oversized upload raises :class:`AttachmentTooLarge`
(HTTP 413) and nothing is stored.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from sharefab.services.common import require_role, transaction
from sharefab.services.errors import FieldError, InvalidInput, NotFound, ServiceError
from sharefab.services.rfqs import own_rfq, visible_rfq
from sharefab.storage.market_models import RfqAttachment
from sharefab.storage.models import User


class AttachmentTooLarge(ServiceError):
    """The upload exceeds the configured limit (HTTP 413)."""


def add_attachment(
    session: Session,
    actor: User,
    rfq_id: int,
    *,
    filename: str,
    content_type: str,
    content: bytes,
    max_bytes: int,
) -> RfqAttachment:
    """Attach ``content`` to the caller's RFQ ``rfq_id``."""
    require_role(actor)
    own_rfq(session, actor, rfq_id)
    if len(content) > max_bytes:
        message = f"{len(content)} bytes exceed the limit of {max_bytes} bytes"
        raise AttachmentTooLarge(f"file: {message}", [FieldError("file", message)])
    name = (filename or "").strip().replace("/", "_").replace("\\", "_")
    if not name:
        raise InvalidInput.single("file", "the upload has no file name")
    if not content:
        raise InvalidInput.single("file", "the file is empty")
    with transaction(session):
        row = RfqAttachment(
            rfq_id=rfq_id,
            filename=name[:255],
            content_type=(content_type or "application/octet-stream")[:200],
            size_bytes=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            content=content,
            uploaded_by=actor.id,
        )
        session.add(row)
        session.flush()
    return row


def list_attachments(session: Session, rfq_id: int) -> list[RfqAttachment]:
    """Metadata of an RFQ's attachments (content not loaded)."""
    return list(
        session.scalars(
            select(RfqAttachment)
            .where(RfqAttachment.rfq_id == rfq_id)
            .options(defer(RfqAttachment.content))
            .order_by(RfqAttachment.id)
        )
    )


def read_attachment(
    session: Session, actor: User, rfq_id: int, attachment_id: int
) -> RfqAttachment:
    """The attachment with its bytes, for the buyer or a provider the RFQ reached (404 else)."""
    visible_rfq(session, actor, rfq_id)
    row = session.get(RfqAttachment, attachment_id)
    if row is None or row.rfq_id != rfq_id:
        raise NotFound("attachment", attachment_id)
    return row
