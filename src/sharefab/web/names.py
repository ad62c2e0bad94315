"""Capability names (English and Chinese) from the shipped taxonomy, for the pages."""

from __future__ import annotations

from dataclasses import dataclass

from sharefab.domain.taxonomy import CapabilityNode, load_taxonomy


def capability_names(code: str) -> tuple[str, str]:
    """``(English, Chinese)`` names of ``code``; the code itself for an unknown one."""
    taxonomy = load_taxonomy()
    if code not in taxonomy:
        return code, ""
    node = taxonomy.get(code)
    return node.name_en, node.name_zh


def capability_label(code: str) -> str:
    """``"5-axis milling · 五轴铣削"`` for chart axes."""
    en, zh = capability_names(code)
    return f"{en} · {zh}" if zh else en


def all_capabilities() -> list[CapabilityNode]:
    """Every taxonomy node in file order (the picker's options)."""
    return list(load_taxonomy())


@dataclass(frozen=True, slots=True)
class CapabilityChoice:
    """What the catalogue's capability box resolved to, and the other close matches."""

    node: CapabilityNode | None
    alternatives: list[CapabilityNode]


def resolve_capability(text: str) -> CapabilityChoice:
    """Resolve a code, an English or Chinese name, or part of one, to one taxonomy node:
    the best-ranked match of the taxonomy search, with the next few as alternatives."""
    query = text.strip()
    if not query:
        return CapabilityChoice(None, [])
    taxonomy = load_taxonomy()
    if query in taxonomy:
        return CapabilityChoice(taxonomy.get(query), [])
    hits = taxonomy.search(query, limit=8)
    if not hits:
        return CapabilityChoice(None, [])
    return CapabilityChoice(hits[0], hits[1:])
