"""Cluster pages: the list of clusters and one cluster's overview with its charts."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from sharefab.services.cluster_overview import (
    DEFAULT_HORIZON_DAYS,
    ClusterOverview,
    cluster_overview,
    list_cluster_summaries,
)
from sharefab.services.errors import NotFound
from sharefab.web.auth import OptionalViewer, PageSession
from sharefab.web.errors import not_found
from sharefab.web.names import capability_label
from sharefab.web.templating import render

router = APIRouter(include_in_schema=False)

_BRAND = "#0b6e6e"
_ACCENT = "#3aa17e"


def overview_charts(o: ClusterOverview) -> dict[str, dict[str, Any]]:
    """Plotly figures (plain JSON) for the cluster page: resources per capability and idle
    hours per day. Drawn in the browser by the Plotly bundle ShareFab serves itself."""
    caps = list(o.resources_per_capability.items())
    labels = [capability_label(code) for code, _ in caps]
    days = [
        (o.horizon_start.date().toordinal() + i, hours)
        for i, hours in enumerate(o.idle_hours_per_day)
    ]
    day_labels = [date.fromordinal(d).isoformat() for d, _ in days]
    base_layout: dict[str, Any] = {
        "margin": {"l": 60, "r": 20, "t": 10, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "Segoe UI, PingFang SC, Noto Sans CJK SC, sans-serif"},
    }
    return {
        "chart-capabilities": {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": [n for _, n in caps],
                    "y": labels,
                    "customdata": [code for code, _ in caps],
                    "hovertemplate": "%{y}<br>%{customdata}: %{x} resources<extra></extra>",
                    "marker": {"color": _BRAND},
                }
            ],
            "layout": {
                **base_layout,
                "height": max(300, 24 * len(caps) + 60),
                "margin": {"l": 260, "r": 20, "t": 10, "b": 40},
                "yaxis": {"autorange": "reversed", "automargin": True},
                "xaxis": {"title": {"text": "public resources"}},
            },
        },
        "chart-idle": {
            "data": [
                {
                    "type": "bar",
                    "x": day_labels,
                    "y": [round(h, 1) for _, h in days],
                    "hovertemplate": "%{x}: %{y} idle unit-hours<extra></extra>",
                    "marker": {"color": _ACCENT},
                }
            ],
            "layout": {
                **base_layout,
                "height": 320,
                "yaxis": {"title": {"text": "idle unit-hours (UTC days)"}},
            },
        },
    }


@router.get("/clusters", name="web_clusters")
def clusters_page(request: Request, session: PageSession, viewer: OptionalViewer) -> Response:
    """Every cluster with its headline figures."""
    summaries = list_cluster_summaries(session)
    context = {"clusters": summaries, "horizon_days": DEFAULT_HORIZON_DAYS}
    return render(request, "clusters.html", context)


@router.get("/clusters/{cluster_id}", name="web_cluster")
def cluster_page(
    request: Request, cluster_id: int, session: PageSession, viewer: OptionalViewer
) -> Response:
    """One cluster: factories, resources per capability, idle hours ahead, utilisation."""
    try:
        overview = cluster_overview(session, cluster_id)
    except NotFound as exc:
        raise not_found("cluster") from exc
    charts = json.dumps(overview_charts(overview), ensure_ascii=False).replace("</", "<\\/")
    return render(request, "cluster.html", {"o": overview, "charts_json": charts})
