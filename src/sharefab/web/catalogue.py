"""The resource catalogue: search by capability (with subsumption), material, distance from a
cluster and availability, in a paginated table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from sharefab.services.clusters import list_clusters
from sharefab.services.errors import InvalidInput
from sharefab.storage.models import Cluster, Organization, Site
from sharefab.web.auth import PageSession, RequiredViewer
from sharefab.web.names import all_capabilities, capability_names, resolve_capability
from sharefab.web.search_adapter import SearchQuery, search_catalogue
from sharefab.web.templating import format_money, render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
DEFAULT_RADIUS_KM = 80


@dataclass(slots=True)
class CatalogueForm:
    """The search form exactly as typed (re-rendered into the inputs)."""

    capability: str = ""
    material: str = ""
    cluster: str = ""
    radius_km: str = ""
    available_from: str = ""
    available_to: str = ""


def _parse_date(value: str, field: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{field}: {value!r} is not a date (YYYY-MM-DD)")
        return None


def build_query(
    session: PageSession, form: CatalogueForm, errors: list[str]
) -> tuple[SearchQuery, Any]:
    """Turn the form into a search query; problems are appended to ``errors``."""
    query = SearchQuery()
    choice = resolve_capability(form.capability)
    if form.capability.strip() and choice.node is None:
        errors.append(f"capability: nothing in the taxonomy matches {form.capability!r}")
    if choice.node is not None:
        query.capability = choice.node.code
    query.material = form.material.strip() or None
    if form.cluster:
        cluster = session.get(Cluster, int(form.cluster)) if form.cluster.isdigit() else None
        if cluster is None or cluster.lat is None or cluster.lon is None:
            errors.append(f"cluster: unknown cluster {form.cluster!r}")
        else:
            query.near = (cluster.lat, cluster.lon)
            try:
                radius = float(form.radius_km) if form.radius_km else DEFAULT_RADIUS_KM
            except ValueError:
                radius = -1
            if not 0 < radius <= 5000:
                errors.append("radius_km: give a distance between 1 and 5000 km")
            query.radius_km = radius
    start = _parse_date(form.available_from, "available_from", errors)
    end = _parse_date(form.available_to, "available_to", errors)
    if (start is None) != (end is None) and not errors:
        start = start or end
        end = end or start
    if start is not None and end is not None:
        if end < start:
            errors.append("available_to: must not be before available_from")
        else:
            query.available_from = datetime.combine(start, time(0), UTC)
            query.available_to = datetime.combine(end + timedelta(days=1), time(0), UTC)
    return query, choice


def _rows(session: PageSession, hits: list[Any], viewer_org: int) -> list[dict[str, Any]]:
    site_ids = {h.resource.site_id for h in hits}
    org_ids = {h.resource.org_id for h in hits}
    sites = {s.id: s for s in session.scalars(select(Site).where(Site.id.in_(site_ids)))}
    orgs = dict(
        session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))
        ).all()
    )
    cluster_ids = {s.cluster_id for s in sites.values() if s.cluster_id}
    clusters = dict(
        session.execute(select(Cluster.id, Cluster.name).where(Cluster.id.in_(cluster_ids))).all()
    )
    rows = []
    for hit in hits:
        r = hit.resource
        site = sites.get(r.site_id)
        caps = []
        for cap in sorted(r.capabilities, key=lambda c: c.code):
            en, zh = capability_names(cap.code)
            caps.append({"code": cap.code, "name_en": en, "name_zh": zh})
        rows.append(
            {
                "id": r.id,
                "name": r.name,
                "kind": r.kind,
                "is_public": r.is_public,
                "own": r.org_id == viewer_org,
                "org_name": orgs.get(r.org_id, ""),
                "site_name": site.name if site else "",
                "cluster_name": clusters.get(site.cluster_id, "") if site else "",
                "distance_km": hit.distance_km,
                "rate": format_money(r.hourly_rate_minor, r.currency),
                "capabilities": caps,
            }
        )
    return rows


@router.get("/catalogue", name="web_catalogue")
def catalogue_page(
    request: Request,
    session: PageSession,
    viewer: RequiredViewer,
    capability: str = "",
    material: str = "",
    cluster: str = "",
    radius_km: str = "",
    available_from: str = "",
    available_to: str = "",
    page: int = 1,
) -> Response:
    """Search form and one page of matching resources (own and other tenants' public ones)."""
    form = CatalogueForm(capability, material, cluster, radius_km, available_from, available_to)
    errors: list[str] = []
    query, choice = build_query(session, form, errors)
    page = max(1, page)
    rows: list[dict[str, Any]] = []
    count = 0
    if not errors:
        query.limit, query.offset = PAGE_SIZE, (page - 1) * PAGE_SIZE
        try:
            hits, count = search_catalogue(session, viewer.user, query)
        except InvalidInput as exc:
            errors.extend([f"{e.field}: {e.message}" for e in exc.errors] or [exc.detail])
        else:
            rows = _rows(session, hits, viewer.org_id)
    pages = max(1, -(-count // PAGE_SIZE))
    params = {k: v for k, v in vars_of(form).items() if v}

    def page_url(n: int) -> str:
        return "/catalogue?" + urlencode({**params, "page": n})

    context = {
        "form": form,
        "taxonomy": all_capabilities(),
        "clusters": list_clusters(session, limit=500, offset=0).data,
        "matched": choice.node,
        "alternatives": choice.alternatives,
        "errors": errors,
        "rows": rows,
        "count": count,
        "page": page,
        "pages": pages,
        "prev_url": page_url(page - 1) if page > 1 else None,
        "next_url": page_url(page + 1) if page < pages else None,
    }
    return render(request, "catalogue.html", context)


def vars_of(form: CatalogueForm) -> dict[str, str]:
    """The form's fields as a dict (for the pager links)."""
    return {name: getattr(form, name) for name in CatalogueForm.__slots__}  # type: ignore[attr-defined]
