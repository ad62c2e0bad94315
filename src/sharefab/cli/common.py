"""What every ``sharefab`` command shares: clear error messages instead of tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console

DEFAULT_DB_URL = "sqlite:///var/sharefab.db"

err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _database_message(exc: Exception) -> str:
    text = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return (
            f"the database has no ShareFab schema ({text}); "
            "run 'sharefab seed' or 'sharefab serve' once to migrate it"
        )
    return f"database error: {text}"


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn the errors a user can cause (bad URL, unreachable or unmigrated database, bad
    input, missing file) into one clear line and a non-zero exit code."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from sharefab.services.errors import ServiceError

    try:
        yield
    except typer.Exit:
        raise
    except ServiceError as exc:
        fail(exc.detail)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        fail(f"{exc.strerror}: {exc.filename}")
    except DBAPIError as exc:
        fail(_database_message(exc))
    except SQLAlchemyError as exc:
        fail(f"database error: {exc}")
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", code=130)


def migrate(url: str) -> None:
    """Bring the schema at ``url`` to the newest revision, with a clear error on failure."""
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import OperationalError

    from sharefab.storage.db import normalize_url, upgrade_database

    shown = normalize_url(url).render_as_string(hide_password=True)
    try:
        upgrade_database(url)
    except OperationalError as exc:
        fail(f"cannot open the database {shown}: {_database_message(exc)}")
    except CommandError as exc:
        fail(f"cannot migrate the database {shown}: {exc}")
