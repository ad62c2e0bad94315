"""order shipments: each provider of an order marks its own part shipped

One row per (order, provider) whose part (its work orders of the order) has shipped, with
who marked it, when, and the note (tracking number). The order moves to ``shipped`` when
every provider's part has; see :mod:`sharefab.services.orders`. Orders shipped before this
revision have no rows (their ``shipped`` event covers every part). The DDL below is a frozen
copy of :class:`sharefab.storage.market_models.OrderShipment` at this revision.

Revision ID: 0010_order_shipments
Revises: 0009_quote_option_providers
Create Date: 2026-11-22 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_order_shipments"
down_revision: str | None = "0009_quote_option_providers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``order_shipments``."""
    op.create_table(
        "order_shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("provider_org_id", sa.Integer(), nullable=False),
        sa.Column("shipped_by_user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_shipments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_org_id"],
            ["organizations.id"],
            name=op.f("fk_order_shipments_provider_org_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["shipped_by_user_id"],
            ["users.id"],
            name=op.f("fk_order_shipments_shipped_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_shipments")),
        sa.UniqueConstraint(
            "order_id", "provider_org_id", name=op.f("uq_order_shipments_order_id_provider_org_id")
        ),
    )


def downgrade() -> None:
    """Drop ``order_shipments`` (the parts shipped of orders not yet shipped are lost)."""
    op.drop_table("order_shipments")
