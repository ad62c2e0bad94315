"""Read access to the process taxonomy (no database)."""

from __future__ import annotations

from typing import Any

from sharefab.domain.taxonomy import UnknownCapability
from sharefab.services.errors import FieldError, NotFound
from sharefab.services.resources import taxonomy

NodeView = tuple[dict[str, Any], list[str]]


def _view(code: str) -> NodeView:
    tax = taxonomy()
    return tax.get(code).to_dict(), [c.code for c in tax.children(code)]


def search(q: str, *, limit: int, offset: int) -> tuple[list[NodeView], int, str]:
    """Nodes matching ``q`` by code, English or Chinese name or alias (all nodes when empty),
    the total count and the taxonomy version."""
    tax = taxonomy()
    found = tax.search(q, limit=len(tax)) if q.strip() else list(tax)
    return [_view(n.code) for n in found[offset : offset + limit]], len(found), tax.version


def get(code: str) -> NodeView:
    """Node ``code`` with its children's codes; :class:`NotFound` suggesting close codes."""
    try:
        return _view(code)
    except UnknownCapability as exc:
        error = NotFound("capability", repr(code))
        error.detail = str(exc)
        error.errors = [FieldError("code", str(exc))]
        raise error from exc
