"""The provider dashboard: utilisation per resource over a chosen period (Plotly chart) and
idle-capacity suggestions per resource, each published with one click as an idle window.

It calls the same service functions as ``GET /resources/{id}/idle-suggestions`` and its
``publish`` endpoint (:mod:`sharefab.iot.utilisation`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from sharefab.iot.utilisation import idle_suggestions, publish_suggestions, utilisation
from sharefab.services.errors import InvalidInput, NotFound, PermissionDenied, ServiceError
from sharefab.storage.models import ACTIVE_BOOKING_STATUSES, Booking, Resource
from sharefab.web.auth import PageSession, RequiredViewer, Viewer
from sharefab.web.errors import not_found
from sharefab.web.lookups import error_map, site_names
from sharefab.web.quote_view import span_label
from sharefab.web.templating import format_instant, render, script_json

router = APIRouter(include_in_schema=False)

#: The default period: two weeks back and two weeks ahead (bookings are mostly ahead).
DEFAULT_PAST_DAYS = 14
DEFAULT_AHEAD_DAYS = 14
SUGGESTION_DAYS = 14
MAX_RESOURCES = 60
_BRAND = "#0b6e6e"
_ACCENT = "#e88a1a"


def _day(text: str, field: str, errors: dict[str, str]) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        errors[field] = f"{text!r} is not a date (YYYY-MM-DD)"
        return None


def _hours(text: str, errors: dict[str, str]) -> float:
    try:
        value = float(text) if text.strip() else 4.0
    except ValueError:
        errors["min_hours"] = f"{text!r} is not a number of hours"
        return 4.0
    if not 0 < value <= 24 * 14:
        errors["min_hours"] = "give between 0.5 and 336 hours"
        return 4.0
    return value


def utilisation_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Booked and running share of each resource as grouped horizontal bars."""
    names = [r["name"] for r in rows]
    peak = max([r["booked_pct"] for r in rows] + [r["running_pct"] for r in rows] + [0])
    top = min(100.0, max(10.0, peak * 1.15))
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "booked",
                "y": names,
                "x": [r["booked_pct"] for r in rows],
                "marker": {"color": _BRAND},
                "hovertemplate": "%{y}: %{x:.1f}% booked<extra></extra>",
            },
            {
                "type": "bar",
                "orientation": "h",
                "name": "running (telemetry)",
                "y": names,
                "x": [r["running_pct"] for r in rows],
                "marker": {"color": _ACCENT},
                "hovertemplate": "%{y}: %{x:.1f}% running<extra></extra>",
            },
        ],
        "layout": {
            "barmode": "group",
            "height": max(220, 36 * len(rows) + 80),
            "margin": {"l": 10, "r": 20, "t": 30, "b": 40},
            "xaxis": {"title": {"text": "% of the period"}, "range": [0, top], "ticksuffix": "%"},
            "yaxis": {"automargin": True, "autorange": "reversed"},
            "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"family": "Segoe UI, PingFang SC, Noto Sans CJK SC, sans-serif"},
        },
    }


#: Longest period the daily heatmap is drawn for.
HEATMAP_MAX_DAYS = 92


def booked_by_day(
    session: Session, resources: list[tuple[int, str, int]], first: date, days: int
) -> list[list[float]]:
    """Booked share (0-100) of each resource's unit-time per UTC day (one read query)."""
    ids = [rid for rid, _, _ in resources]
    lo = datetime.combine(first, time(0), UTC)
    hi = lo + timedelta(days=days)
    grid = {rid: [0.0] * days for rid in ids}
    rows = session.execute(
        select(Booking.resource_id, Booking.start_at, Booking.end_at)
        .where(Booking.resource_id.in_(ids))
        .where(Booking.status.in_(ACTIVE_BOOKING_STATUSES))
        .where(Booking.start_at < hi, Booking.end_at > lo)
    ).all()
    for rid, start, end in rows:
        start, end = max(start, lo), min(end, hi)
        day = (start - lo).days
        while start < end and day < days:
            day_end = lo + timedelta(days=day + 1)
            grid[rid][day] += (min(end, day_end) - start).total_seconds()
            start, day = day_end, day + 1
    capacity = {rid: max(1, cap) for rid, _, cap in resources}
    return [[round(v / (86400 * capacity[rid]) * 100, 1) for v in grid[rid]] for rid in ids]


def heatmap_chart(
    resources: list[tuple[int, str, int]], first: date, z: list[list[float]]
) -> dict[str, Any]:
    """Resources down, days across, colour = booked share of the day."""
    days = [(first + timedelta(days=i)).isoformat() for i in range(len(z[0]) if z else 0)]
    return {
        "data": [
            {
                "type": "heatmap",
                "x": days,
                "y": [name for _, name, _ in resources],
                "z": z,
                "zmin": 0,
                "zmax": 100,
                "colorscale": [[0, "#f5f7fa"], [0.01, "#cfe7e2"], [1, "#0b6e6e"]],
                "colorbar": {"title": {"text": "% booked"}, "thickness": 12},
                "hovertemplate": "%{y}<br>%{x}: %{z}% booked<extra></extra>",
                "xgap": 1,
                "ygap": 1,
            }
        ],
        "layout": {
            "height": max(240, 30 * len(resources) + 100),
            "margin": {"l": 10, "r": 10, "t": 10, "b": 40},
            "yaxis": {"automargin": True, "autorange": "reversed"},
            "xaxis": {"type": "date"},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"family": "Segoe UI, PingFang SC, Noto Sans CJK SC, sans-serif"},
        },
    }


def _own_resources(session: Session, viewer: Viewer) -> list[Resource]:
    return list(
        session.scalars(
            select(Resource)
            .where(Resource.org_id == viewer.org_id)
            .order_by(Resource.name)
            .limit(MAX_RESOURCES)
        )
    )


