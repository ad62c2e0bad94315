"""Bulk import and export of an organization's resources as CSV or JSON (for the CLI).

CSV columns (header row required; column order free; ``*`` = required):

============================  ======================================================
``name`` *                    resource name
``site`` *                    name of one of the organization's sites
``site_lat``, ``site_lon``    coordinates: when ``site`` does not exist yet, both given
                              create it (with ``site_address``)
``site_address``              address of a site created by the import
``kind``                      machine (default), line, tool, instrument, service_team, lab,
                              vehicle, storage
``category``                  manufacturing (default), innovation, service
``capabilities`` *            taxonomy codes separated by ``;``
``attributes``                JSON object of attribute values of the capability, e.g.
                              ``{"tolerance_mm": 0.01, "materials": ["steel"]}``; with
                              several capabilities, an object keyed by code
``hourly_rate_minor`` *       integer minor units (fen for CNY) per hour, >= 0
``setup_cost_minor``          integer minor units, >= 0 (default 0)
``currency``                  ISO 4217 code (default CNY)
``speed_factor``              number > 0 (default 1)
``capacity``                  identical parallel units, integer >= 1 (default 1)
``is_public``                 true/false, yes/no, 1/0 (default true)
``lease_terms``               JSON object or empty
``description``               free text
============================  ======================================================

JSON is a list of objects with the same keys, except that ``capabilities`` is a list of
``{"code": ..., "attributes": {...}}`` (``attributes`` and ``lease_terms`` are plain objects,
numbers are numbers). Export writes exactly these formats, so an export imports again.

Import validates **every** row first and reports each problem as ``line N: field: reason``
(CSV: the line in the file, header = line 1; JSON: the record number, from 1). If any row
is bad nothing is imported, unless ``skip_invalid`` is set: then the good rows are imported
and the bad ones reported. A resource whose (site, name) already exists in the organization,
or repeats an earlier row, is an error: import creates, it never overwrites. Names are
compared as the database's unique index compares them (case and surrounding spaces ignored).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from sharefab.services.common import transaction
from sharefab.services.errors import FieldError, InvalidInput, NotFound
from sharefab.services.resources import check_capabilities, check_resource_values, name_key
from sharefab.storage.models import Organization, Resource, ResourceCapability, Site

CSV_COLUMNS = (
    "name",
    "site",
    "site_lat",
    "site_lon",
    "site_address",
    "kind",
    "category",
    "capabilities",
    "attributes",
    "hourly_rate_minor",
    "setup_cost_minor",
    "currency",
    "speed_factor",
    "capacity",
    "is_public",
    "lease_terms",
    "description",
)
REQUIRED = ("name", "site", "capabilities", "hourly_rate_minor")
LINE_KEY = "_line"
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one input row."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    """What an import did: resources (and sites) created, rows skipped with their errors."""

    created: int = 0
    sites_created: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def skipped_lines(self) -> list[int]:
        """Lines of rows that were not imported."""
        return sorted({e.line for e in self.errors})


class CatalogImportError(InvalidInput):
    """Some rows are invalid and nothing was imported; ``row_errors`` lists every problem."""

    def __init__(self, row_errors: list[RowError]) -> None:
        super().__init__(
            f"{len({e.line for e in row_errors})} invalid row(s); nothing was imported",
            [FieldError(f"line {e.line}: {e.field}", e.reason) for e in row_errors],
        )
        self.row_errors = row_errors


@dataclass(slots=True)
class _Parsed:
    line: int
    values: dict[str, Any]
    capabilities: list[dict[str, Any]]
    site: str
    site_lat: float | None = None
    site_lon: float | None = None
    site_address: str = ""


# ----------------------------------------------------------------------------- reading


def read_csv(text: str) -> list[dict[str, Any]]:
    """Rows of a CSV text as dicts, each with its line number under ``_line``.

    Raises :class:`InvalidInput` when the header misses a required column or names an
    unknown one.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c and c not in CSV_COLUMNS]
    problems = []
    if missing:
        problems.append(FieldError("line 1: header", f"missing column(s): {', '.join(missing)}"))
    if unknown:
        problems.append(
            FieldError(
                "line 1: header",
                f"unknown column(s): {', '.join(unknown)}; known: {', '.join(CSV_COLUMNS)}",
            )
        )
    if problems:
        raise InvalidInput("; ".join(f"{p.field}: {p.message}" for p in problems), problems)
    reader.fieldnames = header
    rows = []
    for raw in reader:
        row: dict[str, Any] = {k: (v.strip() if isinstance(v, str) else v) for k, v in raw.items()}
        row.pop(None, None)  # type: ignore[call-overload]
        row[LINE_KEY] = reader.line_num
        rows.append(row)
    return rows


