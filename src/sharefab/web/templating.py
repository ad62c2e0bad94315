"""Jinja2 templates shipped in the package, with the filters the pages share."""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

TEMPLATE_DIR = Path(str(resources.files("sharefab.web") / "templates"))
STATIC_DIR = Path(str(resources.files("sharefab.web") / "static"))

#: Currencies whose minor unit is not 1/100 of the major unit.
_ZERO_DECIMAL = frozenset({"JPY", "KRW", "VND", "CLP", "ISK"})

templates = Jinja2Templates(directory=str(TEMPLATE_DIR))


def format_money(minor: int, currency: str) -> str:
    """``12345, "CNY"`` -> ``"CNY 123.45"`` (integer minor units, never floats in storage)."""
    if currency.upper() in _ZERO_DECIMAL:
        return f"{currency} {minor:,}"
    sign = "-" if minor < 0 else ""
    major, cents = divmod(abs(minor), 100)
    return f"{sign}{currency} {major:,}.{cents:02d}"


def script_json(value: Any) -> str:
    """JSON to embed in a ``<script type="application/json">`` (``</`` cannot close it)."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def format_instant(value: datetime, tz: str = "UTC") -> str:
    """An aware datetime shown in ``tz`` as ``2026-11-23 18:00``."""
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def format_attribute(value: Any, name: str) -> str:
    """A capability attribute value for people: ``[500, 400, 300]`` envelope as
    ``500 × 400 × 300 mm``, lists joined with commas, booleans as yes/no."""
    unit = "mm" if name.endswith("_mm") else "kg" if name.endswith("_kg") else ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        if name.startswith("envelope") and all(isinstance(v, int | float) for v in value):
            return " × ".join(f"{v:g}" for v in value) + (f" {unit}" if unit else "")
        return ", ".join(str(v).replace("_", " ") for v in value)
    if isinstance(value, int | float) and unit:
        return f"{value:g} {unit}"
    return str(value)


def attribute_label(name: str) -> str:
    """``max_part_mass_kg`` -> ``max part mass``."""
    for suffix in ("_mm", "_kg"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.replace("_", " ")


templates.env.filters["money"] = format_money
templates.env.filters["attr_value"] = format_attribute
templates.env.filters["attr_label"] = attribute_label
templates.env.filters["instant"] = format_instant


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render template ``name`` with ``context`` plus the signed-in viewer (if any)."""
    full = {"viewer": getattr(request.state, "viewer", None), **context}
    return templates.TemplateResponse(request, name, full, status_code=status_code)
