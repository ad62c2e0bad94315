"""Candidate resources for quoting: one SQL join per requested capability, cached per process.

:func:`find_candidates` selects the public resources of provider organizations whose
capability is the requested one or a descendant (the taxonomy's subsumption), in the RFQ's
currency, other than the buyer's own; attribute values are then checked with one prepared
:meth:`Taxonomy.matcher` per operation. (Split out of :mod:`sharefab.services.capacity`, which
re-exports these names.)
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharefab.services.resources import taxonomy
from sharefab.storage.models import Organization, Resource, ResourceCapability, Site
from sharefab.storage.types import utc_now

#: Cached candidate lists are reloaded at least this often (seconds).
CATALOGUE_MAX_AGE_S = 30.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A public resource able to run one operation, with what pricing and transport need."""

    resource_id: int
    org_id: int
    org_roles: tuple[str, ...]
    site_id: int
    lat: float | None
    lon: float | None
    hourly_rate_minor: int
    setup_cost_minor: int
    speed_factor: float
    capacity: int
    code: str


def catalogue_version(session: Session) -> tuple[int, int]:
    """``(max resource id, max resource capability id)``: grows with every new offer."""
    row = session.execute(
        select(
            select(func.coalesce(func.max(Resource.id), 0)).scalar_subquery(),
            select(func.coalesce(func.max(ResourceCapability.id), 0)).scalar_subquery(),
        )
    ).one()
    return int(row[0]), int(row[1])


_candidates_lock = threading.Lock()
_candidates: dict[tuple[str, str, str, str], tuple[tuple[int, int], datetime, list[Candidate]]] = {}


def find_candidates(
    session: Session,
    capability: str,
    attributes: dict[str, Any],
    *,
    currency: str,
    exclude_org: int | None,
    version: tuple[int, int] | None = None,
) -> list[Candidate]:
    """Public resources of provider organizations able to run ``capability`` with
    ``attributes`` and priced in ``currency`` (one row per resource).

    Cached per process by request and :func:`catalogue_version` (new resources and
    capabilities show at once); edits of existing resources (rates, going private) show
    within :data:`CATALOGUE_MAX_AGE_S` seconds, and accepting re-checks that a resource is
    still public. ``version`` is :func:`catalogue_version` when the caller already read it.
    """
    key = (
        str(session.get_bind().engine.url),
        capability,
        json.dumps(attributes, sort_keys=True, default=str),
        currency,
    )
    if version is None:
        version = catalogue_version(session)
    now = utc_now()
    with _candidates_lock:
        hit = _candidates.get(key)
    if hit is None or hit[0] != version or (now - hit[1]).total_seconds() > CATALOGUE_MAX_AGE_S:
        found = _query_candidates(session, capability, attributes, currency)
        with _candidates_lock:
            if len(_candidates) > 4096:
                _candidates.clear()
            _candidates[key] = (version, now, found)
    else:
        found = hit[2]
    return [c for c in found if c.org_id != exclude_org]


def clear_candidates() -> None:
    """Forget cached candidate lists."""
    with _candidates_lock:
        _candidates.clear()


def _query_candidates(
    session: Session, capability: str, attributes: dict[str, Any], currency: str
) -> list[Candidate]:
    tax = taxonomy()
    check = tax.matcher(capability, attributes)
    codes = tax.descendants(capability)
    stmt = (
        select(
            ResourceCapability.resource_id,
            ResourceCapability.code,
            ResourceCapability.attributes,
            Resource.org_id,
            Organization.roles,
            Resource.site_id,
            Site.lat,
            Site.lon,
            Resource.hourly_rate_minor,
            Resource.setup_cost_minor,
            Resource.speed_factor,
            Resource.capacity,
        )
        .join(Resource, Resource.id == ResourceCapability.resource_id)
        .join(Site, Site.id == Resource.site_id)
        .join(Organization, Organization.id == Resource.org_id)
        .where(
            ResourceCapability.code.in_(codes),
            Resource.is_public.is_(True),
            Resource.currency == currency,
        )
    )
    out: dict[int, Candidate] = {}
    for rid, code, attrs, org, roles, site, lat, lon, rate, setup, speed, cap in session.execute(
        stmt
    ):
        if rid in out or "provider" not in (roles or ()):
            continue
        if not check(code, attrs):
            continue
        out[rid] = Candidate(
            rid, org, tuple(roles or ()), site, lat, lon, rate, setup, speed, cap, code
        )
    return sorted(out.values(), key=lambda c: c.resource_id)
