"""The versioned process taxonomy (DIN 8580 main groups plus innovation and service capacity).

The taxonomy ships as ``sharefab/domain/data/taxonomy.json``. Each node has a stable dotted
code (``separating.machining.milling.5axis``), English and Simplified Chinese names, a kind
(manufacturing, innovation, service) and a typed attribute schema inherited by its children.

Matching honours subsumption: a request for ``separating.machining.milling`` is served by an
offer of ``separating.machining.milling.5axis`` (a descendant), never the other way round. The
attribute match rules are described in :mod:`sharefab.domain.capability_attributes`.

>>> tax = load_taxonomy()
>>> tax.subsumes("separating.machining.milling", "separating.machining.milling.5axis")
True
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any

from sharefab.domain.capability_attributes import (
    AttributeIssue,
    AttributeSpec,
    AttributeType,
    MatchRule,
    validate_values,
)

__all__ = [
    "AttributeIssue",
    "AttributeSpec",
    "AttributeType",
    "CapabilityKind",
    "CapabilityNode",
    "InvalidAttributes",
    "MatchResult",
    "MatchRule",
    "Taxonomy",
    "TaxonomyError",
    "UnknownCapability",
    "load_taxonomy",
    "parse_taxonomy",
]

_CODE_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


class CapabilityKind(StrEnum):
    """The three kinds of shared capacity."""

    MANUFACTURING = "manufacturing"
    INNOVATION = "innovation"
    SERVICE = "service"


class TaxonomyError(ValueError):
    """The taxonomy data is inconsistent (raised while loading)."""


class UnknownCapability(ValueError):
    """A capability code that is not in the taxonomy; the message suggests close codes."""

    def __init__(self, code: str, suggestions: list[str] | None = None) -> None:
        self.code = code
        self.suggestions = list(suggestions or [])
        msg = f"unknown capability {code!r}" if code.strip() else "capability code is empty"
        if self.suggestions:
            msg += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        else:
            msg += "; search the taxonomy (GET /api/v1/capabilities?q=...) for valid codes"
        super().__init__(msg)


class InvalidAttributes(ValueError):
    """Requested attribute values that do not fit the capability's schema."""

    def __init__(self, code: str, issues: list[AttributeIssue]) -> None:
        self.code = code
        self.issues = issues
        detail = "; ".join(f"{i.field}: {i.message}" for i in issues)
        super().__init__(f"invalid attributes for capability {code!r}: {detail}")


@dataclass(frozen=True, eq=False)
class CapabilityNode:
    """One taxonomy node. ``attributes`` is the full (inherited) schema of the node."""

    code: str
    parent: str | None
    name_en: str
    name_zh: str
    kind: CapabilityKind
    description: str
    attributes: Mapping[str, AttributeSpec]
    own_attributes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def depth(self) -> int:
        """0 for a main group, 1 for its children, ..."""
        return self.code.count(".")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (attributes include the inherited ones)."""
        return {
            "code": self.code,
            "parent": self.parent,
            "name_en": self.name_en,
            "name_zh": self.name_zh,
            "kind": self.kind.value,
            "description": self.description,
            "aliases": list(self.aliases),
            "attributes": {name: spec.to_dict() for name, spec in self.attributes.items()},
            "own_attributes": list(self.own_attributes),
        }


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Whether an offer serves a request, and why not (human-readable reasons)."""

    ok: bool
    reasons: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok


