"""Resource search: capability (with subsumption), attribute values, availability, distance.

Semantics, precisely:

* **visibility** — the caller's own resources and every public resource (``mine=True``: own
  only);
* **capability** ``c`` — the resource offers ``c`` or any descendant of ``c`` in the taxonomy
  (a request for ``separating.machining.milling`` finds a 5-axis mill);
* **attributes** — requested values (e.g. ``tolerance_mm=0.02``, ``materials=["steel"]``,
  ``envelope_mm=[500, 400, 300]``) must be served by one offered capability (the one matching
  ``c`` when given) under the taxonomy's match rules: tolerance at least as tight, part fits the
  envelope, every material and certification offered, part mass within the limit;
* **availability** ``[from, to)`` — the resource has at least one published window overlapping
  ``[from, to)`` inside which, within ``[from, to)``, there is some instant when fewer than
  ``capacity`` non-cancelled bookings run (i.e. the overlap is not fully booked);
* **distance** ``near=(lat, lon)``, ``radius_km`` — great-circle distance of the resource's site;
  a bounding box on the site's lat/lon is applied in SQL first, then the exact haversine
  distance. With ``near`` results are sorted by distance (then id), otherwise by id; resources
  whose site has no coordinates are left out of ``near`` searches.

Cheap filters (visibility, capability, bounding box, window overlap) run in SQL; the rest runs
on the candidate ids, loading capabilities, windows and bookings in bulk (no N+1 queries).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from sharefab.domain.geo import bounding_box, haversine_km
from sharefab.domain.taxonomy import UnknownCapability
from sharefab.services.common import Page
from sharefab.services.errors import FieldError, InvalidInput
from sharefab.services.resources import taxonomy
from sharefab.storage.models import (
    ACTIVE_BOOKING_STATUSES,
    Booking,
    CalendarWindow,
    Resource,
    ResourceCapability,
    Site,
    User,
)

_CHUNK = 900  # ids per IN (...) list, below SQLite's parameter limit


@dataclass(frozen=True, slots=True)
class ResourceQuery:
    """A resource search. ``attributes`` holds requested capability attribute values."""

    capability: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    available_from: datetime | None = None
    available_to: datetime | None = None
    near: tuple[float, float] | None = None
    radius_km: float | None = None
    mine: bool = False
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class ResourceHit:
    """A found resource and, for ``near`` searches, its distance in km."""

    resource: Resource
    distance_km: float | None = None


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidInput.of(errors)


def _check_query(q: ResourceQuery) -> list[str] | None:
    """Validate ``q``; return the capability codes that serve it (``None``: any)."""
    tax = taxonomy()
    errors: list[FieldError] = []
    codes: list[str] | None = None
    if q.capability is not None:
        try:
            codes = tax.descendants(q.capability)
        except UnknownCapability as exc:
            errors.append(FieldError("capability", str(exc)))
    if q.attributes:
        if q.capability is not None and codes is not None:
            issues = tax.validate_request_attributes(q.capability, q.attributes)
            errors += [FieldError(i.field, i.message) for i in issues]
        else:
            for name, value in q.attributes.items():
                spec = tax.attribute_definitions.get(name)
                if spec is None:
                    errors.append(FieldError(name, f"unknown capability attribute {name!r}"))
                elif (problem := spec.check_request_value(value)) is not None:
                    errors.append(FieldError(name, problem))
    if (q.available_from is None) != (q.available_to is None):
        missing = "available_to" if q.available_to is None else "available_from"
        errors.append(FieldError(missing, "give both available_from and available_to"))
    elif (
        q.available_from is not None
        and q.available_to is not None
        and q.available_to <= q.available_from
    ):
        errors.append(FieldError("available_to", "must be after available_from"))
    if q.radius_km is not None:
        if q.near is None:
            errors.append(FieldError("near", "radius_km needs near=lat,lon"))
        if not q.radius_km > 0:
            errors.append(FieldError("radius_km", "must be > 0"))
    if q.near is not None:
        lat, lon = q.near
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            errors.append(
                FieldError("near", "latitude must be in [-90, 90], longitude in [-180, 180]")
            )
    _raise(errors)
    return codes


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _attribute_matches(
    session: Session, ids: list[int], q: ResourceQuery, codes: list[str] | None
) -> set[int]:
    """Of ``ids``, those with one capability (among ``codes``) serving every requested
    attribute under the taxonomy's match rules (the request was validated already)."""
    tax = taxonomy()
    ok: set[int] = set()
    for chunk in _chunks(ids):
        stmt = select(
            ResourceCapability.resource_id, ResourceCapability.code, ResourceCapability.attributes
        ).where(ResourceCapability.resource_id.in_(chunk))
        if codes is not None:
            stmt = stmt.where(ResourceCapability.code.in_(codes))
        for resource_id, code, offered in session.execute(stmt):
            if resource_id in ok or code not in tax:
                continue
            schema = tax.get(code).attributes
            offered = offered if isinstance(offered, dict) else {}
            if all(
                name in schema and schema[name].compare(value, offered.get(name)) is None
                for name, value in q.attributes.items()
            ):
                ok.add(resource_id)
    return ok


