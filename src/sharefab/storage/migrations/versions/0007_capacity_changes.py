"""capacity changes: an append-only log of the resources whose bookings or windows changed

Triggers on ``bookings`` and ``calendar_windows`` INSERT one row per changed resource into
``capacity_changes`` (no row of any other table is locked or updated). Quoting's capacity cache
reads the resources logged above the id it has seen. See
:mod:`sharefab.storage.capacity_models`; the DDL below is a frozen copy of it at this revision.

Revision ID: 0007_capacity_changes
Revises: 0006_search_indexes
Create Date: 2026-11-22 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_capacity_changes"
down_revision: str | None = "0006_search_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = {
    "bookings": "resource_id, unit, start_at, end_at, status",
    "calendar_windows": "resource_id, start_at, end_at",
}
_SQLITE_LOG = "INSERT INTO capacity_changes (resource_id) VALUES ({rid})"
_SQLITE_LOG_NEW = (
    "INSERT INTO capacity_changes (resource_id) "
    "SELECT NEW.resource_id WHERE NEW.resource_id <> OLD.resource_id"
)
POSTGRES_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION log_capacity_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO capacity_changes (resource_id) SELECT DISTINCT resource_id FROM changed_rows;
    RETURN NULL;
END $$""",
    """CREATE OR REPLACE FUNCTION log_capacity_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO capacity_changes (resource_id) VALUES (OLD.resource_id);
    IF NEW.resource_id <> OLD.resource_id THEN
        INSERT INTO capacity_changes (resource_id) VALUES (NEW.resource_id);
    END IF;
    RETURN NULL;
END $$""",
    """CREATE OR REPLACE FUNCTION log_booking_capacity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO capacity_changes (resource_id) VALUES (OLD.resource_id);
    END IF;
    IF TG_OP = 'INSERT' OR NEW.resource_id <> OLD.resource_id THEN
        INSERT INTO capacity_changes (resource_id) VALUES (NEW.resource_id);
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$""",
)


def _sqlite_triggers(table: str, columns: str) -> tuple[str, ...]:
    return (
        f"CREATE TRIGGER tr_{table}_capacity_insert AFTER INSERT ON {table} "
        f"BEGIN {_SQLITE_LOG.format(rid='NEW.resource_id')}; END",
        f"CREATE TRIGGER tr_{table}_capacity_update AFTER UPDATE OF {columns} ON {table} "
        f"BEGIN {_SQLITE_LOG.format(rid='OLD.resource_id')}; {_SQLITE_LOG_NEW}; END",
        f"CREATE TRIGGER tr_{table}_capacity_delete AFTER DELETE ON {table} "
        f"BEGIN {_SQLITE_LOG.format(rid='OLD.resource_id')}; END",
    )


def _postgres_triggers(table: str, columns: str) -> tuple[str, ...]:
    if table == "bookings":  # BEFORE row triggers (see capacity_models.postgres_triggers)
        return tuple(
            f"CREATE TRIGGER tr_bookings_capacity_{op} BEFORE {event} ON bookings "
            "FOR EACH ROW EXECUTE FUNCTION log_booking_capacity()"
            for op, event in (
                ("insert", "INSERT"),
                ("update", f"UPDATE OF {columns}"),
                ("delete", "DELETE"),
            )
        )
    return (
        f"CREATE TRIGGER tr_{table}_capacity_insert AFTER INSERT ON {table} "
        "REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION log_capacity_rows()",
        f"CREATE TRIGGER tr_{table}_capacity_delete AFTER DELETE ON {table} "
        "REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT "
        "EXECUTE FUNCTION log_capacity_rows()",
        f"CREATE TRIGGER tr_{table}_capacity_update AFTER UPDATE OF {columns} ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION log_capacity_update()",
    )


def upgrade() -> None:
    """Create the log table, then the trigger functions (PostgreSQL) and the triggers."""
    is_postgres = op.get_context().dialect.name == "postgresql"
    op.create_table(
        "capacity_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_changes")),
        sqlite_autoincrement=True,
    )
    if is_postgres:
        for ddl in POSTGRES_FUNCTIONS:
            op.execute(ddl)
    for table, columns in _COLUMNS.items():
        triggers = _postgres_triggers if is_postgres else _sqlite_triggers
        for ddl in triggers(table, columns):
            op.execute(ddl)


def downgrade() -> None:
    """Drop the triggers, the functions (PostgreSQL) and the table."""
    is_postgres = op.get_context().dialect.name == "postgresql"
    for table in _COLUMNS:
        for kind in ("insert", "update", "delete"):
            on = f" ON {table}" if is_postgres else ""
            op.execute(f"DROP TRIGGER IF EXISTS tr_{table}_capacity_{kind}{on}")
    if is_postgres:
        op.execute("DROP FUNCTION IF EXISTS log_capacity_rows()")
        op.execute("DROP FUNCTION IF EXISTS log_capacity_update()")
        op.execute("DROP FUNCTION IF EXISTS log_booking_capacity()")
    op.drop_table("capacity_changes")
