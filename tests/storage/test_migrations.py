"""Alembic migrations build the schema from empty on both backends and match the ORM."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from sharefab.storage.db import alembic_config, make_engine, upgrade_database
from sharefab.storage.models import Base


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database (no tables, no extensions installed by us)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin: Engine = request.getfixturevalue("_postgres_admin")
    pool = request.getfixturevalue("_postgres_pool")
    name = f"sftest_{os.getpid()}_empty_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pool.url(name)
    finally:
        pool.discard(name)  # dropped with the pool's databases at the end of the session


def _tables(url: str) -> set[str]:
    engine = make_engine(url, null_pool=True)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _current_revision(url: str) -> str | None:
    engine = make_engine(url, null_pool=True)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_migrations_form_one_chain() -> None:
    """Each area chains its revision after the current head: exactly one head, no branches."""
    script = ScriptDirectory.from_config(alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1, f"several Alembic heads {heads}: set down_revision to chain them"
    revisions = list(script.walk_revisions())
    assert [r.down_revision for r in revisions].count(None) == 1


def test_upgrade_from_empty_creates_every_table(empty_db_url: str) -> None:
    assert _tables(empty_db_url) == set()
    upgrade_database(empty_db_url)
    assert _tables(empty_db_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert _current_revision(empty_db_url) == _head()


def test_downgrade_to_empty_and_upgrade_again(empty_db_url: str) -> None:
    upgrade_database(empty_db_url)
    command.downgrade(alembic_config(empty_db_url), "base")
    assert _tables(empty_db_url) == {"alembic_version"}
    upgrade_database(empty_db_url)
    assert _tables(empty_db_url) >= set(Base.metadata.tables)


def test_alembic_command_line_upgrades_from_empty(empty_db_url: str) -> None:
    """``alembic -c <shipped ini> upgrade head`` with the URL from SHAREFAB_DATABASE_URL."""
    ini = Path(alembic_config().config_file_name or "")
    assert ini.is_file()
    env = {**os.environ, "SHAREFAB_DATABASE_URL": empty_db_url}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _current_revision(empty_db_url) == _head()


def test_orm_models_and_migrations_agree(engine: Engine) -> None:
    """Autogenerate finds nothing to add, drop or alter after ``upgrade head``."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_has_the_overlap_exclusion_constraint(engine: Engine) -> None:
    with engine.connect() as conn:
        definition = conn.execute(
            text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conname = 'ex_bookings_no_overlap' AND contype = 'x'"
            )
        ).scalar_one()
        gist = conn.execute(
            text("SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'")
        ).scalar_one()
    assert "EXCLUDE USING gist" in definition
    assert "tstzrange(start_at, end_at, '[)'::text) WITH &&" in definition
    assert "cancelled" in definition
    assert gist == 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_has_the_overlap_triggers(engine: Engine) -> None:
    with engine.connect() as conn:
        triggers = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'bookings'")
        ).scalars()
        assert set(triggers) == {
            "tr_bookings_no_overlap_insert",
            "tr_bookings_no_overlap_update",
            *(f"tr_bookings_capacity_{op}" for op in ("insert", "update", "delete")),
        }


def test_create_all_builds_the_same_guard_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'create_all.db'}")
    try:
        Base.metadata.create_all(engine)
        with engine.connect() as conn:
            count = conn.execute(
                text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert count == 2 + 6  # the overlap guard, and the capacity change log (bookings, windows)


def test_offline_sql_for_postgres_contains_the_exclusion_constraint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = alembic_config("postgresql+psycopg://offline@localhost/offline")
    command.upgrade(config, "0001", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE EXTENSION IF NOT EXISTS btree_gist" in sql
    assert "EXCLUDE USING gist" in sql
