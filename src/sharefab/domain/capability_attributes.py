"""Typed capability attributes: their specification, value validation and matching rules.

An attribute is declared once in the taxonomy file (name, type, unit, match rule) and attached
to taxonomy nodes; children inherit their ancestors' attributes. This module knows how to check
one value against its :class:`AttributeSpec` and how to compare a requested value with an
offered one, producing a human-readable reason when they do not match.

Match rules (``AttributeSpec.match``):

* ``envelope`` (vector3, mm): the requested part bounding box fits the offered work envelope.
  Both triples are sorted before comparing, i.e. the part may be turned in 90-degree steps so
  that any of its edges lies along any machine axis; diagonal placement is not considered (a
  conservative rule).
* ``precision`` (number): the offered value is at most the requested one, e.g. an offered
  tolerance of 0.005 mm serves a request for 0.01 mm (at least as tight).
* ``upper_limit`` (number): the offer states a maximum; the requested value must not exceed
  it (part mass, sheet thickness, press force ...).
* ``lower_limit`` (number): the offer states a minimum; the requested value must reach it
  (minimum order quantity, smallest feature).
* ``contains`` (set_of_strings): every requested value is in the offered set; comparison
  ignores case and treats spaces, hyphens and underscores alike ("Stainless-Steel" ==
  "stainless_steel").
* ``range`` (number_range): the requested number, or ``[min, max]`` range, lies inside the
  offered ``[min, max]``.
* ``flag`` (boolean): a requested ``true`` needs an offered ``true``; a missing offered flag
  counts as ``false``. A requested ``false`` matches anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class AttributeType(StrEnum):
    """Value type of a capability attribute."""

    NUMBER = "number"
    NUMBER_RANGE = "number_range"
    VECTOR3 = "vector3"
    SET_OF_STRINGS = "set_of_strings"
    BOOLEAN = "boolean"


class MatchRule(StrEnum):
    """How a requested value is compared with an offered value (see module docstring)."""

    ENVELOPE = "envelope"
    PRECISION = "precision"
    UPPER_LIMIT = "upper_limit"
    LOWER_LIMIT = "lower_limit"
    CONTAINS = "contains"
    RANGE = "range"
    FLAG = "flag"


#: Which match rules make sense for which value type.
ALLOWED_RULES: dict[AttributeType, frozenset[MatchRule]] = {
    AttributeType.NUMBER: frozenset(
        {MatchRule.PRECISION, MatchRule.UPPER_LIMIT, MatchRule.LOWER_LIMIT}
    ),
    AttributeType.NUMBER_RANGE: frozenset({MatchRule.RANGE}),
    AttributeType.VECTOR3: frozenset({MatchRule.ENVELOPE}),
    AttributeType.SET_OF_STRINGS: frozenset({MatchRule.CONTAINS}),
    AttributeType.BOOLEAN: frozenset({MatchRule.FLAG}),
}


@dataclass(frozen=True, slots=True)
class AttributeIssue:
    """One problem with an attribute value: the attribute (``field``) and what is wrong."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The ``{field, message}`` shape used in API problem details."""
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """The declaration of one typed capability attribute."""

    name: str
    type: AttributeType
    match: MatchRule
    unit: str | None
    label: str
    description: str
    examples: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.match not in ALLOWED_RULES[self.type]:
            allowed = ", ".join(sorted(ALLOWED_RULES[self.type]))
            raise ValueError(
                f"attribute {self.name!r}: match rule {self.match.value!r} does not fit type "
                f"{self.type.value!r} (allowed: {allowed})"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type.value,
            "unit": self.unit,
            "match": self.match.value,
            "label": self.label,
            "description": self.description,
        }
        if self.examples:
            out["examples"] = list(self.examples)
        return out

    # ----------------------------------------------------------------- validation
    def check_offer_value(self, value: Any) -> str | None:
        """Return a message if ``value`` is not a valid *offered* value, else ``None``."""
        return _check_value(self, value, requested=False)

    def check_request_value(self, value: Any) -> str | None:
        """Return a message if ``value`` is not a valid *requested* value, else ``None``.

        Requests are a little more liberal than offers: a single string is accepted for a set,
        and a single number for a range.
        """
        return _check_value(self, value, requested=True)

    # ------------------------------------------------------------------- matching
    def compare(self, requested: Any, offered: Any) -> str | None:
        """Compare valid values; return the reason they do not match, or ``None`` if they do.

        ``offered`` may be ``None`` (the offer does not state this attribute).
        """
        if self.type is AttributeType.BOOLEAN:
            if requested is True and offered is not True:
                return f"the offer does not provide {self.label} (requested)"
            return None
        if offered is None:
            wanted = _fmt_request(self, requested)
            return f"the offer does not state its {self.label}, so {wanted} cannot be confirmed"
        problem = self.check_offer_value(offered)
        if problem is not None:
            return f"the offer's {self.label} is invalid: {problem}"
        return _COMPARATORS[self.match](self, requested, offered)


# --------------------------------------------------------------------- helpers


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _fmt(x: float) -> str:
    return f"{float(x):g}"


def _with_unit(spec: AttributeSpec, text: str) -> str:
    return f"{text} {spec.unit}" if spec.unit else text


def _fmt_request(spec: AttributeSpec, requested: Any) -> str:
    if spec.type is AttributeType.SET_OF_STRINGS:
        values = [requested] if isinstance(requested, str) else list(requested)
        return "the requested " + ", ".join(values)
    if spec.type is AttributeType.VECTOR3:
        return "the requested " + _with_unit(spec, "×".join(_fmt(v) for v in requested))
    if spec.type is AttributeType.NUMBER_RANGE and not _is_number(requested):
        return "the requested " + _with_unit(spec, f"{_fmt(requested[0])}..{_fmt(requested[1])}")
    return "the requested " + _with_unit(spec, _fmt(requested))