class Taxonomy:
    """The loaded, validated taxonomy. Build it with :func:`load_taxonomy`."""

    def __init__(
        self, version: str, nodes: list[CapabilityNode], attributes: Mapping[str, AttributeSpec]
    ) -> None:
        self.version = version
        self.attribute_definitions: dict[str, AttributeSpec] = dict(attributes)
        self._nodes: dict[str, CapabilityNode] = {n.code: n for n in nodes}
        self._children: dict[str | None, list[str]] = {}
        for node in nodes:
            self._children.setdefault(node.parent, []).append(node.code)

    # --------------------------------------------------------------- navigation
    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[CapabilityNode]:
        return iter(self._nodes.values())

    def __contains__(self, code: object) -> bool:
        return code in self._nodes

    @property
    def codes(self) -> list[str]:
        """All codes in file (pre-)order."""
        return list(self._nodes)

    def roots(self) -> list[CapabilityNode]:
        """The main groups."""
        return [self._nodes[c] for c in self._children.get(None, [])]

    def children(self, code: str) -> list[CapabilityNode]:
        """Direct children of ``code``."""
        self.get(code)
        return [self._nodes[c] for c in self._children.get(code, [])]

    def get(self, code: str) -> CapabilityNode:
        """The node for ``code``; raises :class:`UnknownCapability` with close matches."""
        node = self._nodes.get(code) if isinstance(code, str) else None
        if node is None:
            raise UnknownCapability(str(code), self.suggest(str(code)))
        return node

    def suggest(self, code: str, limit: int = 5) -> list[str]:
        """Codes close to a mistyped ``code`` (by similarity and by shared last segment)."""
        q = code.strip().casefold()
        if not q:
            return []
        last = q.rsplit(".", 1)[-1]
        out: list[str] = [c for c in self._nodes if last and c.rsplit(".", 1)[-1] == last]
        for c in difflib.get_close_matches(q, self._nodes, n=limit, cutoff=0.6):
            if c not in out:
                out.append(c)
        if not out:
            out = [n.code for n in self.search(q.replace(".", " "), limit=limit)]
        return out[:limit]

    def ancestors(self, code: str) -> list[str]:
        """Codes from the parent of ``code`` up to its main group."""
        node = self.get(code)
        out: list[str] = []
        while node.parent is not None:
            out.append(node.parent)
            node = self._nodes[node.parent]
        return out

    def subsumes(self, ancestor_code: str, code: str) -> bool:
        """True if ``code`` is ``ancestor_code`` or one of its descendants."""
        self.get(ancestor_code)
        self.get(code)
        return code == ancestor_code or code.startswith(ancestor_code + ".")

    def descendants(self, code: str, include_self: bool = True) -> list[str]:
        """``code`` (optionally) and all codes below it, depth-first."""
        self.get(code)
        out: list[str] = [code] if include_self else []
        stack = list(reversed(self._children.get(code, [])))
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(reversed(self._children.get(c, [])))
        return out

    # ------------------------------------------------------------------- search
    def search(self, q: str, limit: int = 50) -> list[CapabilityNode]:
        """Nodes whose code, English or Chinese name (or alias) matches ``q``.

        Case-insensitive. Ranking: exact code/name, then prefix, then substring of the whole
        query, then nodes containing every whitespace-separated token; ties in file order.
        An empty query returns the first ``limit`` nodes.
        """
        query = q.strip().casefold()
        if limit <= 0:
            return []
        if not query:
            return list(self._nodes.values())[:limit]
        tokens = query.split()
        scored: list[tuple[int, int, CapabilityNode]] = []
        for idx, node in enumerate(self._nodes.values()):
            hay = [
                node.code,
                node.name_en.casefold(),
                node.name_zh,
                *map(str.casefold, node.aliases),
            ]
            if any(h == query for h in hay):
                rank = 0
            elif any(h.startswith(query) for h in hay):
                rank = 1
            elif any(query in h for h in hay):
                rank = 2
            elif all(any(t in h for h in hay) for t in tokens):
                rank = 3
            else:
                continue
            scored.append((rank, idx, node))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [n for _, _, n in scored[:limit]]

    # --------------------------------------------------------------- attributes
    def attribute_schema(self, code: str) -> dict[str, AttributeSpec]:
        """The attribute schema of ``code`` including inherited attributes."""
        return dict(self.get(code).attributes)

    def validate_offer_attributes(self, code: str, attrs: Any) -> list[AttributeIssue]:
        """Problems with attribute values a provider publishes for ``code`` (empty = valid).

        Unknown attribute names and values of the wrong type are errors.
        """
        return validate_values(self.get(code).attributes, attrs, code=code, requested=False)

    def validate_request_attributes(self, code: str, attrs: Any) -> list[AttributeIssue]:
        """Problems with attribute values a buyer requests for ``code`` (empty = valid).

        Requests may give a single string for a set and a single number for a range.
        """
        return validate_values(self.get(code).attributes, attrs, code=code, requested=True)

    def match(
        self,
        requested_code: str,
        requested_attrs: Mapping[str, Any] | None,
        offered_code: str,
        offered_attrs: Mapping[str, Any] | None,
    ) -> MatchResult:
        """Does an offer of ``offered_code`` with ``offered_attrs`` serve the request?

        The offered capability must be the requested one or a descendant, and every requested
        attribute must be satisfied by the offered value (see the match rules). Attributes the
        request does not mention are not constrained. Unknown codes raise
        :class:`UnknownCapability`; malformed requested attributes raise
        :class:`InvalidAttributes`. Malformed or missing offered values give a failed match
        with a reason.
        """
        return self.matcher(requested_code, requested_attrs)(offered_code, offered_attrs)

    def matcher(
        self, requested_code: str, requested_attrs: Mapping[str, Any] | None
    ) -> Callable[[str, Mapping[str, Any] | None], MatchResult]:
        """Validate a request once and return ``f(offered_code, offered_attrs)``.

        Use it to test one request against many offers (catalogue search): the result of
        ``f`` is the same as :meth:`match` with that request.
        """
        req_node = self.get(requested_code)
        wanted = dict(requested_attrs or {})
        issues = self.validate_request_attributes(requested_code, wanted)
        if issues:
            raise InvalidAttributes(requested_code, issues)
        specs = [(name, value, req_node.attributes[name]) for name, value in wanted.items()]
        prefix = requested_code + "."

        def check(offered_code: str, offered_attrs: Mapping[str, Any] | None) -> MatchResult:
            off_node = self.get(offered_code)
            if offered_code != requested_code and not offered_code.startswith(prefix):
                return MatchResult(
                    False,
                    [
                        f"offered capability {off_node.code} ({off_node.name_en}) does not "
                        f"provide the requested {req_node.code} ({req_node.name_en})"
                    ],
                )
            offered = offered_attrs if isinstance(offered_attrs, Mapping) else {}
            reasons = [
                reason
                for name, value, spec in specs
                if (reason := spec.compare(value, offered.get(name))) is not None
            ]
            return MatchResult(not reasons, reasons)

        return check

    def to_dict(self) -> dict[str, Any]:
        """The whole taxonomy as plain data (version, attribute definitions, nodes)."""
        return {
            "version": self.version,
            "attributes": {k: v.to_dict() for k, v in self.attribute_definitions.items()},
            "nodes": [n.to_dict() for n in self._nodes.values()],
        }


