"""Shared fixtures. Service-backed tests skip when a service is missing, except under
``SHAREFAB_REQUIRE_SERVICES=1`` (CI), where they fail instead."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

REQUIRE_SERVICES = os.environ.get("SHAREFAB_REQUIRE_SERVICES", "") not in ("", "0", "false")
POSTGRES_URL = os.environ.get(
    "SHAREFAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MQTT_HOST = os.environ.get("SHAREFAB_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("SHAREFAB_TEST_MQTT_PORT", "1883"))


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def service_missing(what: str) -> None:
    """Skip the calling test, or fail it when services are required."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (SHAREFAB_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{what} not reachable")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a reachable PostgreSQL database for tests."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any connection failure means "not reachable"
        service_missing(f"PostgreSQL at {POSTGRES_URL} ({exc.__class__.__name__})")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    """(host, port) of a reachable MQTT broker."""
    if not _port_open(MQTT_HOST, MQTT_PORT):
        service_missing(f"MQTT broker at {MQTT_HOST}:{MQTT_PORT}")
    return MQTT_HOST, MQTT_PORT


# --- Database fixtures (storage) -------------------------------------------------------------

_PG_TEST_DB_PREFIX = "sftest_"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _new_pg_database_name() -> str:
    return f"{_PG_TEST_DB_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:12]}"


# One text that changes whenever a test changed the schema of its database (tables, columns,
# constraints, indexes, sequences, extensions, triggers, functions, types, Alembic revision).
_PG_SCHEMA_FINGERPRINT = """
SELECT md5(concat_ws('|',
  (SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ','
                     ORDER BY n.nspname, c.relname)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'),
  (SELECT string_agg(c.relname || '.' || a.attname || ':' || a.atttypid::text
                     || ':' || a.attnotnull::text, ',' ORDER BY c.relname, a.attnum)
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped),
  (SELECT string_agg(conname || ':' || contype::text || ':' || pg_get_constraintdef(oid), ','
                     ORDER BY conname)
     FROM pg_constraint WHERE connamespace = 'public'::regnamespace),
  (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension),
  (SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal),
  (SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc
    WHERE pronamespace = 'public'::regnamespace),
  (SELECT string_agg(typname, ',' ORDER BY typname) FROM pg_type
    WHERE typnamespace = 'public'::regnamespace),
  (SELECT string_agg(version_num, ',' ORDER BY version_num) FROM public.alembic_version)
))
"""
_PG_USER_TABLES = """
SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
 WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
   AND NOT (schemaname = 'public' AND tablename = 'alembic_version')
"""
# One round trip: refuse if the schema changed, else empty every table (foreign-key triggers
# off) and restart every sequence. ``{expected}`` is the template's fingerprint (hex digits).
_PG_RESET = (
    """
DO $reset$
DECLARE t text;
BEGIN
  SET LOCAL lock_timeout = '5s';
  IF ("""
    + _PG_SCHEMA_FINGERPRINT.strip()
    + """) IS DISTINCT FROM '{expected}' THEN
    RAISE EXCEPTION 'schema changed during the test';
  END IF;
  SET LOCAL session_replication_role = replica;
  FOR t IN """
    + _PG_USER_TABLES.strip()
    + """ LOOP
    EXECUTE 'DELETE FROM ' || t;
  END LOOP;
  PERFORM setval(format('%I.%I', schemaname, sequencename), start_value, false)
     FROM pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema');
END
$reset$
"""
)


class PostgresDatabasePool:
    """Per-test PostgreSQL databases, each indistinguishable from a fresh migrated one.

    The first databases are cloned (``CREATE DATABASE ... TEMPLATE``) from a template migrated
    once per session. A used database is then reset and reused: other connections to it are
    terminated, every table is emptied (``DELETE`` with foreign-key triggers off) and every
    sequence restarts, after checking that its schema fingerprint still equals the template's.
    A database whose schema a test changed, or any reset that fails, is dropped and replaced by
    a new clone; reuse is off entirely if the migrations seed rows. One background thread does
    this work while the next test runs, so a test rarely waits. Test databases use
    ``synchronous_commit = off`` (durability does not matter here).
    """

    def __init__(self, admin: Engine, server_url: URL, template: str) -> None:
        self._admin = admin
        self._server_url = server_url
        self._template = template
        self._fingerprint: str | None = None
        self._reusable = False
        self.clones = 0
        self.resets = 0
        self._discarded: list[str] = []
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sharefab-testdb")
        self._ready: deque[Future[str]] = deque([self._worker.submit(self._create)])

    def url(self, name: str) -> str:
        """The URL of database ``name`` on the test server."""
        return self._server_url.set(database=name).render_as_string(hide_password=False)

    def _create(self) -> str:
        from sqlalchemy import text

        name = _new_pg_database_name()
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"'))
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        self.clones += 1
        if self._fingerprint is None:
            self._inspect_template_copy(name)
        return name

    def _inspect_template_copy(self, name: str) -> None:
        from sqlalchemy import create_engine, text

        eng = create_engine(self.url(name), poolclass=NullPool)
        try:
            with eng.connect() as conn:
                self._fingerprint = conn.execute(text(_PG_SCHEMA_FINGERPRINT)).scalar_one()
                tables = conn.execute(text(_PG_USER_TABLES)).scalars().all()
                seeded = any(
                    conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {t})")).scalar_one()
                    for t in tables
                )
            self._reusable = not seeded
        finally:
            eng.dispose()

    def _reset(self, name: str) -> None:
        from sqlalchemy import create_engine, text

        with self._admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        eng = create_engine(self.url(name), poolclass=NullPool)
        try:
            with eng.begin() as conn:
                conn.execute(text(_PG_RESET.format(expected=self._fingerprint)))
        finally:
            eng.dispose()
        self.resets += 1

    def _recycle(self, name: str) -> str:
        if self._reusable:
            try:
                self._reset(name)
                return name
            except Exception:  # any failure: fall back to a brand-new clone
                pass
        self.discard(name)
        return self._create()

    def take(self) -> str:
        """Name of a fresh migrated database for one test."""
        if not self._ready:
            self._ready.append(self._worker.submit(self._create))
        name = self._ready.popleft().result()
        if not self._ready:  # prepare the next one while this test runs
            self._ready.append(self._worker.submit(self._create))
        return name

    def give_back(self, name: str) -> None:
        """Reset (or replace) a used database in the background for a later test."""
        self._ready.append(self._worker.submit(self._recycle, name))

    def discard(self, name: str) -> None:
        """Leave database ``name`` to be dropped at the end of the session (each DROP DATABASE
        waits for a checkpoint, seconds on a busy server; at the end they share one)."""
        self._discarded.append(name)

    def close(self) -> list[str]:
        """Stop the background work; return the names of the pool's databases to drop."""
        self._worker.shutdown(wait=True)
        names = [f.result() for f in self._ready if f.exception() is None]
        self._ready.clear()
        return names + self._discarded


