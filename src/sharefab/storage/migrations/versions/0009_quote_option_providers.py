"""quote option providers: index quote_options.provider_org_ids (GIN on PostgreSQL)

A provider lists the RFQs that reached it: the quote options whose ``provider_org_ids`` JSONB
array holds its organization (``provider_org_ids @> '[7]'``); the GIN index (``jsonb_path_ops``)
serves that containment test on PostgreSQL. SQLite has no GIN and filters with ``json_each``;
it gets a plain index of the same name so that both schemas match the ORM.

Revision ID: 0009_quote_option_providers
Revises: 0008_resource_names
Create Date: 2026-11-22 04:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_quote_option_providers"
down_revision: str | None = "0008_resource_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the index (GIN ``jsonb_path_ops`` on PostgreSQL)."""
    op.create_index(
        "ix_quote_options_provider_org_ids",
        "quote_options",
        ["provider_org_ids"],
        postgresql_using="gin",
        postgresql_ops={"provider_org_ids": "jsonb_path_ops"},
    )


def downgrade() -> None:
    """Drop the index."""
    op.drop_index("ix_quote_options_provider_org_ids", table_name="quote_options")
