"""Alembic environment for ShareFab (shipped in the package).

The database URL is, in order: a ``connection`` passed in ``config.attributes`` (tests),
``config.attributes["database_url"]`` (``sharefab.storage.db.upgrade_database``),
``SHAREFAB_DATABASE_URL``, ``sqlalchemy.url`` from the ini file, the settings default.
SQLite migrations run in batch mode (table rebuilds) with foreign keys off.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from sharefab.storage import models
from sharefab.storage.db import database_url_from_env, make_engine

config = context.config
target_metadata = models.Base.metadata

if config.config_file_name is not None and "database_url" not in config.attributes:
    # Only the alembic command line configures logging; the application keeps its own.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    ini_url = config.get_main_option("sqlalchemy.url")
    from os import environ

    if environ.get("SHAREFAB_DATABASE_URL") or not ini_url:
        return database_url_from_env()
    return ini_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``)."""
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=_database_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations over a live connection, in one transaction."""
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        _configure(given)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_database_url(), sqlite_foreign_keys=False, null_pool=True)
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
