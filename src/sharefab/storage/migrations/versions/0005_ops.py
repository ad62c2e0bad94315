"""optimization runs

Revision ID: 0005_ops
Revises: 0004_webhooks
Create Date: 2026-11-22 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_ops"
down_revision: str | None = "0004_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create the optimization_runs table."""
    op.create_table(
        "optimization_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("time_limit_s", sa.Float(), nullable=False),
        sa.Column("operations", sa.Integer(), nullable=False),
        sa.Column("kpis_before", _JSON, nullable=False),
        sa.Column("kpis_after", _JSON, nullable=False),
        sa.Column("moves", _JSON, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("finished_at", _UTC, nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'applied', 'dry_run', 'no_improvement', 'conflict', 'failed')",
            name=op.f("ck_optimization_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["clusters.id"],
            name=op.f("fk_optimization_runs_cluster_id_clusters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_optimization_runs_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimization_runs")),
    )
    op.create_index(op.f("ix_optimization_runs_cluster_id"), "optimization_runs", ["cluster_id"])


def downgrade() -> None:
    """Drop the optimization_runs table."""
    op.drop_table("optimization_runs")
