"""Users of the caller's organization (only admins create or change them), and the
organization itself (its admin changes its buyer/provider roles)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from sharefab.api.deps import CurrentUser, SessionDep
from sharefab.api.schemas.auth import OrganizationPublic
from sharefab.api.schemas.common import PROBLEM_RESPONSES, IdPath, Offset
from sharefab.api.schemas.organizations import OrganizationRolesUpdate
from sharefab.api.schemas.users import UserCreate, UserPublic, UsersPublic, UserUpdate
from sharefab.services import orgs
from sharefab.services import users as service

router = APIRouter(prefix="/users", tags=["users"], responses=PROBLEM_RESPONSES)
org_router = APIRouter(prefix="/organizations", tags=["organizations"], responses=PROBLEM_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("/me")
def read_me(user: CurrentUser) -> UserPublic:
    """The caller."""
    return UserPublic.model_validate(user)


@router.get("")
def list_users(
    session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0
) -> UsersPublic:
    """Users of the caller's organization."""
    page = service.list_users(session, user, limit=limit, offset=offset)
    return UsersPublic(data=[UserPublic.model_validate(u) for u in page.data], count=page.count)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, user: CurrentUser) -> UserPublic:
    """Add a user to the caller's organization (admins only)."""
    created = service.create_user(
        session, user, email=body.email, password=body.password, role=body.role
    )
    return UserPublic.model_validate(created)


@router.get("/{user_id}")
def read_user(user_id: IdPath, session: SessionDep, user: CurrentUser) -> UserPublic:
    """A user of the caller's organization (404 for anyone else's)."""
    return UserPublic.model_validate(service.get_user(session, user, user_id))


@router.patch("/{user_id}")
def update_user(
    user_id: IdPath, body: UserUpdate, session: SessionDep, user: CurrentUser, request: Request
) -> UserPublic:
    """Change a user's role, active flag or password (admins only)."""
    changed = service.update_user(session, user, user_id, **body.model_dump(exclude_unset=True))
    request.app.state.user_cache.forget(user_id)  # this process sees the change at once
    return UserPublic.model_validate(changed)


@org_router.get("/me")
def read_my_organization(session: SessionDep, user: CurrentUser) -> OrganizationPublic:
    """The caller's organization and its roles."""
    return OrganizationPublic.model_validate(orgs.get_organization(session, user, user.org_id))


@org_router.put("/{org_id}/roles")
def set_organization_roles(
    org_id: IdPath, body: OrganizationRolesUpdate, session: SessionDep, user: CurrentUser
) -> OrganizationPublic:
    """Replace the roles of the caller's organization (admins only), e.g. add ``buyer`` to a
    provider so it may post RFQs. Only ``buyer`` and ``provider`` change here: the
    ``operator`` role is the platform's (403). At least one role stays (422); another
    tenant's organization is a 404."""
    return OrganizationPublic.model_validate(orgs.set_roles(session, user, org_id, body.roles))
