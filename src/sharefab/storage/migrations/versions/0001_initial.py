"""Initial schema: organizations, users, clusters, sites, resources, capabilities,
calendar rules and windows, bookings.

On PostgreSQL it installs ``btree_gist`` and adds the exclusion constraint
``ex_bookings_no_overlap``: no two non-cancelled bookings of the same (resource, unit) overlap.
SQLite gets the same tables and two triggers refusing the same overlaps (SQLite serializes
writers, so the check cannot race).

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OVERLAP_MESSAGE = "ex_bookings_no_overlap: the interval overlaps another booking of this unit"
_OVERLAP_EXISTS = """EXISTS (
    SELECT 1 FROM bookings AS b
    WHERE b.resource_id = NEW.resource_id AND b.unit = NEW.unit AND b.status <> 'cancelled'
      AND b.start_at < NEW.end_at AND b.end_at > NEW.start_at{extra})"""
#: SQLite's stand-in for the exclusion constraint (frozen copy of
#: ``sharefab.storage.models.SQLITE_BOOKING_TRIGGERS`` at this revision).
SQLITE_BOOKING_TRIGGERS = (
    f"""CREATE TRIGGER tr_bookings_no_overlap_insert BEFORE INSERT ON bookings
WHEN NEW.status <> 'cancelled' AND {_OVERLAP_EXISTS.format(extra="")}
BEGIN SELECT RAISE(ABORT, '{_OVERLAP_MESSAGE}'); END""",
    f"""CREATE TRIGGER tr_bookings_no_overlap_update
