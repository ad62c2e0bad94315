"""Quote options as the RFQ page shows them: per-operation plans with names, transport legs,
totals, the ranking's "why", and a Plotly timeline (Gantt) figure per option."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from sharefab.storage.market_models import Quote, QuoteOption
from sharefab.web.lookups import org_names, parse_instant, resource_names, site_names
from sharefab.web.templating import format_instant, format_money

LABEL_TITLES = {
    "cheapest": "Cheapest 最便宜",
    "fastest": "Fastest 最快",
    "reliable": "Most reliable 最可靠",
    "most_reliable": "Most reliable 最可靠",
    "best": "Best overall 综合最佳",
    "alternative": "Alternative 备选",
}
_COLOURS = ["#0b6e6e", "#e88a1a", "#3a6fb0", "#a0457e", "#5b8c2a", "#8a6d3b"]


def label_title(label: str) -> str:
    """``"cheapest"`` -> ``"Cheapest 最便宜"`` (unknown labels capitalised)."""
    return LABEL_TITLES.get(label, label.replace("_", " ").capitalize())


def span_label(start: datetime, end: datetime) -> str:
    """``23 Nov 00:30 → 06:01`` (the end's date only when it differs), UTC."""
    first = start.astimezone(UTC)
    last = end.astimezone(UTC)
    tail = last.strftime("%H:%M") if last.date() == first.date() else last.strftime("%d %b %H:%M")
    return f"{first.strftime('%d %b %H:%M')} → {tail}"


def _short(name: str, limit: int = 24) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def option_view(
    option: QuoteOption,
    resources: dict[int, str],
    sites: dict[int, str],
    orgs: dict[int, str],
    due_at: datetime,
) -> dict[str, Any]:
    """One option as template data."""
    cur = option.currency
    lots = []
    for lot in option.plan.get("lots", []):
        start, end = parse_instant(lot["start_at"]), parse_instant(lot["end_at"])
        lots.append(
            {
                "operation": int(lot["operation"]) + 1,
                "operation_name": lot.get("operation_name", ""),
                "resource_id": lot["resource_id"],
                "resource": resources.get(
                    int(lot["resource_id"]), f"resource {lot['resource_id']}"
                ),
                "site": sites.get(int(lot["site_id"]), f"site {lot['site_id']}"),
                "org": orgs.get(int(lot.get("org_id", 0)), ""),
                "start": format_instant(start),
                "end": format_instant(end),
                "span": span_label(start, end),
                "quantity": lot.get("quantity"),
                "price": format_money(int(lot["price_minor"]), cur),
                "_start": start,
                "_end": end,
            }
        )
    legs = []
    for leg in option.plan.get("transport", []):
        to = leg.get("to_site_id")
        legs.append(
            {
                "after_operation": int(leg.get("after_operation", 0)) + 1,
                "from": sites.get(int(leg["from_site_id"]), f"site {leg['from_site_id']}"),
                "to": "delivery address" if to == "delivery" else sites.get(int(to), f"site {to}"),
                "km": leg.get("km", 0),
                "minutes": leg.get("minutes", 0),
                "cost": format_money(int(leg.get("cost_minor", 0)), cur),
            }
        )
    explanation = option.explanation or {}
    credit = explanation.get("provider_credit", {})
    providers = [
        {"name": orgs.get(int(o), f"organisation {o}"), "credit": credit.get(str(o))}
        for o in option.provider_org_ids
    ]
    labels = list(option.labels) or [option.label]
    return {
        "id": option.id,
        "rank": option.rank,
        "label": option.label,
        "titles": [label_title(x) for x in labels],
        "total": format_money(option.total_minor, cur),
        "processing": format_money(option.processing_minor, cur),
        "transport": format_money(option.transport_minor, cur),
        "delivery": format_instant(option.delivery_at),
        "late": bool(explanation.get("late")) or option.delivery_at > due_at,
        "why": explanation.get("why", ""),
        "providers": providers,
        "lots": lots,
        "legs": legs,
        "chart_id": f"gantt-{option.id}",
    }


def gantt_figure(view: dict[str, Any], due_at: datetime) -> dict[str, Any]:
    """A Plotly horizontal-bar timeline of the option: one bar per lot on its resource."""
    traces: dict[int, dict[str, Any]] = {}
    for lot in view["lots"]:
        op = lot["operation"]
        trace = traces.setdefault(
            op,
            {
                "type": "bar",
                "orientation": "h",
                "name": escape(f"{op}. {lot['operation_name']}"),
                "x": [],
                "base": [],
                "y": [],
                "text": [],
                "hovertemplate": "%{text}<extra></extra>",
                "textposition": "none",
                "marker": {"color": _COLOURS[(op - 1) % len(_COLOURS)]},
            },
        )
        ms = (lot["_end"] - lot["_start"]).total_seconds() * 1000
        trace["x"].append(ms)
        trace["base"].append(lot["_start"].isoformat())
        trace["y"].append(escape(_short(lot["resource"])))
        trace["text"].append(
            f"{op}. {escape(lot['operation_name'])}<br>{escape(lot['resource'])}<br>"
            f"{lot['start']} – {lot['end']} UTC<br>{lot['price']}"
        )
    rows = len({y for t in traces.values() for y in t["y"]})
    starts = [lot["_start"] for lot in view["lots"]]
    ends = [lot["_end"] for lot in view["lots"]]
    shapes = []
    x_range = None
    if starts:
        lo, hi = min(starts), max(ends)
        pad = max((hi - lo) * 0.08, timedelta(minutes=30))
        # the due date is drawn when it is near the plan; a far one would squash the bars
        if due_at <= hi + (hi - lo) + pad:
            hi = max(hi, due_at)
            shapes.append(_due_line(due_at))
        x_range = [(lo - pad).isoformat(), (hi + pad).isoformat()]
    return {
        "data": list(traces.values()),
        "layout": {
            "barmode": "overlay",
            "height": 110 + 42 * max(1, rows),
            "margin": {"l": 10, "r": 10, "t": 30, "b": 40},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "xaxis": {
                "type": "date",
                "nticks": 5,
                "tickformat": "%d %b\n%H:%M",
                **({"range": x_range} if x_range else {}),
            },
            "yaxis": {"automargin": True, "autorange": "reversed"},
            "showlegend": True,
            "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
            "shapes": shapes,
            "font": {"family": "Segoe UI, PingFang SC, Noto Sans CJK SC, sans-serif", "size": 11},
        },
    }


def _due_line(due_at: datetime) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": due_at.isoformat(),
        "x1": due_at.isoformat(),
        "y0": 0,
        "y1": 1,
        "line": {"color": "#c9503c", "dash": "dot", "width": 2},
    }


