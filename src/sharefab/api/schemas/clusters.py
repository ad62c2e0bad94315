"""Cluster schemas (clusters are platform-wide)."""

from __future__ import annotations

from pydantic import BaseModel

from sharefab.api.schemas.common import ORMModel


class ClusterPublic(ORMModel):
    """An industrial cluster or park."""

    id: int
    name: str
    region: str
    description: str
    lat: float | None
    lon: float | None


class ClustersPublic(BaseModel):
    """A page of clusters."""

    data: list[ClusterPublic]
    count: int
