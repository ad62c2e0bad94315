"""Shared fixtures. Service-backed tests skip when a service is missing, except under
``SHAREFAB_REQUIRE_SERVICES=1`` (CI), where they fail instead."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url
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
#
# ``db_url``          a fresh database migrated to Alembic head, once per test, parametrized
#                     over ``sqlite`` and ``postgres`` (test ids ``[sqlite]`` / ``[postgres]``).
#                     SQLite: the whole file of a database migrated once per session is copied
#                     into ``tmp_path``. PostgreSQL: one database migrated once per session is
#                     the template of a ``CREATE DATABASE ... TEMPLATE`` per test (about 60 ms),
#                     dropped (WITH FORCE) after the test. The PostgreSQL variant uses
#                     ``postgres_url``: it skips without PostgreSQL, or fails under
#                     SHAREFAB_REQUIRE_SERVICES=1, and is marked ``postgres``.
# ``engine``          ``sharefab.storage.db.make_engine(db_url)``, disposed after the test.
# ``session_factory`` ``make_session_factory(engine)``: ``with session_factory() as s, s.begin():``.
#
# To run only one backend: ``pytest -k sqlite`` / ``pytest -k postgres``. Tests that need a
# URL for their own engine or app (e.g. ``Settings(database_url=db_url)``) take ``db_url``.

DB_BACKENDS = ("sqlite", "postgres")
_PG_TEST_DB_PREFIX = "sftest_"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    # Drop databases left behind by test sessions that died (their pid is in the name).
    with admin.connect() as conn:
        names = conn.execute(
            text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
            {"p": f"{_PG_TEST_DB_PREFIX}%"},
        ).scalars()
        for name in list(names):
            pid = name.removeprefix(_PG_TEST_DB_PREFIX).split("_", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    yield admin
    admin.dispose()


def _new_pg_database_name() -> str:
    return f"{_PG_TEST_DB_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def _postgres_template(postgres_url: str, _postgres_admin: Engine) -> Iterator[str]:
    """Name of a PostgreSQL database migrated to head once per session (a template)."""
    from sqlalchemy import text

    from sharefab.storage.db import upgrade_database

    name = _new_pg_database_name()
    with _postgres_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        upgrade_database(make_url(postgres_url).set(database=name))
        yield name
    finally:
        with _postgres_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database at Alembic head (see the module comment above)."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "sharefab.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return

    from sqlalchemy import text

    postgres_url: str = request.getfixturevalue("postgres_url")
    admin: Engine = request.getfixturevalue("_postgres_admin")
    template_name: str = request.getfixturevalue("_postgres_template")
    name = _new_pg_database_name()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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
