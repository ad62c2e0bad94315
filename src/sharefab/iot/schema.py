"""The versioned telemetry message a connected machine sends (JSON, schema version 1).

One message is one observation of one resource::

    {"schema_version": 1, "resource_id": 42, "message_id": 1017,
     "ts": "2026-11-21T08:00:00Z", "state": "running",
     "cycle_count": 5120, "run_seconds": 81234.5, "spindle_seconds": 70211.0,
     "energy_wh": 912345.0, "alarms": [{"code": "E101", "severity": "warning"}]}

``message_id`` is unique per device (resource); devices typically number their messages
1, 2, 3, ... and the platform stores each (resource_id, message_id) once, so a device or
broker that sends a message twice does no harm. The four counters are cumulative since the
device was commissioned (they never reset in normal operation) and non-negative; usage in an
interval is the difference of the counters at its ends (see :mod:`sharefab.iot.metering`).

A payload is either one message object or a JSON array of them (an edge gateway batching
several readings). :func:`parse_payload` never raises on bad input: it returns the valid
messages and one :class:`Rejection` (with the reason, naming the field) per bad one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

SCHEMA_VERSION = 1
MAX_ALARMS = 32
MAX_MESSAGE_ID = 2**63 - 1
MAX_RAW_CHARS = 8_000


class MachineState(StrEnum):
    """What the machine is doing at the time of the message."""

    RUNNING = "running"
    IDLE = "idle"
    SETUP = "setup"
    DOWN = "down"
    MAINTENANCE = "maintenance"


class Alarm(BaseModel):
    """An alarm active on the machine when the message was taken."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Annotated[str, Field(min_length=1, max_length=64)]
    severity: Literal["info", "warning", "critical"] = "warning"
    message: Annotated[str, Field(max_length=500)] | None = None

    @field_validator("code", "message")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        # PostgreSQL text and jsonb cannot hold NUL characters
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


NonNegativeCounter = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class TelemetryMessage(BaseModel):
    """One validated telemetry observation (schema version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1]
    resource_id: Annotated[int, Field(ge=1, le=MAX_MESSAGE_ID, strict=True)]
    message_id: Annotated[int, Field(ge=0, le=MAX_MESSAGE_ID, strict=True)]
    ts: AwareDatetime
    state: MachineState
    cycle_count: Annotated[int, Field(ge=0, le=MAX_MESSAGE_ID, strict=True)]
    run_seconds: NonNegativeCounter
    spindle_seconds: NonNegativeCounter
    energy_wh: NonNegativeCounter
    alarms: Annotated[list[Alarm], Field(max_length=MAX_ALARMS, default_factory=list)]

    @field_validator("ts")
    @classmethod
    def _plausible_year(cls, value: Any) -> Any:
        if not 2000 <= value.year <= 2200:
            raise ValueError("timestamp year must be between 2000 and 2200")
        return value


_MESSAGE = TypeAdapter(TelemetryMessage)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message that failed validation, kept with its raw text for the dead-letter table."""

    raw: str
    reason: str
    resource_id: int | None = None
    message_id: int | None = None


def format_errors(exc: ValidationError) -> str:
    """All validation errors of one message as ``field: reason; field: reason``."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "message"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def raw_text(raw: bytes | str | object) -> str:
    """A payload as storable text: UTF-8 with replacement characters, no NUL, bounded."""
    return _raw_text(raw).replace("\x00", "\ufffd")


def _raw_text(raw: bytes | str | object) -> str:
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="replace")
    elif isinstance(raw, str):
        text = raw
    else:
        text = json.dumps(raw, default=str, ensure_ascii=False)
    return text[:MAX_RAW_CHARS]


def _claimed_int(obj: object, key: str) -> int | None:
    if isinstance(obj, dict):
        value = obj.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_MESSAGE_ID:
            return value
    return None


def validate_object(obj: object, raw: bytes | str | None = None) -> TelemetryMessage | Rejection:
    """Validate one decoded JSON value; a bad one becomes a :class:`Rejection` naming the
    fields (``raw`` defaults to the value re-encoded as JSON)."""
    try:
        return _MESSAGE.validate_python(obj)
    except ValidationError as exc:
        if isinstance(obj, dict) and "schema_version" in obj and obj["schema_version"] != 1:
            reason = f"schema_version: unsupported version {obj['schema_version']!r} (expected 1)"
        else:
            reason = format_errors(exc)
        return Rejection(
            raw=raw_text(obj if raw is None else raw),
            reason=reason,
            resource_id=_claimed_int(obj, "resource_id"),
            message_id=_claimed_int(obj, "message_id"),
        )


def parse_payload(payload: bytes | str) -> tuple[list[TelemetryMessage], list[Rejection]]:
    """Decode a JSON payload (one message object or an array of them) and validate it."""
    if isinstance(payload, bytes | str) and len(payload) < 2048:
        # fast path for the common case: one small object
        try:
            return [_MESSAGE.validate_json(payload)], []
        except ValidationError:
            pass
    try:
        decoded = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [], [Rejection(raw=raw_text(payload), reason=f"payload: not valid JSON ({exc})")]
    items = decoded if isinstance(decoded, list) else [decoded]
    if not items:
        return [], [Rejection(raw=raw_text(payload), reason="payload: empty array")]
    good: list[TelemetryMessage] = []
    bad: list[Rejection] = []
    single = not isinstance(decoded, list)
    for item in items:
        result = validate_object(item, raw=payload if single else None)
        if isinstance(result, Rejection):
            if not isinstance(item, dict):
                result = Rejection(
                    raw=result.raw,
                    reason=f"message: expected a JSON object, got {type(item).__name__}",
                )
            bad.append(result)
        else:
            good.append(result)
    return good, bad


def message_to_json(message: TelemetryMessage) -> str:
    """The wire form of a message (what devices and the simulator send)."""
    return message.model_dump_json(exclude_defaults=False)
