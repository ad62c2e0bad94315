"""Factory sites of the caller's organization."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from sharefab.api.deps import CurrentUser, SessionDep
from sharefab.api.schemas.common import PROBLEM_RESPONSES, IdPath, Offset
from sharefab.api.schemas.sites import SiteCreate, SitePublic, SitesPublic, SiteUpdate
from sharefab.services import sites as service

router = APIRouter(prefix="/sites", tags=["sites"], responses=PROBLEM_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("")
def list_sites(
    session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0
) -> SitesPublic:
    """The caller's sites."""
    page = service.list_sites(session, user, limit=limit, offset=offset)
    return SitesPublic(data=[SitePublic.model_validate(s) for s in page.data], count=page.count)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_site(body: SiteCreate, session: SessionDep, user: CurrentUser) -> SitePublic:
    """Add a site."""
    return SitePublic.model_validate(service.create_site(session, user, **body.model_dump()))


@router.get("/{site_id}")
def read_site(site_id: IdPath, session: SessionDep, user: CurrentUser) -> SitePublic:
    """One of the caller's sites."""
    return SitePublic.model_validate(service.get_site(session, user, site_id))


@router.patch("/{site_id}")
def update_site(
    site_id: IdPath, body: SiteUpdate, session: SessionDep, user: CurrentUser
) -> SitePublic:
    """Change a site."""
    changes = body.model_dump(exclude_unset=True)
    return SitePublic.model_validate(service.update_site(session, user, site_id, **changes))


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_site(site_id: IdPath, session: SessionDep, user: CurrentUser) -> Response:
    """Delete a site that has no resources."""
    service.delete_site(session, user, site_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
