"""``sharefab import resources`` and ``sharefab export resources``."""

from __future__ import annotations

import typer

import_app = typer.Typer(help="Bulk import into the catalogue.", no_args_is_help=True)
export_app = typer.Typer(help="Bulk export of the catalogue.", no_args_is_help=True)
