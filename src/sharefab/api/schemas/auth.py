"""Registration and token schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, EmailStr, Field

from sharefab.api.schemas.common import ORMModel, RequestModel, Text
from sharefab.api.schemas.users import UserPublic

#: The market roles an organization may take when it registers: the platform operator's
#: role is granted by the platform (seeded), never self-chosen.
OrgRole = Literal["provider", "buyer"]


class RegisterRequest(RequestModel):
    """A new organization and its first admin user."""

    org_name: Text = Field(min_length=1, max_length=200, examples=["Suzhou Precision Parts Co."])
    roles: list[OrgRole] = Field(min_length=1, examples=[["provider"]])
    email: EmailStr
    password: Text = Field(min_length=8, max_length=256)


class OrganizationPublic(ORMModel):
    """An organization as shown to its own members."""

    id: int
    name: str
    roles: list[str]


class RegisterResponse(BaseModel):
    """The new organization and its admin."""

    organization: OrganizationPublic
    user: UserPublic


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")
