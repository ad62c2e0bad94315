"""Schemas of the telemetry area: ingest results, device credentials, usage, utilisation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from sharefab.api.schemas.common import Instant, ORMModel, RequestModel, RowId, Text


class TelemetryRejection(BaseModel):
    """One message that was not stored, and why."""

    resource_id: int | None
    message_id: int | None
    reason: str


class TelemetryIngestResult(BaseModel):
    """What a telemetry batch did."""

    accepted: int
    duplicates: int
    rejected: int
    rejections: list[TelemetryRejection]


class DeviceCredentialIssued(BaseModel):
    """A new device credential; the secret is shown only in this response."""

    id: int
    resource_id: int
    key_id: str
    secret: str
    http_authorization: str
    mqtt_username: str
    mqtt_topic: str
    created_at: datetime


class DeviceCredentialPublic(ORMModel):
    """A device credential without its secret."""

    id: int
    resource_id: int
    key_id: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


class DeviceCredentialsPublic(BaseModel):
    """The credentials of a resource, newest first."""

    data: list[DeviceCredentialPublic]
    count: int


class CredentialRequest(RequestModel):
    """Optional label of a new credential (e.g. the controller's serial number)."""

    label: Text = Field(default="", max_length=200)


class ResourceUtilisationPublic(BaseModel):
    """Utilisation of one resource over the period."""

    resource_id: int
    name: str
    capacity: int
    booked_seconds: float
    running_seconds: float
    idle_unbooked_seconds: float
    booked_ratio: float
    running_ratio: float


class UtilisationPublic(BaseModel):
    """Utilisation of a scope: per resource and aggregated."""

    scope: str
    key: str
    start: datetime
    end: datetime
    booked_ratio: float
    running_ratio: float
    data: list[ResourceUtilisationPublic]
    count: int


class IdleWindow(BaseModel):
    """A proposed window ``[start_at, end_at)``."""

    start_at: datetime
    end_at: datetime
    hours: float


class IdleSuggestions(BaseModel):
    """Idle stretches worth publishing."""

    data: list[IdleWindow]
    count: int


class PublishSuggestions(RequestModel):
    """Which suggestions to publish: those of ``[from, to)`` of at least ``min_hours``."""

    start: Instant | None = None
    end: Instant | None = None
    min_hours: float = Field(default=4.0, gt=0, le=24 * 366)


class UsageRecordPublic(ORMModel):
    """Metered usage of one booking with its pay-per-use lines."""

    booking_id: int
    resource_id: int
    order_ref: str | None
    run_seconds: float
    spindle_seconds: float
    cycles: int
    energy_wh: float
    amount_minor: int
    currency: str
    lines: list[dict[str, Any]]
    computed_at: datetime
    billed_by: str | None = Field(
        default=None, description="id of the ledger transaction that billed this booking's usage"
    )


class ResourceUsagePublic(BaseModel):
    """Metered usage of a resource over a period, priced at its pay-per-use terms."""

    resource_id: int
    start: datetime
    end: datetime
    run_seconds: float
    spindle_seconds: float
    cycles: int
    energy_wh: float
    samples: int
    lines: list[dict[str, Any]]
    amount_minor: int
    currency: str


class UsageBillRequest(RequestModel):
    """Which booking's usage to bill."""

    booking_id: RowId


class UsageBillPostingPublic(BaseModel):
    """A posting of the usage transaction to one of the caller's accounts (debit > 0)."""

    account: str
    amount_minor: int
    currency: str


class UsageBillPublic(BaseModel):
    """The ledger transaction that bills one booking's usage (``created``: posted by this
    call; false when the booking was already billed)."""

    booking_id: int
    created: bool
    transaction_id: str
    kind: str
    memo: str
    at: datetime
    order_ref: str | None
    amount_minor: int
    currency: str
    postings: list[UsageBillPostingPublic]
