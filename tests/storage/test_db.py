"""Engine options, URL handling, and the test database fixtures everyone relies on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, inspect, text
from sqlalchemy.pool import NullPool

from sharefab.storage.db import make_engine, normalize_url, upgrade_database


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30_000}


def test_sqlite_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    """A second writer cannot even begin while one holds a transaction (BEGIN IMMEDIATE);
    a reader using ``sqlite_begin="DEFERRED"`` still reads."""
    path = tmp_path / "lock.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        with engine.connect() as writer:
            writer.exec_driver_sql("SELECT 1")  # begins the transaction: takes the lock
            impatient = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    impatient.execute("BEGIN IMMEDIATE")
            finally:
                impatient.close()
            reader = engine.execution_options(sqlite_begin="DEFERRED")
            with reader.connect() as conn:
                assert conn.exec_driver_sql("SELECT x FROM t").scalar() == 1
    finally:
        engine.dispose()


def test_unknown_begin_mode_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        with (
            pytest.raises(ValueError, match="sqlite_begin"),
            engine.execution_options(sqlite_begin="LATER").connect() as conn,
        ):
            conn.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_one_database_for_every_thread() -> None:
    engine = make_engine("sqlite://")
    try:
        upgrade_database(engine)
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO clusters (name, region, description) VALUES ('S', '', '')")
            )

        def count() -> int:
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM clusters")).scalar_one())

        with ThreadPoolExecutor(1) as other_thread:
            assert other_thread.submit(count).result() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///var/x.db", "sqlite"),
    ],
)
def test_urls_are_normalized_to_psycopg3(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_get_a_clear_error(url: str) -> None:
    with pytest.raises(ValueError, match="database URL"):
        make_engine(url)


def test_upgrade_creates_the_sqlite_directory(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "sharefab.db"
    upgrade_database(f"sqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    try:
        assert "bookings" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_db_url_gives_a_migrated_empty_database(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM organizations")).scalar_one() == 0
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


@pytest.mark.postgres
def test_postgres_pool_resets_data_and_sequences(_postgres_pool: Any) -> None:
    name = _take_and_dirty(
        _postgres_pool,
        "INSERT INTO organizations (name, roles, created_at) VALUES ('Dirty Ltd', '[]', now())",
    )
    seen = _take_until(_postgres_pool, name)
    with _connect(_postgres_pool, name) as conn:
        assert conn.execute(text("SELECT count(*) FROM organizations")).scalar_one() == 0
        new_id = conn.execute(
            text(
                "INSERT INTO organizations (name, roles, created_at) "
                "VALUES ('Clean Ltd', '[]', now()) RETURNING id"
            )
        ).scalar_one()
        conn.rollback()
    assert new_id == 1
    for other in [*seen, name]:
        _postgres_pool.give_back(other)


@pytest.mark.postgres
def test_postgres_pool_replaces_a_database_whose_schema_changed(_postgres_pool: Any) -> None:
    name = _take_and_dirty(
        _postgres_pool, "ALTER TABLE bookings DROP CONSTRAINT ex_bookings_no_overlap"
    )
    taken = [_postgres_pool.take() for _ in range(2)]
    assert name not in taken
    count = text("SELECT count(*) FROM pg_constraint WHERE conname = 'ex_bookings_no_overlap'")
    for other in taken:
        with _connect(_postgres_pool, other) as conn:
            assert conn.execute(count).scalar_one() == 1
        _postgres_pool.give_back(other)


@contextmanager
def _connect(pool: Any, name: str) -> Iterator[Connection]:
    engine = create_engine(pool.url(name), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _take_and_dirty(pool: Any, sql: str) -> str:
    name = pool.take()
    with _connect(pool, name) as conn:
        conn.execute(text(sql))
        conn.commit()
    pool.give_back(name)
    return name


def _take_until(pool: Any, name: str) -> list[str]:
    """Take databases until ``name`` comes back; return the others taken (still held)."""
    others: list[str] = []
    for _ in range(5):
        got = pool.take()
        if got == name:
            return others
        others.append(got)
    raise AssertionError(f"{name} was not reused (got {others})")


@pytest.mark.postgres
def test_postgres_connection_cut_while_idle_is_replaced_on_reuse(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled connection the server cut (restart, failover, idle timeout) while it sat idle
    is pinged and replaced before use; without the ping the request would fail."""
    from sqlalchemy import exc as sa_exc

    from sharefab.storage import db

    engine = db.make_engine(postgres_url)
    admin = db.make_engine(postgres_url, null_pool=True)
    try:

        def cut_pooled_connection() -> None:
            with engine.connect() as conn:
                pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with admin.connect() as conn:
                assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
                conn.commit()

        monkeypatch.setattr(db, "PG_PING_IDLE_S", 0.0)  # every reuse counts as "was idle"
        cut_pooled_connection()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1

        monkeypatch.setattr(db, "PG_PING_IDLE_S", 3600.0)  # reused at once: not pinged
        cut_pooled_connection()
        with pytest.raises(sa_exc.OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        with engine.connect() as conn:  # the failed use invalidated the pool: fresh again
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
        admin.dispose()
