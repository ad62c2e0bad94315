"""telemetry, dead letters, device credentials, security events, usage records

Revision ID: 0002_telemetry
Revises: 0001
Create Date: 2026-11-21 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import sharefab.storage.types

revision: str = "0002_telemetry"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sharefab.storage.types.UTCDateTime(timezone=True)
_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Create the telemetry tables."""
    op.create_table(
        "telemetry",
        sa.Column("resource_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", _UTC, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cycle_count", sa.BigInteger(), nullable=False),
        sa.Column("run_seconds", sa.Float(), nullable=False),
        sa.Column("spindle_seconds", sa.Float(), nullable=False),
        sa.Column("energy_wh", sa.Float(), nullable=False),
        sa.Column("alarms", _JSON, nullable=True),
        sa.Column("received_at", _UTC, server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.CheckConstraint(
            "state IN ('running', 'idle', 'setup', 'down', 'maintenance')",
            name=op.f("ck_telemetry_state"),
        ),
        sa.CheckConstraint(
            "cycle_count >= 0 AND run_seconds >= 0 AND spindle_seconds >= 0 AND energy_wh >= 0",
            name=op.f("ck_telemetry_counters_nonneg"),
        ),
        sa.PrimaryKeyConstraint("resource_id", "message_id", name=op.f("pk_telemetry")),
    )
    op.create_index("ix_telemetry_resource_id_ts", "telemetry", ["resource_id", "ts"])

    op.create_table(
        "telemetry_dead_letter",
        sa.Column("id", _BIGID, autoincrement=True, nullable=False),
        sa.Column("received_at", _UTC, nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=True),
        sa.Column("resource_id", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "source IN ('mqtt', 'http', 'cli')", name=op.f("ck_telemetry_dead_letter_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_dead_letter")),
    )
    op.create_index(
        "ix_telemetry_dead_letter_received_at", "telemetry_dead_letter", ["received_at"]
    )
    op.create_index(
        op.f("ix_telemetry_dead_letter_resource_id"), "telemetry_dead_letter", ["resource_id"]
    )

    op.create_table(
        "device_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("revoked_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_device_credentials_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_credentials")),
        sa.UniqueConstraint("key_id", name=op.f("uq_device_credentials_key_id")),
    )
    op.create_index(
        op.f("ix_device_credentials_resource_id"), "device_credentials", ["resource_id"]
    )

    op.create_table(
        "security_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", _UTC, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("device_resource_id", sa.BigInteger(), nullable=True),
        sa.Column("target_resource_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    op.create_index("ix_security_events_occurred_at", "security_events", ["occurred_at"])
    op.create_index(
        op.f("ix_security_events_device_resource_id"), "security_events", ["device_resource_id"]
    )

    op.create_table(
        "usage_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("order_ref", sa.String(length=100), nullable=True),
        sa.Column("run_seconds", sa.Float(), nullable=False),
        sa.Column("spindle_seconds", sa.Float(), nullable=False),
        sa.Column("cycles", sa.BigInteger(), nullable=False),
        sa.Column("energy_wh", sa.Float(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lines", _JSON, nullable=False),
        sa.Column("computed_at", _UTC, nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_usage_records_amount_nonneg")),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_usage_records_currency")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_usage_records_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_usage_records_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_usage_records_booking_id")),
    )
    op.create_index(op.f("ix_usage_records_order_ref"), "usage_records", ["order_ref"])
    op.create_index(op.f("ix_usage_records_resource_id"), "usage_records", ["resource_id"])


def downgrade() -> None:
    """Drop the telemetry tables."""
    op.drop_table("usage_records")
    op.drop_table("security_events")
    op.drop_table("device_credentials")
    op.drop_table("telemetry_dead_letter")
    op.drop_table("telemetry")
