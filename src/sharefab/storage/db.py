"""Engines, sessions and schema upgrades for SQLite (embedded default) and PostgreSQL.

SQLite engines follow the pysqlite recipe from the SQLAlchemy docs: the driver's own
transaction handling is switched off and a ``begin`` hook emits ``BEGIN IMMEDIATE`` (the
default, so every session transaction is a serialized write transaction and never fails late
with "database is locked") or ``BEGIN`` / ``BEGIN DEFERRED`` when the connection carries the
execution option ``sqlite_begin="DEFERRED"`` (read-mostly work)::

    reader = make_session_factory(engine.execution_options(sqlite_begin="DEFERRED"))

Every SQLite connection also gets WAL journaling (file databases), foreign keys on and a busy
timeout. PostgreSQL uses psycopg 3, a UTC session time zone, and pings a pooled connection
before reuse when it has been idle for :data:`PG_PING_IDLE_S` (see :func:`_install_pg_ping`).
"""

from __future__ import annotations

import os
import time
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, StaticPool

SQLITE_BUSY_TIMEOUT_S = 30.0
SqliteBegin = Literal["IMMEDIATE", "DEFERRED", "EXCLUSIVE"]
_SQLITE_BEGIN_MODES = ("IMMEDIATE", "DEFERRED", "EXCLUSIVE")


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL; plain ``postgres://`` / ``postgresql://`` use psycopg 3.

    Raises ``ValueError`` naming the problem for anything that is not SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ValueError(f"invalid database URL {str(url)!r}: {exc}") from exc
    backend = parsed.get_backend_name()
    plain_postgres = backend == "postgresql" and parsed.get_driver_name() in ("", "psycopg2")
    if backend == "postgres" or plain_postgres:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
            "use sqlite:///path.db or postgresql+psycopg://user@host/db"
        )
    return parsed


def _is_memory_sqlite(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or "mode=memory" in str(url)


def _install_sqlite_hooks(
    engine: Engine, *, wal: bool, foreign_keys: bool, default_begin: SqliteBegin
) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin hook, not pysqlite, decide when transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = str(conn.get_execution_options().get("sqlite_begin", default_begin)).upper()
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"sqlite_begin must be one of {_SQLITE_BEGIN_MODES}, got {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")


#: Connections a PostgreSQL engine keeps open (and as many more in a burst). A server process
#: runs up to 40 requests at once in worker threads; SQLAlchemy's default of 5 (+10 opened
#: and closed again per burst) made 32 concurrent clients reconnect constantly.
PG_POOL_SIZE = 20
#: Seconds a pooled PostgreSQL connection may sit idle before it is pinged on reuse.
PG_PING_IDLE_S = 5.0


def make_engine(
    url: str | URL,
    *,
    echo: bool = False,
    sqlite_begin: SqliteBegin = "IMMEDIATE",
    sqlite_foreign_keys: bool = True,
    null_pool: bool = False,
) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL with ShareFab's connection settings.

    ``sqlite_begin`` is the default ``BEGIN`` mode of SQLite transactions (see module doc);
    ``null_pool`` opens a fresh connection per checkout (scripts, migrations, tests). An
    in-memory SQLite URL (``sqlite://``) gets one connection shared by all threads.
    """
    parsed = normalize_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if null_pool:
        kwargs["poolclass"] = NullPool
    if parsed.get_backend_name() == "sqlite":
        memory = _is_memory_sqlite(parsed)
        if memory and not null_pool:
            # One in-memory database shared by every thread (e.g. a web server's workers).
            kwargs["poolclass"] = StaticPool
        elif parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
        engine = create_engine(parsed, **kwargs)
        _install_sqlite_hooks(
            engine, wal=not memory, foreign_keys=sqlite_foreign_keys, default_begin=sqlite_begin
        )
        return engine
    if not null_pool:
        kwargs["pool_size"], kwargs["max_overflow"] = PG_POOL_SIZE, PG_POOL_SIZE
    kwargs["connect_args"] = {"options": "-c timezone=UTC"}
    engine = create_engine(parsed, **kwargs)
    if not null_pool:
        _install_pg_ping(engine)
    return engine


def _install_pg_ping(engine: Engine) -> None:
    """Ping a pooled connection before reuse if it sat idle for :data:`PG_PING_IDLE_S`; a dead
    one is replaced (``DisconnectionError`` makes the pool connect afresh).

    ``pool_pre_ping`` pings at every checkout: a round trip per request, about a tenth of
    the round trips of a refused accept. A connection back in use within seconds was alive a
    moment ago; one idle for longer may have been cut by a database restart, a failover or a
    firewall, and is checked. (A restart in the seconds between two uses still fails that
    one request; SQLAlchemy then invalidates the whole pool.)
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PG_PING_IDLE_S:
            return  # fresh from connect, or in use moments ago
        try:
            engine.dialect.do_ping(dbapi)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"pooled connection was dead: {exc}") from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose sessions keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def migrations_path() -> Path:
    """Directory of the Alembic environment shipped inside the package."""
    return Path(str(resources.files("sharefab.storage") / "migrations"))


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic ``Config`` for the shipped migrations, pointed at ``url``.

    Without ``url`` the environment uses ``SHAREFAB_DATABASE_URL`` or the settings default.
    """
    ini = Path(str(resources.files("sharefab.storage") / "alembic.ini"))
    config = Config(str(ini)) if ini.is_file() else Config()
    config.set_main_option("script_location", str(migrations_path()))
    if url is not None:
        config.attributes["database_url"] = normalize_url(url).render_as_string(hide_password=False)
    return config


def upgrade_database(target: str | URL | Engine | None = None, revision: str = "heads") -> None:
    """Create or upgrade the schema to ``revision`` (default: every head).

    ``target`` is a database URL (default: ``SHAREFAB_DATABASE_URL`` or the settings default),
    or an ``Engine`` whose connection is used as is (needed for in-memory SQLite).
    ``heads`` keeps working while two new revisions briefly branch from the same parent;
    ``tests/storage/test_migrations.py`` fails until they are chained again.
    """
    if isinstance(target, Engine):
        config = alembic_config()
        with target.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
        return
    command.upgrade(alembic_config(target), revision)


def database_url_from_env() -> str:
    """``SHAREFAB_DATABASE_URL`` if set, else the configured default (SQLite under ./var)."""
    env = os.environ.get("SHAREFAB_DATABASE_URL")
    if env:
        return env
    from sharefab.config import Settings

    return Settings().database_url
