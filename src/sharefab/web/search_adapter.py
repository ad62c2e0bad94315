"""The catalogue's one call into the resource search service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from sharefab.services.search import ResourceHit, ResourceQuery, search_resources
from sharefab.storage.models import User


@dataclass(slots=True)
class SearchQuery:
    """What the catalogue form asks for (``None`` = no constraint)."""

    capability: str | None = None
    material: str | None = None
    near: tuple[float, float] | None = None
    radius_km: float | None = None
    available_from: datetime | None = None
    available_to: datetime | None = None
    limit: int = 25
    offset: int = 0


def search_catalogue(
    session: Session, actor: User, query: SearchQuery
) -> tuple[list[ResourceHit], int]:
    """Resources the caller may see that match ``query``: one page of them, and the total.

    A material is a requested value of the taxonomy's ``materials`` attribute, so the search
    service's match rules (case- and separator-insensitive) decide.
    """
    page = search_resources(
        session,
        actor,
        ResourceQuery(
            capability=query.capability,
            attributes={"materials": [query.material]} if query.material else {},
            available_from=query.available_from,
            available_to=query.available_to,
            near=query.near,
            radius_km=query.radius_km,
            limit=query.limit,
            offset=query.offset,
        ),
    )
    return list(page.data), page.count
