"""The resource page: details, capabilities and a 14-day timeline of its calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from starlette.responses import Response

from sharefab.services.errors import NotFound
from sharefab.services.resource_calendar import Interval, ResourceCalendar, resource_calendar
from sharefab.storage.models import Cluster, Organization, Site
from sharefab.web.auth import PageSession, RequiredViewer
from sharefab.web.errors import not_found
from sharefab.web.names import capability_names
from sharefab.web.templating import format_instant, format_money, render

router = APIRouter(include_in_schema=False)

CALENDAR_DAYS = 14


@dataclass(frozen=True, slots=True)
class Bar:
    """One coloured bar on a day row, positioned in percent of the day."""

    kind: str
    left: float
    width: float
    title: str


@dataclass(slots=True)
class DayRow:
    """One day of the timeline."""

    label: str
    bars: list[Bar] = field(default_factory=list)


def timeline_rows(calendar: ResourceCalendar, days: int = CALENDAR_DAYS) -> list[DayRow]:
    """Split windows and bookings into per-day bars in the resource's own time zone."""
    tz = ZoneInfo(calendar.timezone)
    first = calendar.start.astimezone(tz).date()
    rows: list[DayRow] = []
    intervals: list[Interval] = [*calendar.windows, *calendar.bookings]
    for i in range(days):
        day = first + timedelta(days=i)
        day_start = datetime(day.year, day.month, day.day, tzinfo=tz)
        day_end = day_start + timedelta(days=1)
        length = (day_end - day_start).total_seconds()
        row = DayRow(day.strftime("%a %d %b"))
        for iv in intervals:
            lo, hi = max(iv.start, day_start), min(iv.end, day_end)
            if lo >= hi:
                continue
            left = (lo - day_start).total_seconds() / length * 100
            width = (hi - lo).total_seconds() / length * 100
            what = "idle window" if iv.kind == "window" else f"booking {iv.label}".strip()
            span = f"{format_instant(iv.start, calendar.timezone)} – "
            span += format_instant(iv.end, calendar.timezone)
            row.bars.append(Bar(iv.kind, round(left, 3), round(width, 3), f"{what}: {span}"))
        rows.append(row)
    return rows


def resource_context(calendar: ResourceCalendar, session: PageSession) -> dict[str, Any]:
    """What the template shows; rates and lease terms of public resources are public, the
    owner additionally sees bookings and the description of private details."""
    r = calendar.resource
    site = session.get(Site, r.site_id)
    org = session.get(Organization, r.org_id)
    cluster = session.get(Cluster, site.cluster_id) if site and site.cluster_id else None
    caps = []
    for cap in sorted(r.capabilities, key=lambda c: c.code):
        name_en, name_zh = capability_names(cap.code)
        caps.append(
            {"code": cap.code, "name_en": name_en, "name_zh": name_zh, "attributes": cap.attributes}
        )
    view = {
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "category": r.category,
        "is_public": r.is_public,
        "org_name": org.name if org else "",
        "site_name": site.name if site else "",
        "address": site.address if site and calendar.owner else "",
        "cluster_name": cluster.name if cluster else "",
        "capacity": r.capacity,
        "speed_factor": r.speed_factor,
        "rate": format_money(r.hourly_rate_minor, r.currency),
        "setup_cost": format_money(r.setup_cost_minor, r.currency),
        "lease_terms": r.lease_terms or {},
        "description": r.description,
        "capabilities": caps,
    }
    bookings = [
        {
            "start": format_instant(b.start, calendar.timezone),
            "end": format_instant(b.end, calendar.timezone),
            "unit": b.unit,
            "status": b.status,
            "order_ref": b.label,
        }
        for b in calendar.bookings
    ]
    timeline = {
        "days": timeline_rows(calendar),
        "tz": calendar.timezone,
        "window_count": len(calendar.windows),
        "booking_count": len(calendar.bookings),
        "idle_hours": calendar.idle_hours,
        "bookings": bookings,
    }
    return {"r": view, "owner": calendar.owner, "calendar": timeline}


@router.get("/resources/{resource_id}", name="web_resource")
def resource_page(
    request: Request, resource_id: int, session: PageSession, viewer: RequiredViewer
) -> Response:
    """A resource with its calendar; 404 for a missing resource or another's private one."""
    try:
        calendar = resource_calendar(session, viewer.user, resource_id, days=CALENDAR_DAYS)
    except NotFound as exc:
        raise not_found("resource") from exc
    return render(request, "resource.html", resource_context(calendar, session))