BEFORE UPDATE OF resource_id, unit, start_at, end_at, status ON bookings
WHEN NEW.status <> 'cancelled' AND {_OVERLAP_EXISTS.format(extra=" AND b.id <> NEW.id")}
BEGIN SELECT RAISE(ABORT, '{_OVERLAP_MESSAGE}'); END""",
)
UTC_DATETIME = sa.DateTime(timezone=True)
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _lat_lon_checks(table: str) -> list[sa.CheckConstraint]:
    return [
        sa.CheckConstraint(
            "lat IS NULL OR (lat >= -90 AND lat <= 90)", name=op.f(f"ck_{table}_lat_range")
        ),
        sa.CheckConstraint(
            "lon IS NULL OR (lon >= -180 AND lon <= 180)", name=op.f(f"ck_{table}_lon_range")
        ),
    ]


def upgrade() -> None:
    """Create the foundation tables (and the PostgreSQL overlap guard)."""
    is_postgres = op.get_context().dialect.name == "postgresql"
    if is_postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")

    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        *_lat_lon_checks("clusters"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("name", name=op.f("uq_clusters_name")),
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("roles", JSON_TYPE, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("name", name=op.f("uq_organizations_name")),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        *_lat_lon_checks("sites"),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_sites_cluster_id_clusters"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_sites_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_index(op.f("ix_sites_cluster_id"), "sites", ["cluster_id"])
    op.create_index(op.f("ix_sites_org_id"), "sites", ["org_id"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_platform_operator", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'planner', 'operator', 'viewer')", name=op.f("ck_users_role")
        ),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lower")),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_users_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(op.f("ix_users_org_id"), "users", ["org_id"])

    op.create_table(
        "resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("hourly_rate_minor", sa.Integer(), nullable=False),
        sa.Column("setup_cost_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("speed_factor", sa.Float(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("lease_terms", JSON_TYPE, nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "kind IN ('machine', 'line', 'tool', 'instrument', 'service_team', 'lab', "
            "'vehicle', 'storage')",
            name=op.f("ck_resources_kind"),
        ),
        sa.CheckConstraint(
            "category IN ('manufacturing', 'innovation', 'service')",
            name=op.f("ck_resources_category"),
        ),
        sa.CheckConstraint("hourly_rate_minor >= 0", name=op.f("ck_resources_hourly_rate_nonneg")),
        sa.CheckConstraint("setup_cost_minor >= 0", name=op.f("ck_resources_setup_cost_nonneg")),
        sa.CheckConstraint("speed_factor > 0", name=op.f("ck_resources_speed_factor_positive")),
        sa.CheckConstraint("capacity >= 1", name=op.f("ck_resources_capacity_positive")),
        sa.CheckConstraint(
            "length(currency) = 3 AND currency = upper(currency)",
            name=op.f("ck_resources_currency"),
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_resources_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_resources_site_id_sites"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
    )
    op.create_index(op.f("ix_resources_org_id"), "resources", ["org_id"])
    op.create_index(op.f("ix_resources_site_id"), "resources", ["site_id"])

    op.create_table(
        "resource_capabilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("attributes", JSON_TYPE, nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_resource_capabilities_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_capabilities")),
        sa.UniqueConstraint(
            "resource_id", "code", name=op.f("uq_resource_capabilities_resource_id_code")
        ),
    )
    op.create_index(
        op.f("ix_resource_capabilities_resource_id"), "resource_capabilities", ["resource_id"]
    )
    op.create_index(op.f("ix_resource_capabilities_code"), "resource_capabilities", ["code"])

    op.create_table(
        "calendar_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("weekdays", sa.String(length=40), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("end_time", sa.String(length=5), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "length(start_time) = 5", name=op.f("ck_calendar_rules_start_time_hhmm")
        ),
        sa.CheckConstraint("length(end_time) = 5", name=op.f("ck_calendar_rules_end_time_hhmm")),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until >= valid_from",
            name=op.f("ck_calendar_rules_valid_until_after_from"),
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_calendar_rules_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_rules")),
    )
    op.create_index(op.f("ix_calendar_rules_resource_id"), "calendar_rules", ["resource_id"])

    op.create_table(
        "calendar_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("start_at", UTC_DATETIME, nullable=False),
        sa.Column("end_at", UTC_DATETIME, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("end_at > start_at", name=op.f("ck_calendar_windows_end_after_start")),
        sa.CheckConstraint(
            "source IN ('manual', 'rule', 'suggestion')", name=op.f("ck_calendar_windows_source")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_calendar_windows_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["calendar_rules.id"],
            name=op.f("fk_calendar_windows_rule_id_calendar_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_windows")),
    )
    op.create_index(
        "ix_calendar_windows_resource_id_start_at", "calendar_windows", ["resource_id", "start_at"]
    )
    op.create_index(op.f("ix_calendar_windows_rule_id"), "calendar_windows", ["rule_id"])

    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.Integer(), nullable=False),
        sa.Column("start_at", UTC_DATETIME, nullable=False),
        sa.Column("end_at", UTC_DATETIME, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_ref", sa.String(length=100), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint("end_at > start_at", name=op.f("ck_bookings_end_after_start")),
        sa.CheckConstraint("unit >= 0", name=op.f("ck_bookings_unit_nonneg")),
        sa.CheckConstraint(
            "status IN ('held', 'confirmed', 'in_progress', 'completed', 'cancelled')",
            name=op.f("ck_bookings_status"),
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_bookings_resource_id_resources"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    op.create_index(op.f("ix_bookings_order_ref"), "bookings", ["order_ref"])
    op.create_index("ix_bookings_resource_id_start_at", "bookings", ["resource_id", "start_at"])
    if not is_postgres:
        for trigger in SQLITE_BOOKING_TRIGGERS:
            op.execute(trigger)
    if is_postgres:
        op.execute(
            "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap "
            "EXCLUDE USING gist (resource_id WITH =, unit WITH =, "
            "tstzrange(start_at, end_at, '[)') WITH &&) "
            "WHERE (status <> 'cancelled')"
        )


def downgrade() -> None:
    """Drop every table of this revision (the btree_gist extension stays installed)."""
    for table in (
        "bookings",
        "calendar_windows",
        "calendar_rules",
        "resource_capabilities",
        "resources",
        "users",
        "sites",
        "organizations",
        "clusters",
    ):
        op.drop_table(table)
