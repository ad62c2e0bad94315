"""capacity version: resources.capacity_version bumped by triggers on bookings and windows

Every insert, relevant update and delete of a booking or calendar window sets its resource's
``capacity_version`` to a new platform-wide maximum in the same transaction (PostgreSQL: the
sequence ``capacity_version_seq`` and a plpgsql row trigger; SQLite: row triggers using
``max + 1``, SQLite serializing writers). Quoting's capacity cache reads the resources above the
version it has seen with one indexed query.

Revision ID: 0007_capacity_version
Revises: 0006_search_indexes
Create Date: 2026-11-22 01:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_capacity_version"
down_revision: str | None = "0006_search_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = {
    "bookings": "resource_id, unit, start_at, end_at, status",
    "calendar_windows": "resource_id, start_at, end_at",
}
_SQLITE_BUMP = (
    "UPDATE resources SET capacity_version = "
    "(SELECT coalesce(max(capacity_version), 0) + 1 FROM resources) WHERE id IN ({ids})"
)
#: Frozen copies of ``sharefab.storage.models`` capacity DDL at this revision.
SQLITE_TRIGGERS = tuple(
    ddl
    for table, columns in _TABLES.items()
    for ddl in (
        f"CREATE TRIGGER tr_{table}_capacity_insert AFTER INSERT ON {table} "
        f"BEGIN {_SQLITE_BUMP.format(ids='NEW.resource_id')}; END",
        f"CREATE TRIGGER tr_{table}_capacity_update AFTER UPDATE OF {columns} ON {table} "
        f"BEGIN {_SQLITE_BUMP.format(ids='OLD.resource_id, NEW.resource_id')}; END",
        f"CREATE TRIGGER tr_{table}_capacity_delete AFTER DELETE ON {table} "
        f"BEGIN {_SQLITE_BUMP.format(ids='OLD.resource_id')}; END",
    )
)
POSTGRES_FUNCTION = """CREATE OR REPLACE FUNCTION bump_capacity_version()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE resources SET capacity_version = nextval('capacity_version_seq')
        WHERE id = OLD.resource_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.resource_id <> OLD.resource_id) THEN
        UPDATE resources SET capacity_version = nextval('capacity_version_seq')
        WHERE id = NEW.resource_id;
    END IF;
    RETURN NULL;
END $$"""


def upgrade() -> None:
    """Add the column, its index, and the triggers (plus sequence and function on PostgreSQL)."""
    is_postgres = op.get_context().dialect.name == "postgresql"
    op.add_column(
        "resources",
        sa.Column("capacity_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.create_index(op.f("ix_resources_capacity_version"), "resources", ["capacity_version"])
    if is_postgres:
        op.execute("CREATE SEQUENCE capacity_version_seq")
        op.execute(POSTGRES_FUNCTION)
        for table, columns in _TABLES.items():
            op.execute(
                f"CREATE TRIGGER tr_{table}_capacity AFTER INSERT OR DELETE OR UPDATE OF "
                f"{columns} ON {table} FOR EACH ROW EXECUTE FUNCTION bump_capacity_version()"
            )
    else:
        for ddl in SQLITE_TRIGGERS:
            op.execute(ddl)


def downgrade() -> None:
    """Drop the triggers, function, sequence, index and column."""
    is_postgres = op.get_context().dialect.name == "postgresql"
    if is_postgres:
        for table in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_capacity ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_capacity_version()")
        op.execute("DROP SEQUENCE IF EXISTS capacity_version_seq")
    else:
        for table in _TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_capacity_{event}")
    op.drop_index(op.f("ix_resources_capacity_version"), table_name="resources")
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_column("capacity_version")
