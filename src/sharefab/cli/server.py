"""``sharefab serve``, ``seed`` and ``demo``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the server commands to the top-level app."""
