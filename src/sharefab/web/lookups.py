"""Read-only name look-ups and small helpers the marketplace pages share."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharefab.services.errors import FieldError, ServiceError
from sharefab.storage.models import Organization, Resource, Site


def names_of(session: Session, model: Any, ids: Iterable[int]) -> dict[int, str]:
    """``{id: name}`` of the rows of ``model`` (Resource, Site or Organization) in ``ids``."""
    wanted = {int(i) for i in ids if isinstance(i, int) or str(i).isdigit()}
    if not wanted:
        return {}
    rows = session.execute(select(model.id, model.name).where(model.id.in_(wanted))).all()
    return {int(i): str(n) for i, n in rows}


def resource_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Resource names by id."""
    return names_of(session, Resource, ids)


def site_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Site names by id."""
    return names_of(session, Site, ids)


def org_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Organization names by id."""
    return names_of(session, Organization, ids)


def parse_instant(value: Any) -> datetime:
    """A stored ISO timestamp (or a datetime) as an aware datetime."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def error_map(exc: ServiceError) -> dict[str, str]:
    """A service error as ``{field: message}`` (the detail under ``""`` when no field)."""
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(e.field, e.message)
    if not out:
        out[""] = exc.detail
    return out


def error_lines(errors: dict[str, str], labels: dict[str, str] | None = None) -> list[str]:
    """``["Due date (due_at): is in the past", ...]``: each error naming its field."""
    labels = labels or {}
    lines = []
    for field, message in errors.items():
        if not field:
            lines.append(message)
            continue
        label = labels.get(field)
        lines.append(f"{label} ({field}): {message}" if label else f"{field}: {message}")
    return lines


def field_errors(errors: list[FieldError]) -> dict[str, str]:
    """``FieldError`` list as ``{field: message}``."""
    return {e.field: e.message for e in errors}
