"""The capacity change log: one row per resource whose bookings or calendar windows changed.

Database triggers on ``bookings`` and ``calendar_windows`` append a row to ``capacity_changes``
for every insert, relevant update (resource, unit, start, end, status; start and end of a
window) and delete, whoever the writer is (the marketplace, the optimiser, an operator's raw
SQL). Writing the log is an INSERT only: no existing row is locked or updated, so concurrent
booking writers never wait on each other because of it (an earlier design that bumped a
version column on ``resources`` made concurrent raw inserts deadlock on PostgreSQL).
Quoting's capacity cache (:mod:`sharefab.services.capacity`) reads ``max(id)`` and the
resources logged above the id it has seen. Rows older than a few minutes are pruned
(:func:`sharefab.services.capacity.prune_changes`).

* SQLite: row triggers; ids come from ``AUTOINCREMENT`` (never reused after pruning) and grow
  in commit order since SQLite runs one writer at a time.
* PostgreSQL: bookings log in BEFORE row triggers (see :func:`postgres_triggers`); windows in
  statement triggers with transition tables for inserts and deletes (one row per resource per
  statement, cheap for bulk loads) and a row trigger for updates. Ids are allocated at write
  time, so a transaction may commit after a higher id is visible; the cache handles that (see
  its module doc).

Registered on ``Base.metadata`` by one import line in :mod:`sharefab.storage.models`; created
by the migration ``0007_capacity_changes`` (frozen copies of the DDL below live there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DDL, BigInteger, Integer, event, text
from sqlalchemy.orm import Mapped, mapped_column

from sharefab.storage.models import Base, Booking, CalendarWindow

#: BIGINT on PostgreSQL; INTEGER on SQLite (the rowid alias, with AUTOINCREMENT).
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class CapacityChange(Base):
    """The bookings or windows of ``resource_id`` changed (no foreign key: a deleted
    resource's bookings log their deletion too, and an insert here locks nothing)."""

    __tablename__ = "capacity_changes"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    resource_id: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(server_default=text("CURRENT_TIMESTAMP"))


#: Columns whose update changes a resource's capacity, per logged table.
CAPACITY_COLUMNS = {
    "bookings": "resource_id, unit, start_at, end_at, status",
    "calendar_windows": "resource_id, start_at, end_at",
}
_SQLITE_LOG = "INSERT INTO capacity_changes (resource_id) VALUES ({rid})"
_SQLITE_LOG_NEW = (
    "INSERT INTO capacity_changes (resource_id) "
    "SELECT NEW.resource_id WHERE NEW.resource_id <> OLD.resource_id"
)


def sqlite_triggers(table: str) -> tuple[str, ...]:
    """SQLite row triggers logging every capacity change of ``table``."""
    columns = CAPACITY_COLUMNS[table]
    return (
        f"CREATE TRIGGER tr_{table}_capacity_insert AFTER INSERT ON {table} "
        f"BEGIN {_SQLITE_LOG.format(rid='NEW.resource_id')}; END",
        f"CREATE TRIGGER tr_{table}_capacity_update AFTER UPDATE OF {columns} ON {table} "
        f"BEGIN {_SQLITE_LOG.format(rid='OLD.resource_id')}; {_SQLITE_LOG_NEW}; END",
        f"CREATE TRIGGER tr_{table}_capacity_delete AFTER DELETE ON {table} "
        f"BEGIN {_SQLITE_LOG.format(rid='OLD.resource_id')}; END",
    )


#: PostgreSQL: the statement-level function (inserts and deletes, via a transition table named
#: ``changed_rows``) and the row-level function (updates).
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


def postgres_triggers(table: str) -> tuple[str, ...]:
    """PostgreSQL triggers logging every capacity change of ``table``. Bookings log in BEFORE
    row triggers: the log row is written before the booking row exists, so the time during
    which concurrent writers see the new booking row in progress (and wait on it while
    checking the exclusion constraint) is not lengthened; a longer window made two waiting
    raw inserts deadlock now and then instead of one failing on the constraint."""
    columns = CAPACITY_COLUMNS[table]
    if table == "bookings":
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


def _register(table_name: str) -> None:
    """Create the triggers with ``create_all`` (migration 0007 does it for migrated databases)."""
    table = {"bookings": Booking, "calendar_windows": CalendarWindow}[table_name].__table__
    for ddl in sqlite_triggers(table_name):
        event.listen(table, "after_create", DDL(ddl).execute_if(dialect="sqlite"))
    for ddl in (*POSTGRES_FUNCTIONS, *postgres_triggers(table_name)):
        event.listen(table, "after_create", DDL(ddl).execute_if(dialect="postgresql"))


for _name in CAPACITY_COLUMNS:
    _register(_name)
