"""Capability (process taxonomy node) schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class AttributeSpecPublic(BaseModel):
    """A typed capability attribute (work envelope, tolerance, materials, ...)."""

    name: str
    type: str
    unit: str | None
    match: str
    label: str
    description: str
    examples: list[str] = []


class CapabilityPublic(BaseModel):
    """A taxonomy node with its English and Chinese names and its (inherited) attributes."""

    code: str
    parent: str | None
    name_en: str
    name_zh: str
    kind: str
    description: str
    aliases: list[str]
    attributes: dict[str, AttributeSpecPublic]
    children: list[str] = []


class CapabilitiesPublic(BaseModel):
    """Matching taxonomy nodes and the taxonomy version."""

    data: list[CapabilityPublic]
    count: int
    version: str

    @staticmethod
    def node(raw: dict[str, Any], children: list[str]) -> CapabilityPublic:
        """A :class:`CapabilityPublic` from ``CapabilityNode.to_dict()``."""
        return CapabilityPublic(**{**raw, "children": children})
