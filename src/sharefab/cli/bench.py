"""``sharefab bench ...``: the scheduler on benchmark instances."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks of the scheduling engine.", no_args_is_help=True)