def _drop_databases(admin: Engine, names: list[str]) -> None:
    """Drop databases in parallel (each DROP DATABASE waits for a checkpoint; they share it)."""
    from sqlalchemy import text

    def drop(name: str) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    if names:
        with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
            list(pool.map(drop, names))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session (copied per test)."""
    from sharefab.storage.db import upgrade_database

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_admin(postgres_url: str) -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the test server for CREATE/DROP DATABASE."""
    from sqlalchemy import create_engine

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield admin
    admin.dispose()


def _stale_test_databases(admin: Engine) -> list[str]:
    """Test databases of sessions that died (their pid is in the name)."""
    from sqlalchemy import text

    with admin.connect() as conn:
        names = conn.execute(
            text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
            {"p": f"{_PG_TEST_DB_PREFIX}%"},
        ).scalars()
        stale = []
        for name in names:
            pid = name.removeprefix(_PG_TEST_DB_PREFIX).split("_", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                stale.append(name)
    return stale


@pytest.fixture(scope="session")
def _postgres_pool(postgres_url: str, _postgres_admin: Engine) -> Iterator[PostgresDatabasePool]:
    """A template database migrated to head once per session, and the pool serving tests."""
    from sqlalchemy import text

    from sharefab.storage.db import upgrade_database

    template = _new_pg_database_name()
    with _postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{template}"'))
    pool: PostgresDatabasePool | None = None
    try:
        upgrade_database(make_url(postgres_url).set(database=template))
        pool = PostgresDatabasePool(_postgres_admin, make_url(postgres_url), template)
        yield pool
    finally:
        names = [template, *_stale_test_databases(_postgres_admin)]
        if pool is not None:
            names += pool.close()
        _drop_databases(_postgres_admin, names)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database migrated to Alembic head, one per test, on both backends.

    Parametrized over ``sqlite`` and ``postgres`` (test ids ``[sqlite]`` / ``[postgres]``;
    select one with ``-k sqlite``). Pin one backend for a test with
    ``@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)`` (and
    ``@pytest.mark.postgres``).

    - SQLite: a copy, in ``tmp_path``, of a file migrated once per session.
    - PostgreSQL: a database cloned from one migrated once per session, or a used one reset
      to the same state (emptied, sequences restarted, schema verified), prepared in the
      background (see :class:`PostgresDatabasePool`). Uses ``postgres_url``: skips without
      PostgreSQL, fails under ``SHAREFAB_REQUIRE_SERVICES=1``.

    Related fixtures: ``engine`` (``sharefab.storage.db.make_engine(db_url)``, disposed after
    the test) and ``session_factory`` (``make_session_factory(engine)``; use
    ``with session_factory() as s, s.begin(): ...``). Code that builds its own engine or app
    takes ``db_url`` (e.g. ``Settings(database_url=db_url)``) and must dispose its engine.
    """
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "sharefab.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return

    pool: PostgresDatabasePool = request.getfixturevalue("_postgres_pool")
    name = pool.take()
    try:
        yield pool.url(name)
    finally:
        pool.give_back(name)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """``make_engine(db_url)``, disposed after the test."""
    from sharefab.storage.db import make_engine

    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine`` (``expire_on_commit=False``)."""
    from sharefab.storage.db import make_session_factory

    return make_session_factory(engine)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with small cost parameters: same code path, a fraction of the CPU time."""
    from argon2 import PasswordHasher

    from sharefab.services import passwords

    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture(autouse=True)
def fresh_market_caches() -> Iterator[None]:
    """Reused test databases restart their ids: never let one test see another's quote caches."""
    from sharefab.services import credit
    from sharefab.services.capacity import CACHE

    CACHE.clear()
    credit.clear_cache()
    yield
    CACHE.clear()
    credit.clear_cache()
