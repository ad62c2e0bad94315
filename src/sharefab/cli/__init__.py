"""The ``sharefab`` command. Each sub-area registers its commands from its own module."""

from __future__ import annotations

import typer

from sharefab.cli import bench, catalog, server

app = typer.Typer(
    name="sharefab",
    help="ShareFab: shared manufacturing capacity, quoted, scheduled, booked and settled.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
server.register(app)
app.add_typer(catalog.import_app, name="import")
app.add_typer(catalog.export_app, name="export")
app.add_typer(bench.app, name="bench")

from sharefab.cli import iot  # noqa: E402

iot.register(app)

from sharefab.cli import ops  # noqa: E402

ops.register(app)

__all__ = ["app"]
