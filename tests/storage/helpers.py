"""Small helpers shared by the storage tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: ``make_resource(**columns) -> resource id`` (the fixture in ``conftest.py``).
MakeResource = Callable[..., int]


def at(hour: int, minute: int = 0, day: int = 2) -> datetime:
    """An aware UTC instant on 2026-03-<day> (a Monday for day=2)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)
