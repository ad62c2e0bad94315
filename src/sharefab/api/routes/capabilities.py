"""The process taxonomy (public reference data; no sign-in needed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sharefab.api.schemas.capabilities import CapabilitiesPublic, CapabilityPublic
from sharefab.api.schemas.common import PROBLEM_RESPONSES, Offset
from sharefab.services import capabilities as service

router = APIRouter(prefix="/capabilities", tags=["capabilities"], responses=PROBLEM_RESPONSES)


@router.get("")
def list_capabilities(
    q: Annotated[str, Query(max_length=200, description="English or Chinese name, or code")] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> CapabilitiesPublic:
    """Taxonomy nodes matching ``q`` (all nodes, in tree order, without ``q``)."""
    nodes, count, version = service.search(q, limit=limit, offset=offset)
    return CapabilitiesPublic(
        data=[CapabilitiesPublic.node(n, c) for n, c in nodes], count=count, version=version
    )


@router.get("/{code}")
def read_capability(code: str) -> CapabilityPublic:
    """One node; 404 with close codes suggested when ``code`` is unknown."""
    raw, children = service.get(code)
    return CapabilitiesPublic.node(raw, children)
