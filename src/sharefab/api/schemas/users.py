"""User schemas (users belong to exactly one organization)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, EmailStr, Field, field_validator

from sharefab.api.schemas.common import ORMModel, RequestModel, Text

UserRole = Literal["admin", "planner", "operator", "viewer"]


class UserCreate(RequestModel):
    """A new user in the caller's organization."""

    email: EmailStr
    password: Text = Field(min_length=8, max_length=256)
    role: UserRole = "viewer"


class UserUpdate(RequestModel):
    """Fields an admin may change; omitted fields stay as they are."""

    role: UserRole | None = None
    is_active: bool | None = None
    password: Text | None = Field(default=None, min_length=8, max_length=256)

    @field_validator("role", "is_active", "password")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must not be null (leave the field out to keep it)")
        return value


class UserPublic(ORMModel):
    """A user as shown inside their organization (never the password hash)."""

    id: int
    org_id: int
    email: str
    role: str
    is_active: bool
    created_at: datetime


class UsersPublic(BaseModel):
    """A page of users."""

    data: list[UserPublic]
    count: int
