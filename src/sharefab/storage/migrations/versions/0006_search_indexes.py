"""search indexes: sites by (lat, lon), calendar windows by start time

Revision ID: 0006_search_indexes
Revises: 0005_ops
Create Date: 2026-11-22 00:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_search_indexes"
down_revision: str | None = "0005_ops"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index the distance search's bounding box and the availability search's time range."""
    op.create_index("ix_sites_lat_lon", "sites", ["lat", "lon"])
    op.create_index("ix_calendar_windows_start_at", "calendar_windows", ["start_at"])


def downgrade() -> None:
    """Drop the two search indexes."""
    op.drop_index("ix_calendar_windows_start_at", table_name="calendar_windows")
    op.drop_index("ix_sites_lat_lon", table_name="sites")