def normalize_token(value: str) -> str:
    """Canonical form of a set element: case-folded, spaces/hyphens/underscores as ``_``."""
    return re.sub(r"[\s\-_]+", "_", value.strip()).casefold()


def _check_value(spec: AttributeSpec, value: Any, *, requested: bool) -> str | None:
    t = spec.type
    if t is AttributeType.NUMBER:
        if not _is_number(value):
            return f"must be a number, got {value!r}"
        if value <= 0:
            return f"must be greater than 0, got {_fmt(value)}"
        return None
    if t is AttributeType.NUMBER_RANGE:
        if requested and _is_number(value):
            return None
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or not all(_is_number(v) for v in value)
        ):
            return f"must be a [min, max] pair of numbers, got {value!r}"
        if value[0] > value[1]:
            return f"min {_fmt(value[0])} is greater than max {_fmt(value[1])}"
        return None
    if t is AttributeType.VECTOR3:
        if (
            not isinstance(value, list | tuple)
            or len(value) != 3
            or not all(_is_number(v) for v in value)
        ):
            return f"must be three numbers [x, y, z] in {spec.unit or 'mm'}, got {value!r}"
        if any(v <= 0 for v in value):
            return f"every dimension must be greater than 0, got {list(value)!r}"
        return None
    if t is AttributeType.SET_OF_STRINGS:
        if requested and isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple | set | frozenset):
            return f"must be a list of strings, got {value!r}"
        if not value:
            return "must not be empty"
        for item in value:
            if not isinstance(item, str) or not item.strip():
                return f"must contain only non-empty strings, got {item!r}"
        return None
    # boolean
    if not isinstance(value, bool):
        return f"must be true or false, got {value!r}"
    return None


def _cmp_envelope(spec: AttributeSpec, requested: Any, offered: Any) -> str | None:
    part = sorted((float(v) for v in requested), reverse=True)
    env = sorted((float(v) for v in offered), reverse=True)
    if all(p <= e for p, e in zip(part, env, strict=True)):
        return None
    p_txt = "×".join(_fmt(v) for v in requested)
    e_txt = "×".join(_fmt(v) for v in offered)
    return (
        f"part {_with_unit(spec, p_txt)} does not fit the {spec.label} "
        f"{_with_unit(spec, e_txt)} in any axis-aligned orientation"
    )


def _cmp_precision(spec: AttributeSpec, requested: Any, offered: Any) -> str | None:
    if float(offered) <= float(requested):
        return None
    return (
        f"{spec.label} {_with_unit(spec, _fmt(offered))} is looser than the requested "
        f"{_with_unit(spec, _fmt(requested))}"
    )


def _cmp_upper(spec: AttributeSpec, requested: Any, offered: Any) -> str | None:
    if float(requested) <= float(offered):
        return None
    return (
        f"requested {spec.label} {_with_unit(spec, _fmt(requested))} exceeds the offer's "
        f"maximum of {_with_unit(spec, _fmt(offered))}"
    )


def _cmp_lower(spec: AttributeSpec, requested: Any, offered: Any) -> str | None:
    if float(requested) >= float(offered):
        return None
    return (
        f"requested {spec.label} {_with_unit(spec, _fmt(requested))} is below the offer's "
        f"minimum of {_with_unit(spec, _fmt(offered))}"
    )


def _cmp_contains(spec: AttributeSpec, requested: Any, offered: Any) -> str | None:
    wanted = [requested] if isinstance(requested, str) else list(requested)
    have = {normalize_token(v) for v in offered}
    missing = [v for v in wanted if normalize_token(v) not in have]
    if not missing:
        return None
    return (
        f"{spec.label}: the offer lacks {', '.join(missing)} (offers {', '.join(sorted(offered))})"
    )


def _cmp_range(spec: AttributeSpec, requested: Any, offered: Any) -> str | None:
    lo, hi = float(offered[0]), float(offered[1])
    if _is_number(requested):
        r_lo = r_hi = float(requested)
        r_txt = _fmt(requested)
    else:
        r_lo, r_hi = float(requested[0]), float(requested[1])
        r_txt = f"{_fmt(r_lo)}..{_fmt(r_hi)}"
    if lo <= r_lo and r_hi <= hi:
        return None
    return (
        f"requested {spec.label} {_with_unit(spec, r_txt)} is outside the offer's "
        f"{_with_unit(spec, f'{_fmt(lo)}..{_fmt(hi)}')}"
    )


_COMPARATORS = {
    MatchRule.ENVELOPE: _cmp_envelope,
    MatchRule.PRECISION: _cmp_precision,
    MatchRule.UPPER_LIMIT: _cmp_upper,
    MatchRule.LOWER_LIMIT: _cmp_lower,
    MatchRule.CONTAINS: _cmp_contains,
    MatchRule.RANGE: _cmp_range,
}


def validate_values(
    schema: Mapping[str, AttributeSpec], values: Any, *, code: str, requested: bool
) -> list[AttributeIssue]:
    """Check a mapping of attribute values against ``schema``; return every problem found."""
    if not isinstance(values, Mapping):
        return [AttributeIssue("attributes", f"must be an object, got {type(values).__name__}")]
    issues: list[AttributeIssue] = []
    for name, value in values.items():
        spec = schema.get(name)
        if spec is None:
            known = ", ".join(sorted(schema)) or "none"
            issues.append(
                AttributeIssue(
                    str(name),
                    f"unknown attribute {name!r} for capability {code!r} (known: {known})",
                )
            )
            continue
        problem = spec.check_request_value(value) if requested else spec.check_offer_value(value)
        if problem is not None:
            issues.append(AttributeIssue(name, f"{spec.label}: {problem}"))
    return issues
