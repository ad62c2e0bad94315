"""``POST /telemetry``: HTTP ingest of telemetry batches, authenticated by a device token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sharefab.api.deps import SessionDep
from sharefab.api.schemas.common import PROBLEM_RESPONSES
from sharefab.api.schemas.iot import TelemetryIngestResult, TelemetryRejection
from sharefab.iot.devices import authenticate_device, record_security_event
from sharefab.iot.ingest import DeadLetter, SecurityEventRow, TelemetryWriter
from sharefab.iot.schema import parse_payload
from sharefab.services.errors import InvalidInput, PermissionDenied

router = APIRouter(prefix="/telemetry", tags=["telemetry"], responses=PROBLEM_RESPONSES)

#: Largest telemetry batch (bytes): enforced before the body is read by
#: :mod:`sharefab.api.limits`, which answers a larger one with 413.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_MESSAGES = 10_000


def _writer(request: Request) -> TelemetryWriter:
    state = request.app.state
    writer = getattr(state, "telemetry_writer", None)
    if writer is None:
        writer = TelemetryWriter(state.engine)
        state.telemetry_writer = writer
    return writer


@router.post(
    "",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": ["array", "object"]}}},
        }
    },
)
async def ingest_telemetry(request: Request, session: SessionDep) -> TelemetryIngestResult:
    """Store a batch (a JSON array, or one object) of telemetry messages of the device's own
    resource, sent with ``Authorization: Device <key_id>.<secret>``. Each message is stored
    once per (resource_id, message_id); bad messages are kept in the dead-letter table and
    listed with their reasons. A message for another resource refuses the whole batch (403)
    and is logged as a security event."""
    body = await request.body()
    writer = _writer(request)
    header = request.headers.get("authorization")
    return await run_in_threadpool(_ingest, session, writer, header, body)


def _ingest(
    session: Session, writer: TelemetryWriter, header: str | None, body: bytes
) -> TelemetryIngestResult:
    cred = authenticate_device(session, header)
    good, bad = parse_payload(body)
    if len(good) + len(bad) > MAX_MESSAGES:
        raise InvalidInput.single("body", f"more than {MAX_MESSAGES} messages in one batch")
    _refuse_foreign(session, cred.key_id, cred.resource_id, good, bad)
    letters = [DeadLetter.of(r, "http") for r in bad]
    session.close()
    result = writer.write(good, letters, source="http")
    return TelemetryIngestResult(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=result.rejected,
        rejections=[
            TelemetryRejection(resource_id=d.resource_id, message_id=d.message_id, reason=d.reason)
            for d in result.rejections
        ],
    )


def _refuse_foreign(
    session: Session,
    key_id: str,
    own: int,
    good: list,
    bad: list,  # type: ignore[type-arg]
) -> None:
    targets = sorted(
        {m.resource_id for m in good if m.resource_id != own}
        | {r.resource_id for r in bad if r.resource_id is not None and r.resource_id != own}
    )
    if not targets:
        return
    record_security_event(
        session,
        SecurityEventRow(
            kind="device_wrong_resource",
            source="http",
            detail=f"device of resource {own} sent messages for resources {targets}",
            key_id=key_id,
            device_resource_id=own,
            target_resource_id=targets[0],
        ),
    )
    raise PermissionDenied(
        f"this device credential may only report for resource {own}; "
        f"the batch names resource {targets[0]}"
    )
