"""Write a generated demo cluster into the database, fast.

:func:`seed_database` migrates the schema, refuses to seed a database that already holds data
(unless ``reset=True``), turns :func:`sharefab.domain.demo_cluster.generate_demo_cluster`'s
plain dataclasses into rows with ids assigned up front, expands every recurring calendar rule
into concrete windows over the coming weeks, and inserts everything with SQLAlchemy Core
``insert()`` executemany in chunks, inside one transaction. 5,000 factories (~50,000
resources) take well under a minute on SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, text
from sqlalchemy.engine import Engine

from sharefab.services.errors import Conflict
from sharefab.services.seed_rows import SeedRows, demo_rows
from sharefab.storage.db import make_engine, upgrade_database
from sharefab.storage.models import (
    Base,
    Booking,
    CalendarRule,
    CalendarWindow,
    Cluster,
    Organization,
    Resource,
    ResourceCapability,
    Site,
    User,
)

#: ``progress(stage, done, total)`` is called as rows are written.
Progress = Callable[[str, int, int], None]

CHUNK_ROWS = 5_000

#: Insert order (parents before children) and the stage label shown for each table.
_TABLES: tuple[tuple[Table, str], ...] = (
    (Cluster.__table__, "clusters"),  # type: ignore[arg-type]
    (Organization.__table__, "organizations"),  # type: ignore[arg-type]
    (User.__table__, "users"),  # type: ignore[arg-type]
    (Site.__table__, "sites"),  # type: ignore[arg-type]
    (Resource.__table__, "resources"),  # type: ignore[arg-type]
    (ResourceCapability.__table__, "capabilities"),  # type: ignore[arg-type]
    (CalendarRule.__table__, "calendar rules"),  # type: ignore[arg-type]
    (CalendarWindow.__table__, "calendar windows"),  # type: ignore[arg-type]
    (Booking.__table__, "bookings"),  # type: ignore[arg-type]
)


@dataclass(slots=True)
class SeedSummary:
    """What was written, how long it took, and how to sign in."""

    url: str
    factories: int
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    password: str = ""
    logins: list[tuple[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Rows written per table (stage label -> count)."""
        return dict(self.rows)


def _is_empty(conn: Connection) -> bool:
    for table in (Organization.__table__, Cluster.__table__, Resource.__table__):
        if conn.scalar(select(func.count()).select_from(table)):
            return False
    return True


def database_is_empty(url: str) -> bool:
    """Whether the (migrated) database at ``url`` holds no organization, cluster or resource."""
    engine = make_engine(url, null_pool=True)
    try:
        with engine.connect() as conn:
            return _is_empty(conn)
    finally:
        engine.dispose()


def demo_logins(url: str, limit: int = 6) -> SeedSummary:
    """A few admin logins of an already seeded database, buyers first (for ``demo``)."""
    from sharefab.domain.demo_cluster import DEMO_PASSWORD

    engine = make_engine(url, null_pool=True)
    summary = SeedSummary(url=url, factories=0, seed=0, password=DEMO_PASSWORD)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Organization.name, Organization.roles, User.email)
                .join(User, User.org_id == Organization.id)
                .where(User.role == "admin", User.is_platform_operator.is_(False))
                .order_by(User.id)
                .limit(500)
            ).all()
    finally:
        engine.dispose()
    buyers = [(org, email) for org, roles, email in rows if "buyer" in (roles or [])]
    others = [(org, email) for org, roles, email in rows if "buyer" not in (roles or [])]
    summary.logins = [*buyers[: limit // 2], *others][:limit]
    return summary


def _reset(conn: Connection) -> None:
    """Delete every row of every ShareFab table (children first); the schema stays."""
    tables = list(reversed(Base.metadata.sorted_tables))
    if conn.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        return
    for table in tables:
        conn.execute(table.delete())


def _next_ids(conn: Connection) -> dict[str, int]:
    """The first free id of each seeded table (ids are assigned before inserting)."""
    return {
        table.name: int(conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
        for table, _ in _TABLES
    }


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _write(conn: Connection, rows: SeedRows, progress: Progress | None) -> dict[str, int]:
    written: dict[str, int] = {}
    for table, label in _TABLES:
        batch = rows.tables.get(table.name, [])
        done = 0
        if progress:
            progress(label, 0, len(batch))
        for chunk in _chunks(batch, CHUNK_ROWS):
            conn.execute(insert(table), list(chunk))
            done += len(chunk)
            if progress:
                progress(label, done, len(batch))
        written[label] = len(batch)
    return written


def _advance_sequences(conn: Connection) -> None:
    """Explicit ids bypass PostgreSQL sequences: move each past the largest id."""
    if conn.dialect.name != "postgresql":
        return
    for table, _ in _TABLES:
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f'COALESCE((SELECT MAX(id) FROM "{table.name}"), 0) + 1, false)'
            )
        )


def seed_database(
    url: str,
    factories: int = 40,
    seed: int = 7,
    now: datetime | None = None,
    progress: Progress | None = None,
    *,
    reset: bool = False,
    horizon_days: int = 21,
) -> SeedSummary:
    """Migrate ``url`` and load a deterministic demo cluster of ``factories`` factories.

    Raises :class:`~sharefab.services.errors.Conflict` when the database already holds data
    and ``reset`` is false; ``ValueError`` for a bad ``factories`` or ``horizon_days``.
    """
    if factories < 1:
        raise ValueError(f"factories must be at least 1, got {factories}")
    if not 1 <= horizon_days <= 92:
        raise ValueError(f"horizon_days must be between 1 and 92, got {horizon_days}")
    started = time.perf_counter()
    moment = (now or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)).astimezone(UTC)
    upgrade_database(url)
    engine: Engine = make_engine(url, null_pool=True)
    try:
        with engine.begin() as conn:
            if not _is_empty(conn):
                if not reset:
                    raise Conflict(
                        "the database already holds data; seeding again would mix two demo "
                        "clusters (use --reset to replace everything in it)"
                    )
                _reset(conn)
            rows = demo_rows(
                factories=factories,
                seed=seed,
                now=moment,
                horizon_days=horizon_days,
                first_ids=_next_ids(conn),
                progress=progress,
            )
            written = _write(conn, rows, progress)
            _advance_sequences(conn)
    finally:
        engine.dispose()
    return SeedSummary(
        url=url,
        factories=factories,
        seed=seed,
        rows=written,
        seconds=time.perf_counter() - started,
        password=rows.password,
        logins=rows.logins[:6],
    )