def dashboard(
    request: Request,
    session: Session,
    viewer: Viewer,
    *,
    start_text: str = "",
    end_text: str = "",
    min_hours_text: str = "",
    notice: str | None = None,
    problem: str | None = None,
    problem_status: int = 409,
) -> Response:
    """Render the dashboard; bad period or hours are a 422 naming the field."""
    errors: dict[str, str] = {}
    today = datetime.now(UTC).date()
    first = _day(start_text, "from", errors) or today - timedelta(days=DEFAULT_PAST_DAYS)
    last = _day(end_text, "to", errors) or today + timedelta(days=DEFAULT_AHEAD_DAYS)
    min_hours = _hours(min_hours_text, errors)
    lo = datetime.combine(first, time(0), UTC)
    hi = datetime.combine(last + timedelta(days=1), time(0), UTC)
    rows: list[dict[str, Any]] = []
    booked_pct = running_pct = None
    if not errors:
        try:
            report = utilisation(session, viewer.user, "organization", "", lo, hi)
        except InvalidInput as exc:
            errors.update({("to" if k == "to" else k): v for k, v in error_map(exc).items()})
        else:
            booked_pct = report.booked_ratio * 100
            running_pct = report.running_ratio * 100
            rows = [
                {
                    "id": r.resource_id,
                    "name": r.name,
                    "capacity": r.capacity,
                    "booked_h": r.booked_seconds / 3600,
                    "booked_pct": round(r.booked_ratio * 100, 1),
                    "running_pct": round(r.running_ratio * 100, 1),
                }
                for r in report.resources[:MAX_RESOURCES]
            ]
    charts: dict[str, Any] = {}
    if rows:
        charts["chart-utilisation"] = utilisation_chart(rows)
        days = (last - first).days + 1
        if days <= HEATMAP_MAX_DAYS:
            listed = [(r["id"], r["name"], r["capacity"]) for r in rows]
            charts["chart-heatmap"] = heatmap_chart(
                listed, first, booked_by_day(session, listed, first, days)
            )
    resources = _own_resources(session, viewer)
    sites = site_names(session, {r.site_id for r in resources})
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    horizon = now + timedelta(days=SUGGESTION_DAYS)
    suggestions = []
    for r in resources:
        windows = idle_suggestions(session, viewer.user, r.id, now, horizon, min_hours=min_hours)
        suggestions.append(
            {
                "id": r.id,
                "name": r.name,
                "site": sites.get(r.site_id, ""),
                "public": r.is_public,
                "windows": [
                    {
                        "start": iv.start.isoformat(),
                        "end": iv.end.isoformat(),
                        "label": span_label(iv.start, iv.end),
                        "title": f"{format_instant(iv.start)} – {format_instant(iv.end)} UTC",
                        "hours": iv.duration.total_seconds() / 3600,
                    }
                    for iv in windows
                ],
            }
        )
    session.rollback()
    context = {
        "form": {
            "from": start_text or first.isoformat(),
            "to": end_text or last.isoformat(),
            "min_hours": min_hours_text or f"{min_hours:g}",
        },
        "errors": errors,
        "rows": rows,
        "booked_pct": booked_pct,
        "running_pct": running_pct,
        "suggestions": suggestions,
        "horizon_days": SUGGESTION_DAYS,
        "min_hours": min_hours,
        "notice": notice,
        "problem": problem,
        "charts_json": script_json(charts),
        "heatmap": "chart-heatmap" in charts,
    }
    status = 422 if errors else (problem_status if problem else 200)
    return render(request, "provider.html", context, status_code=status)


@router.get("/provider", name="web_provider")
def provider_page(
    request: Request,
    session: PageSession,
    viewer: RequiredViewer,
    to: str = "",
    min_hours: str = "",
    published: int | None = None,
) -> Response:
    """Utilisation of the organisation's resources over ``from``..``to`` (dates, default the
    two weeks back to two weeks ahead) and idle suggestions for the next 14 days."""
    start_text = request.query_params.get("from", "")
    notice = None
    if published is not None:
        notice = f"Published {published} idle window{'' if published == 1 else 's'}."
    return dashboard(
        request, session, viewer, start_text=start_text, end_text=to,
        min_hours_text=min_hours, notice=notice,
    )  # fmt: skip


def _instant(text: str, field: str, errors: dict[str, str]) -> datetime | None:
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        errors[field] = f"{text!r} is not a time"
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@router.post("/provider/resources/{resource_id}/publish")
def publish_window(
    request: Request,
    resource_id: int,
    session: PageSession,
    viewer: RequiredViewer,
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    min_hours: Annotated[str, Form()] = "4",
) -> Response:
    """Publish the suggested idle stretch ``[start, end)`` of the organisation's resource as
    a window (only what is still unbooked and unpublished is published)."""
    errors: dict[str, str] = {}
    lo = _instant(start, "start", errors)
    hi = _instant(end, "end", errors)
    hours = _hours(min_hours, errors)
    if errors or lo is None or hi is None:
        problem = "; ".join(f"{k}: {v}" for k, v in errors.items())
        return dashboard(request, session, viewer, problem=problem, problem_status=422)
    try:
        rows = publish_suggestions(session, viewer.user, resource_id, lo, hi, min_hours=hours)
    except NotFound as exc:
        session.rollback()
        raise not_found("resource") from exc
    except ServiceError as exc:
        session.rollback()
        code = (
            422
            if isinstance(exc, InvalidInput)
            else 403
            if isinstance(exc, PermissionDenied)
            else 409
        )
        return dashboard(request, session, viewer, problem=exc.detail, problem_status=code)
    return RedirectResponse(
        f"/provider?published={len(rows)}#resource-{resource_id}", status_code=303
    )
