"""Industrial clusters and parks (platform-wide; readable without signing in)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sharefab.api.deps import SessionDep
from sharefab.api.schemas.clusters import ClusterPublic, ClustersPublic
from sharefab.api.schemas.common import PROBLEM_RESPONSES, Offset
from sharefab.services import clusters as service

router = APIRouter(prefix="/clusters", tags=["clusters"], responses=PROBLEM_RESPONSES)


@router.get("")
def list_clusters(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> ClustersPublic:
    """All clusters, by name."""
    page = service.list_clusters(session, limit=limit, offset=offset)
    return ClustersPublic(
        data=[ClusterPublic.model_validate(c) for c in page.data], count=page.count
    )