# ------------------------------------------------------------------------- loading


def _require_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TaxonomyError(f"{where}: {key!r} must be a non-empty string")
    return value


def _parse_attribute(name: str, raw: Any) -> AttributeSpec:
    where = f"attribute {name!r}"
    if not isinstance(raw, Mapping):
        raise TaxonomyError(f"{where}: must be an object")
    try:
        a_type = AttributeType(raw.get("type"))
    except ValueError:
        known = ", ".join(t.value for t in AttributeType)
        raise TaxonomyError(f"{where}: unknown type {raw.get('type')!r} (known: {known})") from None
    try:
        rule = MatchRule(raw.get("match"))
    except ValueError:
        known = ", ".join(r.value for r in MatchRule)
        raise TaxonomyError(
            f"{where}: unknown match rule {raw.get('match')!r} (known: {known})"
        ) from None
    unit = raw.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise TaxonomyError(f"{where}: unit must be a string or null")
    try:
        return AttributeSpec(
            name=name,
            type=a_type,
            match=rule,
            unit=unit,
            label=_require_str(raw, "label", where),
            description=_require_str(raw, "description", where),
            examples=tuple(raw.get("examples", ())),
        )
    except ValueError as exc:
        raise TaxonomyError(str(exc)) from None


def parse_taxonomy(data: Mapping[str, Any]) -> Taxonomy:
    """Validate raw taxonomy data and build a :class:`Taxonomy`.

    Checks: a version string; known attribute types and match rules; unique, well-formed
    codes; each parent exists, appears before its children and is the code's prefix; names
    and descriptions present; known kinds; attributes referenced by nodes are defined and not
    redeclared by a descendant.
    """
    if not isinstance(data, Mapping):
        raise TaxonomyError("taxonomy must be a JSON object")
    version = _require_str(data, "version", "taxonomy")
    raw_attrs = data.get("attributes")
    if not isinstance(raw_attrs, Mapping):
        raise TaxonomyError("taxonomy: 'attributes' must be an object")
    definitions = {name: _parse_attribute(name, raw) for name, raw in raw_attrs.items()}
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise TaxonomyError("taxonomy: 'nodes' must be a non-empty list")

    nodes: dict[str, CapabilityNode] = {}
    for i, raw in enumerate(raw_nodes):
        if not isinstance(raw, Mapping):
            raise TaxonomyError(f"node #{i}: must be an object")
        code = _require_str(raw, "code", f"node #{i}")
        where = f"node {code!r}"
        if not _CODE_RE.match(code):
            raise TaxonomyError(f"{where}: code must be dotted lower-case segments [a-z0-9_]")
        if code in nodes:
            raise TaxonomyError(f"{where}: duplicate code")
        parent = raw.get("parent")
        expected_parent = code.rsplit(".", 1)[0] if "." in code else None
        if parent != expected_parent:
            raise TaxonomyError(f"{where}: parent {parent!r} must be {expected_parent!r}")
        if parent is not None and parent not in nodes:
            raise TaxonomyError(f"{where}: parent {parent!r} does not exist (or comes later)")
        try:
            kind = CapabilityKind(raw.get("kind"))
        except ValueError:
            raise TaxonomyError(f"{where}: unknown kind {raw.get('kind')!r}") from None
        inherited: dict[str, AttributeSpec] = dict(nodes[parent].attributes) if parent else {}
        own = raw.get("attributes", [])
        if not isinstance(own, list):
            raise TaxonomyError(f"{where}: 'attributes' must be a list of attribute names")
        for name in own:
            if name not in definitions:
                raise TaxonomyError(f"{where}: attribute {name!r} is not defined")
            if name in inherited:
                raise TaxonomyError(f"{where}: attribute {name!r} is already inherited")
            inherited[name] = definitions[name]
        aliases = raw.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise TaxonomyError(f"{where}: 'aliases' must be a list of strings")
        nodes[code] = CapabilityNode(
            code=code,
            parent=parent,
            name_en=_require_str(raw, "name_en", where),
            name_zh=_require_str(raw, "name_zh", where),
            kind=kind,
            description=_require_str(raw, "description", where),
            attributes=inherited,
            own_attributes=tuple(own),
            aliases=tuple(aliases),
        )
    return Taxonomy(version, list(nodes.values()), definitions)


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """The taxonomy shipped with the package (parsed and validated once, then cached)."""
    text = resources.files("sharefab.domain").joinpath("data/taxonomy.json").read_text("utf-8")
    return parse_taxonomy(json.loads(text))