def read_json(text: str) -> list[dict[str, Any]]:
    """Records of a JSON array as dicts numbered from 1 under ``_line``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput.single(f"line {exc.lineno}", f"malformed JSON: {exc.msg}") from exc
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidInput.single("body", "expected a JSON array of resource objects")
    return [{**record, LINE_KEY: i} for i, record in enumerate(data, start=1)]


# -------------------------------------------------------------------------- validation


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_int(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError(f"must be a whole number, got {value!r}") from None
    return value


def _as_float(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"must be a number, got {value!r}") from None
    return value


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def _as_json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"must be a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValueError("must be a JSON object")
    return parsed


def _capabilities(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = row.get("capabilities")
    if isinstance(raw, list):  # JSON form
        return [c if isinstance(c, dict) else {"code": c, "attributes": {}} for c in raw]
    codes = [c.strip() for c in str(raw).split(";") if c.strip()]
    attrs_raw = row.get("attributes")
    attrs = {} if _blank(attrs_raw) else _as_json_object(attrs_raw)
    if len(codes) > 1 and attrs and set(attrs) <= set(codes):
        return [{"code": c, "attributes": attrs.get(c, {})} for c in codes]
    if len(codes) > 1 and attrs:
        raise ValueError("with several capabilities, 'attributes' must be keyed by code")
    return [{"code": c, "attributes": attrs} for c in codes]


def _parse_row(row: Mapping[str, Any], line: int) -> tuple[_Parsed | None, list[RowError]]:
    errors: list[RowError] = []

    def err(name: str, reason: str) -> None:
        errors.append(RowError(line, name, reason))

    for name in REQUIRED:
        if _blank(row.get(name)) or row.get(name) == []:
            err(name, "required")
    values: dict[str, Any] = {}
    converters: dict[str, Any] = {
        "hourly_rate_minor": _as_int,
        "setup_cost_minor": _as_int,
        "capacity": _as_int,
        "speed_factor": _as_float,
        "is_public": _as_bool,
        "lease_terms": _as_json_object,
    }
    for name in ("name", "kind", "category", "currency", "description", *converters):
        value = row.get(name)
        if _blank(value):
            continue
        try:
            values[name] = converters[name](value) if name in converters else str(value).strip()
        except ValueError as exc:
            err(name, str(exc))
    if isinstance(values.get("currency"), str):
        values["currency"] = values["currency"].upper()
    errors += [RowError(line, e.field, e.message) for e in check_resource_values(values)]
    caps: list[dict[str, Any]] = []
    if not _blank(row.get("capabilities")):
        try:
            caps = _capabilities(row)
        except ValueError as exc:
            err("attributes", str(exc))
        else:
            for e in check_capabilities(caps):
                err(e.field, e.message)
    site_coords: list[float | None] = []
    for name in ("site_lat", "site_lon"):
        value = row.get(name)
        try:
            site_coords.append(None if _blank(value) else float(_as_float(value)))
        except (TypeError, ValueError) as exc:
            err(name, str(exc))
            site_coords.append(None)
    lat, lon = site_coords
    for name, limit in (("site", 200), ("site_address", 1000)):
        text = row.get(name)
        if isinstance(text, str) and len(text.strip()) > limit:
            err(name, f"must be at most {limit} characters")
        if isinstance(text, str) and "\x00" in text:
            err(name, "must not contain NUL (\\x00) characters")
    if lat is not None and not -90 <= lat <= 90:
        err("site_lat", "must be between -90 and 90")
    if lon is not None and not -180 <= lon <= 180:
        err("site_lon", "must be between -180 and 180")
    if errors:
        return None, errors
    parsed = _Parsed(
        line=line,
        values=values,
        capabilities=[
            {"code": c["code"], "attributes": dict(c.get("attributes") or {})} for c in caps
        ],
        site=str(row["site"]).strip(),
        site_lat=lat,
        site_lon=lon,
        site_address=str(row.get("site_address") or "").strip(),
    )
    return parsed, []


def _line_of(row: Mapping[str, Any], index: int) -> int:
    line = row.get(LINE_KEY)
    return line if isinstance(line, int) else index + 2


def validate_rows(rows: Sequence[Mapping[str, Any]]) -> list[RowError]:
    """Every problem of every row that can be found without the database (types, bounds,
    taxonomy codes and attribute values, duplicates inside the file)."""
    return _validate(rows)[1]


def _validate(rows: Sequence[Mapping[str, Any]]) -> tuple[list[_Parsed], list[RowError]]:
    parsed_rows: list[_Parsed] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        line = _line_of(row, index)
        parsed, row_errors = _parse_row(row, line)
        errors += row_errors
        if parsed is None:
            continue
        key = (parsed.site.casefold(), name_key(str(parsed.values["name"])))
        if key in seen:
            errors.append(RowError(line, "name", f"repeats line {seen[key]} (same site and name)"))
            continue
        seen[key] = line
        parsed_rows.append(parsed)
    return parsed_rows, errors


# ----------------------------------------------------------------------------- import


def import_resources(
    session: Session, org_id: int, rows: Sequence[Mapping[str, Any]], *, skip_invalid: bool = False
) -> ImportReport:
    """Create the resources of ``rows`` for organization ``org_id`` in one transaction.

    Raises :class:`CatalogImportError` (nothing imported) when any row is invalid, unless
    ``skip_invalid``: then the valid rows are imported and the report lists the errors.
    """
    if session.get(Organization, org_id) is None:
        raise NotFound("organization", org_id)
    parsed_rows, errors = _validate(rows)
    sites = {
        s.name.casefold(): s for s in session.scalars(select(Site).where(Site.org_id == org_id))
    }
    existing = {
        (site_id, name_key(name))
        for site_id, name in session.execute(
            select(Resource.site_id, Resource.name).where(Resource.org_id == org_id)
        )
    }
    good: list[_Parsed] = []
    new_sites: set[str] = set()  # created by an earlier row of this import
    for parsed in parsed_rows:
        site = sites.get(parsed.site.casefold())
        creatable = parsed.site_lat is not None and parsed.site_lon is not None
        if site is None and creatable:
            new_sites.add(parsed.site.casefold())
        elif site is None and parsed.site.casefold() not in new_sites:
            errors.append(
                RowError(
                    parsed.line,
                    "site",
                    f"no site named {parsed.site!r} in the organization; create it first or "
                    "give site_lat and site_lon to create it",
                )
            )
            continue
        if site is not None and (site.id, name_key(str(parsed.values["name"]))) in existing:
            errors.append(RowError(parsed.line, "name", f"already exists at site {parsed.site!r}"))
            continue
        good.append(parsed)
    errors.sort(key=lambda e: e.line)
    if errors and not skip_invalid:
        raise CatalogImportError(errors)
    report = ImportReport(errors=errors)
    with transaction(session):
        for parsed in good:
            site = sites.get(parsed.site.casefold())
            if site is None:  # validated above: this row carries the coordinates
                site = Site(
                    org_id=org_id,
                    name=parsed.site,
                    address=parsed.site_address,
                    lat=parsed.site_lat,
                    lon=parsed.site_lon,
                )
                session.add(site)
                session.flush()
                sites[parsed.site.casefold()] = site
                report.sites_created += 1
            resource = Resource(org_id=org_id, site_id=site.id, **parsed.values)
            resource.capabilities = [ResourceCapability(**c) for c in parsed.capabilities]
            session.add(resource)
            report.created += 1
        session.flush()
    return report


# ----------------------------------------------------------------------------- export


def _record(resource: Resource) -> dict[str, Any]:
    return {
        "name": resource.name,
        "site": resource.site.name,
        "site_lat": resource.site.lat,
        "site_lon": resource.site.lon,
        "site_address": resource.site.address,
        "kind": resource.kind,
        "category": resource.category,
        "capabilities": [
            {"code": c.code, "attributes": c.attributes} for c in resource.capabilities
        ],
        "hourly_rate_minor": resource.hourly_rate_minor,
        "setup_cost_minor": resource.setup_cost_minor,
        "currency": resource.currency,
        "speed_factor": resource.speed_factor,
        "capacity": resource.capacity,
        "is_public": resource.is_public,
        "lease_terms": resource.lease_terms,
        "description": resource.description,
    }


def _csv_cell(name: str, record: dict[str, Any]) -> str:
    value = record[name]
    if name == "capabilities":
        return ";".join(c["code"] for c in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def export_resources(session: Session, org_id: int, fmt: Literal["csv", "json"] = "csv") -> str:
    """All resources of organization ``org_id`` (by id) as CSV or JSON text (see module doc)."""
    if fmt not in ("csv", "json"):
        raise InvalidInput.single("format", f"use csv or json, not {fmt!r}")
    resources = session.scalars(
        select(Resource)
        .where(Resource.org_id == org_id)
        .order_by(Resource.id)
        .options(selectinload(Resource.capabilities), selectinload(Resource.site))
    ).all()
    records = [_record(r) for r in resources]
    if fmt == "json":
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        caps = record["capabilities"]
        row = {**record}
        if len(caps) == 1:
            row["attributes"] = caps[0]["attributes"] or None
        else:
            row["attributes"] = {
                c["code"]: c["attributes"] for c in caps if c["attributes"]
            } or None
        writer.writerow([_csv_cell(name, row) for name in CSV_COLUMNS])
    return out.getvalue()