def quote_context(session: Session, quote: Quote, due_at: datetime) -> dict[str, Any]:
    """Template data of a quote: its options best first with their Gantt figures."""
    res_ids: set[int] = set()
    site_ids: set[int] = set()
    org_ids: set[int] = set()
    for option in quote.options:
        org_ids.update(int(o) for o in option.provider_org_ids)
        for lot in option.plan.get("lots", []):
            res_ids.add(int(lot["resource_id"]))
            site_ids.add(int(lot["site_id"]))
        for leg in option.plan.get("transport", []):
            for key in ("from_site_id", "to_site_id"):
                if str(leg.get(key, "")).isdigit():
                    site_ids.add(int(leg[key]))
    resources = resource_names(session, res_ids)
    sites = site_names(session, site_ids)
    orgs = org_names(session, org_ids)
    options = [option_view(o, resources, sites, orgs, due_at) for o in quote.options]
    charts = {o["chart_id"]: gantt_figure(o, due_at) for o in options}
    for o in options:
        for lot in o["lots"]:
            del lot["_start"], lot["_end"]
    return {
        "id": quote.id,
        "computed_at": format_instant(quote.computed_at),
        "valid_until": format_instant(quote.valid_until),
        "valid_until_at": quote.valid_until,
        "options": options,
        "excluded": list(quote.excluded or []),
        "diagnosis": list(quote.diagnosis or []),
        "charts": charts,
    }
