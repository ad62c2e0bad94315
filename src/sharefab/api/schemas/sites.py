"""Site schemas."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from sharefab.api.schemas.common import ORMModel, RequestModel, RowId, Text


class SiteCreate(RequestModel):
    """A new factory site of the caller's organization."""

    name: Text = Field(min_length=1, max_length=200)
    address: Text = Field(default="", max_length=1000)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    cluster_id: RowId | None = None


class SiteUpdate(RequestModel):
    """Fields to change; omitted fields stay as they are."""

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    address: Text | None = Field(default=None, max_length=1000)
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    cluster_id: RowId | None = None


class SitePublic(ORMModel):
    """A site as shown to its organization."""

    id: int
    org_id: int
    cluster_id: int | None
    name: str
    address: str
    lat: float | None
    lon: float | None
    created_at: datetime


class SitesPublic(BaseModel):
    """A page of sites."""

    data: list[SitePublic]
    count: int
