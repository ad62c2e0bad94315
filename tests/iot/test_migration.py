"""The 0002_telemetry migration: upgrade creates the tables, downgrade removes them, and the
ORM models of the telemetry area match the migrated schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from sharefab.storage.db import alembic_config, make_engine, upgrade_database
from sharefab.storage.models import Base

TABLES = {
    "telemetry",
    "telemetry_dead_letter",
    "device_credentials",
    "security_events",
    "usage_records",
}


def test_upgrade_downgrade_and_models_agree(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url)
    engine = make_engine(url, null_pool=True)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) >= TABLES
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
        assert diff == []
        key = inspect(conn).get_pk_constraint("telemetry")["constrained_columns"]
        assert key == ["resource_id", "message_id"]
    command.downgrade(alembic_config(url), "0001")
    with engine.connect() as conn:
        assert not TABLES & set(inspect(conn).get_table_names())
    engine.dispose()
