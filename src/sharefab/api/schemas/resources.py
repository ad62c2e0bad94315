"""Resource schemas: a shareable machine, line, tool, instrument, team, ... with capabilities."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from sharefab.api.schemas.common import JsonObject, Minor, ORMModel, RequestModel, RowId, Text

ResourceKind = Literal[
    "machine", "line", "tool", "instrument", "service_team", "lab", "vehicle", "storage"
]
ResourceCategory = Literal["manufacturing", "innovation", "service"]
MAX_DESCRIPTION = 10_000


class CapabilityOffer(RequestModel):
    """A taxonomy capability the resource offers, with its attribute values
    (e.g. ``{"envelope_mm": [500, 400, 300], "tolerance_mm": 0.01, "materials": ["steel"]}``)."""

    code: Text = Field(
        min_length=1, max_length=200, examples=["separating.machining.milling.5axis"]
    )
    attributes: JsonObject = Field(default_factory=dict)


class CapabilityOfferPublic(ORMModel):
    """A capability offered by a resource."""

    code: str
    attributes: dict[str, Any]


class ResourceCreate(RequestModel):
    """A new resource at one of the caller's sites. Money is integer minor units (fen for CNY)."""

    site_id: RowId
    name: Text = Field(min_length=1, max_length=200)
    kind: ResourceKind = "machine"
    category: ResourceCategory = "manufacturing"
    capabilities: list[CapabilityOffer] = Field(min_length=1)
    hourly_rate_minor: Minor = Field(description="price per hour in minor units")
    setup_cost_minor: Minor = 0
    currency: str = Field(default="CNY", pattern="^[A-Za-z]{3}$")
    speed_factor: float = Field(default=1.0, gt=0, le=100, allow_inf_nan=False)
    capacity: int = Field(default=1, ge=1, le=10_000, description="identical parallel units")
    is_public: bool = True
    lease_terms: JsonObject | None = None
    description: Text = Field(default="", max_length=MAX_DESCRIPTION)


class ResourceUpdate(RequestModel):
    """Fields to change; omitted fields stay as they are. ``capabilities`` replaces the list."""

    site_id: RowId | None = None
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    kind: ResourceKind | None = None
    category: ResourceCategory | None = None
    capabilities: list[CapabilityOffer] | None = Field(default=None, min_length=1)
    hourly_rate_minor: Minor | None = None
    setup_cost_minor: Minor | None = None
    currency: str | None = Field(default=None, pattern="^[A-Za-z]{3}$")
    speed_factor: float | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    capacity: int | None = Field(default=None, ge=1, le=10_000)
    is_public: bool | None = None
    lease_terms: JsonObject | None = None
    description: Text | None = Field(default=None, max_length=MAX_DESCRIPTION)


class SiteLocation(ORMModel):
    """Where a resource is (shown for public resources of other tenants too)."""

    id: int
    name: str
    lat: float | None
    lon: float | None
    cluster_id: int | None


class ResourcePublic(ORMModel):
    """A resource. Other tenants see only public resources; those show their published rates."""

    id: int
    org_id: int
    site_id: int
    site: SiteLocation
    name: str
    kind: str
    category: str
    capabilities: list[CapabilityOfferPublic]
    hourly_rate_minor: int
    setup_cost_minor: int
    currency: str
    speed_factor: float
    capacity: int
    is_public: bool
    lease_terms: dict[str, Any] | None
    description: str
    created_at: datetime
    updated_at: datetime
    distance_km: float | None = Field(
        default=None, description="distance from `near` when the search gave one"
    )


class ResourcesPublic(BaseModel):
    """A page of resources."""

    data: list[ResourcePublic]
    count: int
