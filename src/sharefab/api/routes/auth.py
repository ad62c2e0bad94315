"""Register an organization; exchange e-mail and password for a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from sharefab.api.deps import SessionDep, SettingsDep
from sharefab.api.schemas.auth import (
    OrganizationPublic,
    RegisterRequest,
    RegisterResponse,
    Token,
)
from sharefab.api.schemas.common import PROBLEM_RESPONSES
from sharefab.api.schemas.users import UserPublic
from sharefab.api.security import create_access_token
from sharefab.services import orgs

router = APIRouter(prefix="/auth", tags=["auth"], responses=PROBLEM_RESPONSES)


@router.post("/register", status_code=status.HTTP_201_CREATED)
def register(body: RegisterRequest, session: SessionDep) -> RegisterResponse:
    """Create an organization and its first user, who is its admin."""
    org, admin = orgs.register_organization(
        session, org_name=body.org_name, roles=body.roles, email=body.email, password=body.password
    )
    return RegisterResponse(
        organization=OrganizationPublic.model_validate(org), user=UserPublic.model_validate(admin)
    )


@router.post("/token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    """OAuth2 password flow: ``username`` is the e-mail. Wrong credentials give 401."""
    user = orgs.authenticate(session, form.username, form.password)
    access = create_access_token(settings, user.id, user.org_id)
    return Token(access_token=access, expires_in=settings.access_token_minutes * 60)
