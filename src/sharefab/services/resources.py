"""Create, read, change and delete resources, with taxonomy validation of capabilities.

Rules checked here (so the CLI import and the API agree):

* every capability code exists in the taxonomy (an unknown one is named as
  ``capabilities[i].code`` with close codes suggested), is listed once, and its attribute
  values fit the capability's typed schema (``capabilities[i].attributes.<name>``);
* money is integer minor units between 0 and 2**31 - 1, ``currency`` three letters,
  ``speed_factor`` > 0, ``capacity`` >= 1, ``kind`` and ``category`` from the fixed lists;
* ``lease_terms`` is ``null`` or ``{"model": "hourly" | "pay_per_use", ...}`` (pay-per-use
  prices as whole minor units); name, description and JSON values have size limits;
* the site is one of the caller's own sites;
* names are stored without surrounding whitespace and are unique per site, ignoring case
  (:class:`Conflict`, 409, naming the resource that has the name; the database backs this
  with the unique index ``uq_resources_site_name`` on ``(site_id, lower(ltrim(rtrim(name))))``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sharefab.domain.taxonomy import Taxonomy, UnknownCapability, load_taxonomy
from sharefab.services.common import own_resource, require_role, transaction, visible_resource
from sharefab.services.errors import Conflict, FieldError, InvalidInput
from sharefab.storage.models import (
    RESOURCE_CATEGORIES,
    RESOURCE_KINDS,
    Booking,
    Resource,
    ResourceCapability,
    Site,
    User,
)

#: Plain columns a caller may set (capabilities are handled separately).
RESOURCE_FIELDS = (
    "site_id",
    "name",
    "kind",
    "category",
    "hourly_rate_minor",
    "setup_cost_minor",
    "currency",
    "speed_factor",
    "capacity",
    "is_public",
    "lease_terms",
    "description",
)
NULLABLE_FIELDS = frozenset({"lease_terms"})
#: Largest integer an id or money column holds on every backend (PostgreSQL ``integer``).
MAX_DB_INT = 2**31 - 1
MAX_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_SPEED_FACTOR = 100
#: Serialized size limits of the free-form JSON columns.
MAX_ATTRIBUTES_BYTES = 16_384
MAX_LEASE_TERMS_BYTES = 4_096
LEASE_MODELS = ("hourly", "pay_per_use")
#: Prices a pay-per-use lease may name (integer minor units per metered unit).
LEASE_PRICES = ("run_hour_minor", "cycle_minor", "kwh_minor")


@lru_cache(maxsize=1)
def taxonomy() -> Taxonomy:
    """The shipped process taxonomy (loaded once)."""
    return load_taxonomy()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode())


def _has_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character in a key or text (PostgreSQL refuses it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


NUL_MESSAGE = "keys and text values must not contain NUL (\\x00) characters"


def check_lease_terms(lease: Any) -> list[FieldError]:
    """Problems with ``lease_terms`` (``None`` = no terms): an object whose ``model`` is
    ``hourly`` or ``pay_per_use``; a pay-per-use lease names at least one of
    ``run_hour_minor``, ``cycle_minor``, ``kwh_minor`` as whole minor units >= 0."""
    if lease is None:
        return []
    if not isinstance(lease, Mapping):
        return [FieldError("lease_terms", "must be an object")]
    if _json_size(lease) > MAX_LEASE_TERMS_BYTES:
        return [FieldError("lease_terms", f"must be at most {MAX_LEASE_TERMS_BYTES} bytes")]
    if _has_nul(lease):
        return [FieldError("lease_terms", NUL_MESSAGE)]
    model = lease.get("model")
    if model not in LEASE_MODELS:
        message = f"unknown lease model {model!r}; use one of {', '.join(LEASE_MODELS)}"
        return [FieldError("lease_terms.model", message)]
    errors = []
    for key in LEASE_PRICES:
        price = lease.get(key)
        if price is not None and (not _is_int(price) or not 0 <= price <= MAX_DB_INT):
            errors.append(
                FieldError(f"lease_terms.{key}", f"must be whole minor units >= 0, got {price!r}")
            )
    if model == "pay_per_use" and all(lease.get(k) is None for k in LEASE_PRICES):
        errors.append(
            FieldError(
                "lease_terms", f"a pay_per_use lease names a price: {', '.join(LEASE_PRICES)}"
            )
        )
    return errors


def check_resource_values(values: Mapping[str, Any]) -> list[FieldError]:
    """Problems with the plain resource fields present in ``values`` (empty = valid)."""
    errors: list[FieldError] = []
    for key, value in values.items():
        if value is None and key not in NULLABLE_FIELDS and key in RESOURCE_FIELDS:
            errors.append(FieldError(key, "must not be null"))
    if "name" in values and values["name"] is not None and not str(values["name"]).strip():
        errors.append(FieldError("name", "must not be empty"))
    for key, limit in (("name", MAX_NAME), ("description", MAX_DESCRIPTION)):
        text = values.get(key)
        if isinstance(text, str) and len(text) > limit:
            errors.append(FieldError(key, f"must be at most {limit} characters, got {len(text)}"))
        if isinstance(text, str) and "\x00" in text:
            errors.append(FieldError(key, "must not contain NUL (\\x00) characters"))
    if values.get("kind") is not None and values["kind"] not in RESOURCE_KINDS:
        errors.append(FieldError("kind", f"unknown kind {values['kind']!r}; use {RESOURCE_KINDS}"))
    category = values.get("category")
    if category is not None and category not in RESOURCE_CATEGORIES:
        errors.append(
            FieldError("category", f"unknown category {category!r}; use {RESOURCE_CATEGORIES}")
        )
    for key in ("hourly_rate_minor", "setup_cost_minor"):
        value = values.get(key)
        if value is None:
            continue
        if not _is_int(value):
            errors.append(FieldError(key, "must be a whole number of minor currency units"))
        elif value < 0:
            errors.append(FieldError(key, f"must be >= 0, got {value}"))
        elif value > MAX_DB_INT:
            errors.append(FieldError(key, f"must be at most {MAX_DB_INT}, got {value}"))
    currency = values.get("currency")
    if currency is not None and (
        not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha()
    ):
        errors.append(FieldError("currency", f"must be a 3-letter ISO 4217 code, got {currency!r}"))
    speed = values.get("speed_factor")
    if speed is not None and (
        not isinstance(speed, int | float)
        or isinstance(speed, bool)
        or not 0 < speed <= MAX_SPEED_FACTOR
    ):
        message = f"must be a number > 0 and <= {MAX_SPEED_FACTOR}, got {speed!r}"
        errors.append(FieldError("speed_factor", message))
    capacity = values.get("capacity")
    if capacity is not None and (not _is_int(capacity) or capacity < 1):
        errors.append(FieldError("capacity", f"must be a whole number >= 1, got {capacity!r}"))
    errors += check_lease_terms(values.get("lease_terms"))
    return errors


def check_capabilities(
    offers: Sequence[Mapping[str, Any]], prefix: str = "capabilities"
) -> list[FieldError]:
    """Problems with capability offers ``[{code, attributes}]`` (empty = valid)."""
    tax = taxonomy()
    errors: list[FieldError] = []
    if not offers:
        errors.append(FieldError(prefix, "give at least one capability"))
    seen: set[str] = set()
    for i, offer in enumerate(offers):
        where = f"{prefix}[{i}]"
        code = offer.get("code")
        if not isinstance(code, str) or not code:
            errors.append(FieldError(f"{where}.code", "required"))
            continue
        try:
            tax.get(code)
        except UnknownCapability as exc:
            errors.append(FieldError(f"{where}.code", str(exc)))
            continue
        if code in seen:
            errors.append(FieldError(f"{where}.code", f"{code!r} is listed twice"))
        seen.add(code)
        attributes = offer.get("attributes") or {}
        if _json_size(attributes) > MAX_ATTRIBUTES_BYTES:
            message = f"must be at most {MAX_ATTRIBUTES_BYTES} bytes of JSON"
            errors.append(FieldError(f"{where}.attributes", message))
            continue
        if _has_nul(attributes):
            errors.append(FieldError(f"{where}.attributes", NUL_MESSAGE))
            continue
        for issue in tax.validate_offer_attributes(code, attributes):
            field = f"{where}.attributes"
            if issue.field != "attributes":
                field += f".{issue.field}"
            errors.append(FieldError(field, issue.message))
    return errors


def _raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidInput.of(errors)


def _check_site(session: Session, actor: User, site_id: Any) -> list[FieldError]:
    site = session.get(Site, site_id) if _is_int(site_id) and 0 < site_id <= MAX_DB_INT else None
    if site is None or site.org_id != actor.org_id:
        return [FieldError("site_id", f"no site {site_id} in your organization")]
    return []


def name_key(name: str) -> str:
    """What makes two resource names the same at one site: case and surrounding spaces do not
    count (the SQL of the unique index, ``lower(ltrim(rtrim(name)))``, on stored names)."""
    return name.strip(" ").lower()


def _sql_name_key(column: Any) -> Any:
    return func.lower(func.ltrim(func.rtrim(column)))


def name_taken(
    session: Session, site_id: int, name: str, *, exclude_id: int | None = None
) -> Resource | None:
    """The resource of site ``site_id`` (other than ``exclude_id``) whose name is the same as
    ``name`` in the sense of the unique index, if any."""
    stmt = select(Resource).where(
        Resource.site_id == site_id, _sql_name_key(Resource.name) == _sql_name_key(name)
    )
    if exclude_id is not None:
        stmt = stmt.where(Resource.id != exclude_id)
    return session.scalars(stmt.limit(1)).first()


def _name_conflict(existing: Resource) -> Conflict:
    site = existing.site.name if existing.site is not None else f"site {existing.site_id}"
    message = (
        f"site {site!r} already has a resource named {existing.name!r} (resource {existing.id}); "
        "names are unique per site, ignoring case and surrounding spaces"
    )
    return Conflict(message, [FieldError("name", message)])


def _check_name_free(
    session: Session, site_id: Any, name: Any, exclude_id: int | None = None
) -> None:
    if not (_is_int(site_id) and isinstance(name, str)):
        return
    existing = name_taken(session, site_id, name, exclude_id=exclude_id)
    if existing is not None:
        raise _name_conflict(existing)


def _flush_unique_name(session: Session, resource: Resource) -> None:
    """Flush; a concurrent writer that took the name in the meantime becomes the 409."""
    try:
        session.flush()
    except IntegrityError as exc:
        if "uq_resources_site_name" not in str(exc.orig):
            raise
        site_id, name, own_id = resource.site_id, resource.name, resource.id
        session.rollback()
        existing = name_taken(session, site_id, name, exclude_id=own_id)
        if existing is None:
            raise
        raise _name_conflict(existing) from exc


def _normalized_offers(offers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"code": o["code"], "attributes": dict(o.get("attributes") or {})} for o in offers]


def _stripped_name(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with ``name`` (when it is text) stripped of surrounding whitespace."""
    if isinstance(values.get("name"), str):
        values["name"] = values["name"].strip()
    return values


