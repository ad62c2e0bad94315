"""Tables of the telemetry area: machine telemetry, its dead letters, device credentials,
security events and metered usage per booking.

Registered on ``Base.metadata`` by one import line in :mod:`sharefab.storage.models`; created
by the migration ``0002_telemetry``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sharefab.storage.models import Base, JSONType, _one_of
from sharefab.storage.types import utc_now

TELEMETRY_STATES = ("running", "idle", "setup", "down", "maintenance")
INGEST_SOURCES = ("mqtt", "http", "cli")

#: BIGINT on PostgreSQL; INTEGER on SQLite (its 64-bit rowid alias, so it autoincrements).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Telemetry(Base):
    """One observation of one resource, stored once per (resource_id, message_id).

    This is the high-volume table, so it deviates from the usual shape on purpose: the natural
    key (resource_id, message_id) is the primary key (the deduplication constraint, no
    surrogate id and its extra index) and there is no foreign key to ``resources`` (a per-row
    referential check halves bulk-load speed; the writer checks resource ids against the
    resources table itself, and telemetry of a deleted resource is inert history).
    """

    __tablename__ = "telemetry"
    __table_args__ = (
        Index("ix_telemetry_resource_id_ts", "resource_id", "ts"),
        CheckConstraint(_one_of("state", TELEMETRY_STATES), name="state"),
        CheckConstraint(
            "cycle_count >= 0 AND run_seconds >= 0 AND spindle_seconds >= 0 AND energy_wh >= 0",
            name="counters_nonneg",
        ),
    )

    resource_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    cycle_count: Mapped[int] = mapped_column(BigInteger)
    run_seconds: Mapped[float] = mapped_column(Float)
    spindle_seconds: Mapped[float] = mapped_column(Float)
    energy_wh: Mapped[float] = mapped_column(Float)
    alarms: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(
        default=utc_now, server_default=text("CURRENT_TIMESTAMP")
    )


class TelemetryDeadLetter(Base):
    """A message that could not be stored, kept with its raw payload and the reason."""

    __tablename__ = "telemetry_dead_letter"
    __table_args__ = (
        CheckConstraint(_one_of("source", INGEST_SOURCES), name="source"),
        Index("ix_telemetry_dead_letter_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(default=utc_now)
    source: Mapped[str] = mapped_column(String(8))
    topic: Mapped[str | None] = mapped_column(String(200))
    resource_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    raw: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


class DeviceCredential(Base):
    """A device's credential for one resource: ``key_id`` is public, the secret is only hashed.

    A credential is valid while ``revoked_at`` is NULL; rotating revokes the old one and
    creates a new one.
    """

    __tablename__ = "device_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None]


class SecurityEvent(Base):
    """An audit record of a refused or suspicious device action (append-only)."""

    __tablename__ = "security_events"
    __table_args__ = (Index("ix_security_events_occurred_at", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utc_now)
    kind: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(8))
    key_id: Mapped[str | None] = mapped_column(String(32))
    device_resource_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    target_resource_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(Text, default="")


class UsageRecord(Base):
    """Usage metered for one booking from telemetry counter deltas, with its billed amount."""

    __tablename__ = "usage_records"
    __table_args__ = (
        CheckConstraint("amount_minor >= 0", name="amount_nonneg"),
        CheckConstraint("length(currency) = 3", name="currency"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), unique=True
    )
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    order_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    run_seconds: Mapped[float] = mapped_column(Float)
    spindle_seconds: Mapped[float] = mapped_column(Float)
    cycles: Mapped[int] = mapped_column(BigInteger)
    energy_wh: Mapped[float] = mapped_column(Float)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    computed_at: Mapped[datetime] = mapped_column(default=utc_now)
