"""Resources: CRUD for the owner, search over own and public resources for everyone."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from sharefab.api.deps import CurrentUser, SessionDep
from sharefab.api.schemas.common import PROBLEM_RESPONSES, IdPath, Instant, Offset
from sharefab.api.schemas.resources import (
    ResourceCreate,
    ResourcePublic,
    ResourcesPublic,
    ResourceUpdate,
)
from sharefab.services import resources as service
from sharefab.services.errors import FieldError, InvalidInput
from sharefab.services.search import ResourceHit, ResourceQuery, search_resources

router = APIRouter(
    prefix="/resources",
    tags=["resources"],
    responses=PROBLEM_RESPONSES,
)

#: Query parameter -> taxonomy attribute it filters on.
ATTRIBUTE_PARAMS = {
    "material": "materials",
    "certification": "certifications",
    "tolerance_mm": "tolerance_mm",
    "envelope_mm": "envelope_mm",
    "max_part_mass_kg": "max_part_mass_kg",
}
_PARAM_OF_ATTRIBUTE = {v: k for k, v in ATTRIBUTE_PARAMS.items()}


def _numbers(param: str, raw: str, count: int) -> list[float]:
    parts = [p.strip() for p in raw.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count:
        raise InvalidInput.single(param, f"give {count} comma-separated numbers, got {raw!r}")
    return values


def to_public(hit: ResourceHit | Any, distance_km: float | None = None) -> ResourcePublic:
    """The response body of a resource (or of a search hit, with its distance)."""
    if isinstance(hit, ResourceHit):
        distance_km, hit = hit.distance_km, hit.resource
    public = ResourcePublic.model_validate(hit)
    public.distance_km = distance_km
    return public


@router.get("")
def list_resources(
    session: SessionDep,
    user: CurrentUser,
    capability: Annotated[
        str | None, Query(description="taxonomy code; descendants match too")
    ] = None,
    material: Annotated[list[str], Query(description="material that must be offered")] = [],  # noqa: B006
    certification: Annotated[list[str], Query(description="certification held")] = [],  # noqa: B006
    tolerance_mm: Annotated[
        float | None, Query(gt=0, allow_inf_nan=False, description="needed tolerance")
    ] = None,
    envelope_mm: Annotated[str | None, Query(description="part size x,y,z in mm")] = None,
    max_part_mass_kg: Annotated[
        float | None, Query(gt=0, allow_inf_nan=False, description="part mass")
    ] = None,
    available_from: Instant | None = None,
    available_to: Instant | None = None,
    near: Annotated[str | None, Query(description="lat,lon")] = None,
    radius_km: Annotated[float | None, Query(gt=0, allow_inf_nan=False)] = None,
    mine: Annotated[bool, Query(description="only the caller's own resources")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> ResourcesPublic:
    """Search the caller's own and all public resources.

    A resource matches when it offers ``capability`` or a descendant; one offered capability
    serves every attribute filter; with ``available_from``/``available_to`` it has at least
    one published window overlapping ``[from, to)`` that is not fully booked there; with
    ``near`` (and ``radius_km``) its site lies within the radius, nearest first.
    """
    attributes: dict[str, Any] = {}
    if material:
        attributes["materials"] = material
    if certification:
        attributes["certifications"] = certification
    if tolerance_mm is not None:
        attributes["tolerance_mm"] = tolerance_mm
    if envelope_mm is not None:
        attributes["envelope_mm"] = _numbers("envelope_mm", envelope_mm, 3)
    if max_part_mass_kg is not None:
        attributes["max_part_mass_kg"] = max_part_mass_kg
    point = _numbers("near", near, 2) if near is not None else None
    query = ResourceQuery(
        capability=capability,
        attributes=attributes,
        available_from=available_from,
        available_to=available_to,
        near=(point[0], point[1]) if point else None,
        radius_km=radius_km,
        mine=mine,
        limit=limit,
        offset=offset,
    )
    try:
        page = search_resources(session, user, query)
    except InvalidInput as exc:  # name the query parameter, not the attribute
        exc.errors = [
            FieldError(_PARAM_OF_ATTRIBUTE.get(e.field, e.field), e.message) for e in exc.errors
        ]
        exc.detail = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        raise
    return ResourcesPublic(data=[to_public(h) for h in page.data], count=page.count)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_resource(body: ResourceCreate, session: SessionDep, user: CurrentUser) -> ResourcePublic:
    """Publish a resource at one of the caller's sites."""
    values = body.model_dump()
    capabilities = values.pop("capabilities")
    created = service.create_resource(session, user, capabilities=capabilities, **values)
    return to_public(created)


@router.get("/{resource_id}")
def read_resource(resource_id: IdPath, session: SessionDep, user: CurrentUser) -> ResourcePublic:
    """A resource of the caller, or a public one (404 for others' private resources)."""
    return to_public(service.get_resource(session, user, resource_id))


@router.patch("/{resource_id}")
def update_resource(
    resource_id: IdPath, body: ResourceUpdate, session: SessionDep, user: CurrentUser
) -> ResourcePublic:
    """Change the caller's resource (403 for another tenant's public resource)."""
    changes = body.model_dump(exclude_unset=True)
    capabilities = changes.pop("capabilities", None)
    changed = service.update_resource(
        session, user, resource_id, capabilities=capabilities, **changes
    )
    return to_public(changed)


@router.delete("/{resource_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_resource(resource_id: IdPath, session: SessionDep, user: CurrentUser) -> Response:
    """Delete the caller's resource (409 once it has bookings)."""
    service.delete_resource(session, user, resource_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
