"""``sharefab import resources`` and ``sharefab export resources``.

Both use :mod:`sharefab.services.catalog_io` for validation, import and export; this module only
reads and writes files, resolves the organization and prints clear messages.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import typer
from rich.console import Console

from sharefab.cli.common import fail, friendly_errors

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

import_app = typer.Typer(help="Bulk import into the catalogue.", no_args_is_help=True)
export_app = typer.Typer(help="Bulk export of the catalogue.", no_args_is_help=True)

console = Console()
Format = Literal["csv", "json"]
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: SHAREFAB_DATABASE_URL or ./var/sharefab.db)."
    ),
]
OrgOption = Annotated[str, typer.Option("--org", help="Organization name or numeric id.")]


def _session(db: str | None) -> tuple[Engine, sessionmaker[Session]]:
    from sharefab.storage.db import (
        database_url_from_env,
        make_engine,
        make_session_factory,
        normalize_url,
    )

    url = normalize_url(db or database_url_from_env())
    is_file_db = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if is_file_db and not Path(str(url.database)).is_file():
        fail(f"no database at {url.database}: run 'sharefab seed' or 'sharefab serve' first")
    engine = make_engine(url, null_pool=True)
    return engine, make_session_factory(engine)


def resolve_org(session: Session, org: str) -> int:
    """The id of organization ``org`` (a name or an id); exits with a message if unknown."""
    from sqlalchemy import select

    from sharefab.storage.models import Organization

    text = org.strip()
    found = None
    if text.isdigit():
        found = session.scalar(select(Organization.id).where(Organization.id == int(text)))
    if found is None:
        found = session.scalar(select(Organization.id).where(Organization.name == text))
    if found is None:
        fail(f"unknown organization {org!r} (give its exact name or its id)")
    return int(found)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV file (or a JSON array when the name ends in ``.json``), each with
    its line (record) number; a bad header or malformed JSON exits with the problem."""
    from sharefab.services import catalog_io
    from sharefab.services.errors import InvalidInput

    if not path.exists():
        fail(f"file not found: {path}")
    if path.is_dir():
        fail(f"{path} is a directory, not a CSV file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text")
    if not text.strip():
        fail(f"{path} is empty: expected a header line with the column names")
    try:
        if path.suffix.lower() == ".json":
            return catalog_io.read_json(text)
        return catalog_io.read_csv(text)
    except InvalidInput as exc:
        for problem in exc.errors:
            err_console.print(f"{problem.field}: {problem.message}", highlight=False)
        fail(f"cannot read {path}: {exc.detail}" if not exc.errors else f"cannot read {path}")


@import_app.command("resources")
def import_resources_cmd(
    file: Annotated[Path, typer.Argument(help="CSV (or .json) file of resources.")],
    org: OrgOption,
    db: DbOption = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows even if some are bad.")
    ] = False,
) -> None:
    """Validate every row, report each problem as 'line N: field: reason', then import.

    Nothing is imported when any row is bad (exit code 1), unless --skip-invalid is given:
    then the good rows are imported, the bad ones reported, and the exit code is 2.
    """
    from sharefab.services import catalog_io

    with friendly_errors():
        rows = read_rows(file)
        engine, factory = _session(db)
        try:
            with factory() as session:
                org_id = resolve_org(session, org)
                try:
                    report = catalog_io.import_resources(
                        session, org_id, rows, skip_invalid=skip_invalid
                    )
                except catalog_io.CatalogImportError as exc:
                    for problem in exc.row_errors:
                        err_console.print(str(problem), highlight=False, soft_wrap=True)
                    bad = len({e.line for e in exc.row_errors})
                    fail(f"{bad} of {len(rows)} row(s) in {file} are invalid; nothing was imported")
        finally:
            engine.dispose()
        for problem in report.errors:
            err_console.print(str(problem), highlight=False, soft_wrap=True)
        sites = f" and {report.sites_created} new site(s)" if report.sites_created else ""
        console.print(f"Imported {report.created} resource(s){sites} from {file}.")
        if report.errors:
            console.print(f"Skipped {len(report.skipped_lines)} invalid row(s).")
            raise typer.Exit(2)


@export_app.command("resources")
def export_resources_cmd(
    org: OrgOption,
    db: DbOption = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Write an organization's resources as CSV (re-importable) or JSON."""
    from sharefab.services import catalog_io

    if fmt not in ("csv", "json"):
        fail(f"--format must be csv or json, not {fmt!r}")
    with friendly_errors():
        engine, factory = _session(db)
        try:
            with factory() as session:
                org_id = resolve_org(session, org)
                text = catalog_io.export_resources(session, org_id, cast(Format, fmt))
        finally:
            engine.dispose()
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
            err_console.print(f"Wrote {output}.")