def get_resource(session: Session, actor: User, resource_id: int) -> Resource:
    """Resource ``resource_id`` if it is the caller's or public; 404 otherwise."""
    return visible_resource(session, actor, resource_id)


def create_resource(
    session: Session, actor: User, *, capabilities: Sequence[Mapping[str, Any]], **values: Any
) -> Resource:
    """A new resource of the caller's organization; :class:`InvalidInput` names every bad
    field (nothing is written then)."""
    require_role(actor)
    values = _stripped_name({k: v for k, v in values.items() if k in RESOURCE_FIELDS})
    errors = check_resource_values(values)
    if "name" not in values:
        errors.append(FieldError("name", "required"))
    if "hourly_rate_minor" not in values:
        errors.append(FieldError("hourly_rate_minor", "required"))
    errors += _check_site(session, actor, values.get("site_id"))
    errors += check_capabilities(capabilities)
    _raise_if(errors)
    with transaction(session):
        _check_name_free(session, values["site_id"], values["name"])
        resource = Resource(org_id=actor.org_id, **values)
        resource.capabilities = [ResourceCapability(**o) for o in _normalized_offers(capabilities)]
        session.add(resource)
        _flush_unique_name(session, resource)
    return resource


def update_resource(
    session: Session,
    actor: User,
    resource_id: int,
    *,
    capabilities: Sequence[Mapping[str, Any]] | None = None,
    **changes: Any,
) -> Resource:
    """Change the given fields of the caller's resource; ``capabilities`` replaces the list."""
    resource = own_resource(session, actor, resource_id)
    require_role(actor)
    changes = _stripped_name({k: v for k, v in changes.items() if k in RESOURCE_FIELDS})
    errors = check_resource_values(changes)
    if "site_id" in changes and changes["site_id"] is not None:
        errors += _check_site(session, actor, changes["site_id"])
    if capabilities is not None:
        errors += check_capabilities(capabilities)
    _raise_if(errors)
    with transaction(session):
        if changes.get("name") is not None or changes.get("site_id") is not None:
            _check_name_free(
                session,
                changes.get("site_id") or resource.site_id,
                changes.get("name") or resource.name,
                exclude_id=resource.id,
            )
        for key, value in changes.items():
            setattr(resource, key, value)
        if capabilities is not None:
            wanted = {o["code"]: o for o in _normalized_offers(capabilities)}
            kept = []
            for cap in resource.capabilities:
                if cap.code in wanted:
                    cap.attributes = wanted.pop(cap.code)["attributes"]
                    kept.append(cap)
            resource.capabilities = kept + [ResourceCapability(**o) for o in wanted.values()]
        _flush_unique_name(session, resource)
    return resource


def delete_resource(session: Session, actor: User, resource_id: int) -> None:
    """Delete the caller's resource with its capabilities, windows and rules. Refused (409)
    once it has bookings (they are history that orders and invoices refer to): make the
    resource private instead."""
    resource = own_resource(session, actor, resource_id)
    require_role(actor)
    with transaction(session):
        booked = session.scalar(
            select(func.count()).select_from(Booking).where(Booking.resource_id == resource.id)
        )
        if booked:
            raise Conflict(
                f"resource {resource_id} has {booked} booking(s) and cannot be deleted; "
                "set is_public to false to withdraw it",
                [FieldError("resource_id", "has bookings")],
            )
        session.delete(resource)
