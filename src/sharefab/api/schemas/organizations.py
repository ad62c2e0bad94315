"""Schemas of an organization's own settings (its market roles)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from sharefab.api.schemas.common import RequestModel, Text


class OrganizationRolesUpdate(RequestModel):
    """The complete new set of the organization's roles (``buyer`` and/or ``provider``; an
    ``operator`` organization keeps ``operator``, which only the platform grants)."""

    roles: list[Annotated[Text, Field(max_length=50)]] = Field(
        max_length=10, examples=[["provider", "buyer"]]
    )