def has_free_time(
    windows: Sequence[tuple[datetime, datetime]],
    bookings: Sequence[tuple[datetime, datetime]],
    capacity: int,
    lo: datetime,
    hi: datetime,
) -> bool:
    """Whether some instant of ``windows`` clipped to ``[lo, hi)`` has fewer than
    ``capacity`` of ``bookings`` running (all intervals half-open)."""
    for w_start, w_end in windows:
        a, b = max(w_start, lo), min(w_end, hi)
        if a >= b:
            continue
        inside = [(s, e) for s, e in bookings if s < b and e > a]
        if len(inside) < capacity:
            return True
        cuts = sorted({a, b, *(max(s, a) for s, _ in inside), *(min(e, b) for _, e in inside)})
        for p, r in itertools.pairwise(cuts):
            if p >= r:
                continue
            running = sum(1 for s, e in inside if s <= p and e >= r)
            if running < capacity:
                return True
    return False


def _available(session: Session, rows: dict[int, int], lo: datetime, hi: datetime) -> set[int]:
    """Of ``rows`` (resource id -> capacity), those with free published time in [lo, hi)."""
    ids = list(rows)
    windows: dict[int, list[tuple[datetime, datetime]]] = {}
    bookings: dict[int, list[tuple[datetime, datetime]]] = {}
    for chunk in _chunks(ids):
        for rid, s, e in session.execute(
            select(CalendarWindow.resource_id, CalendarWindow.start_at, CalendarWindow.end_at)
            .where(CalendarWindow.resource_id.in_(chunk))
            .where(CalendarWindow.start_at < hi, CalendarWindow.end_at > lo)
        ):
            windows.setdefault(rid, []).append((s, e))
        for rid, s, e in session.execute(
            select(Booking.resource_id, Booking.start_at, Booking.end_at)
            .where(Booking.resource_id.in_(chunk))
            .where(Booking.status.in_(ACTIVE_BOOKING_STATUSES))
            .where(Booking.start_at < hi, Booking.end_at > lo)
        ):
            bookings.setdefault(rid, []).append((s, e))
    return {
        rid
        for rid, wins in windows.items()
        if has_free_time(wins, bookings.get(rid, []), rows[rid], lo, hi)
    }


def search_resources(session: Session, actor: User, q: ResourceQuery) -> Page[ResourceHit]:
    """The resources visible to ``actor`` that satisfy ``q`` (see the module doc), one page."""
    codes = _check_query(q)
    visible = (
        Resource.org_id == actor.org_id
        if q.mine
        else or_(Resource.org_id == actor.org_id, Resource.is_public.is_(True))
    )
    conditions: list[Any] = [visible]
    if codes is not None:
        # An uncorrelated IN lets the database start from the index on the capability code.
        conditions.append(
            Resource.id.in_(
                select(ResourceCapability.resource_id).where(ResourceCapability.code.in_(codes))
            )
        )
    if q.available_from is not None and q.available_to is not None:
        # Correlated: probes the (resource_id, start_at) index of each candidate.
        conditions.append(
            exists().where(
                CalendarWindow.resource_id == Resource.id,
                CalendarWindow.start_at < q.available_to,
                CalendarWindow.end_at > q.available_from,
            )
        )
    if q.near is not None:
        conditions += [Site.lat.is_not(None), Site.lon.is_not(None)]
        if q.radius_km is not None:
            box = bounding_box(q.near[0], q.near[1], q.radius_km)
            conditions.append(Site.lat.between(box.min_lat, box.max_lat))
            if box.crosses_antimeridian:
                conditions.append(or_(Site.lon >= box.min_lon, Site.lon <= box.max_lon))
            elif (box.min_lon, box.max_lon) != (-180.0, 180.0):
                conditions.append(Site.lon.between(box.min_lon, box.max_lon))
    needs_python = bool(q.attributes) or q.available_from is not None or q.near is not None

    if not needs_python:  # everything in SQL: count and page there
        base = select(Resource.id).join(Site, Site.id == Resource.site_id).where(*conditions)
        count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        page_ids = list(session.scalars(base.order_by(Resource.id).limit(q.limit).offset(q.offset)))
        distances: dict[int, float] = {}
    else:
        stmt = (
            select(Resource.id, Resource.capacity, Site.lat, Site.lon)
            .join(Site, Site.id == Resource.site_id)
            .where(*conditions)
            .order_by(Resource.id)
        )
        rows = {rid: (cap, lat, lon) for rid, cap, lat, lon in session.execute(stmt)}
        ids = list(rows)
        distances = {}
        if q.near is not None:
            for rid in ids:
                _, lat, lon = rows[rid]
                distances[rid] = haversine_km(q.near[0], q.near[1], lat, lon)
            if q.radius_km is not None:
                ids = [rid for rid in ids if distances[rid] <= q.radius_km]
        if q.attributes and ids:
            matching = _attribute_matches(session, ids, q, codes)
            ids = [rid for rid in ids if rid in matching]
        if q.available_from is not None and q.available_to is not None and ids:
            free = _available(
                session, {rid: rows[rid][0] for rid in ids}, q.available_from, q.available_to
            )
            ids = [rid for rid in ids if rid in free]
        if q.near is not None:
            ids.sort(key=lambda rid: (distances[rid], rid))
        count = len(ids)
        page_ids = ids[q.offset : q.offset + q.limit]

    loaded = (
        {
            r.id: r
            for r in session.scalars(
                select(Resource)
                .where(Resource.id.in_(page_ids))
                .options(selectinload(Resource.capabilities), selectinload(Resource.site))
            )
        }
        if page_ids
        else {}
    )
    hits = [
        ResourceHit(loaded[rid], round(distances[rid], 3) if rid in distances else None)
        for rid in page_ids
    ]
    return Page(hits, count)
