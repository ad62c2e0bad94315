"""Catalogue data for the demo cluster generator, shipped as ``data/demo_catalog.json``.

The file holds the industrial clusters (with real-ish centres), factory archetypes per
cluster, resource templates (taxonomy code, resource kind, model names, CNY hourly rate and
setup-cost ranges, capacity range, calendar profile, attribute value generators) and the
calendar profiles (recurring idle-window rules with weights).

Attribute value generators in the file:

* ``{"one_of": [a, b, ...]}`` picks one value;
* ``{"some_of": [...], "min": m, "max": n, "always": [...]}`` picks ``m..n`` distinct values
  and adds the ``always`` ones (for sets such as materials);
* ``{"fixed": value}`` uses the value as is.

A calendar profile is a weighted list of rule *sets*; the rules of one set never overlap
each other (``mon-fri 20:00-06:00`` with ``sat,sun 06:00-06:00`` covers nights and weekends
without a double-counted hour).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from sharefab.domain.calendar import RecurringRule, parse_rule


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """An industrial cluster (park) and its centre."""

    key: str
    name: str
    name_zh: str
    city: str
    region: str
    lat: float
    lon: float
    tz: str
    description: str
    district: str
    streets: tuple[str, ...]
    archetypes: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ResourceTemplate:
    """How to generate one kind of resource."""

    key: str
    code: str
    kind: str
    models: tuple[str, ...]
    rate_cny: tuple[int, int]
    setup_cny: tuple[int, int]
    capacity: tuple[int, int]
    metered: bool
    calendar: str
    attributes: dict[str, dict[str, Any]]

    def attribute_values(self, rng: random.Random) -> dict[str, Any]:
        """Draw concrete attribute values from the template's generators."""
        out: dict[str, Any] = {}
        for name, gen in self.attributes.items():
            options = gen.get("one_of")
            if options is not None:
                value = options[int(rng.random() * len(options))]
            elif "some_of" in gen:
                options = gen["some_of"]
                lo, hi = gen["min"], min(gen["max"], len(options))
                k = lo + int(rng.random() * (hi - lo + 1))
                chosen = set(rng.sample(range(len(options)), k))
                value = [*gen.get("always", ()), *(o for i, o in enumerate(options) if i in chosen)]
            else:
                value = gen["fixed"]
            out[name] = list(value) if isinstance(value, list) else value
        return out


@dataclass(frozen=True, slots=True)
class Archetype:
    """A kind of factory: words for its name and the resource templates it owns."""

    key: str
    words: tuple[str, ...]
    templates: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class DemoCatalog:
    """The parsed catalogue."""

    clusters: tuple[ClusterInfo, ...]
    name_prefixes: tuple[str, ...]
    name_suffixes: tuple[str, ...]
    buyers: tuple[tuple[str, str], ...]
    buyer_streets: tuple[str, ...]
    archetypes: dict[str, Archetype]
    templates: dict[str, ResourceTemplate]
    calendar_profiles: dict[str, tuple[tuple[tuple[str, ...], int], ...]]

    def rule_sets(self, profile: str, tz: str) -> list[tuple[tuple[RecurringRule, ...], int]]:
        """The parsed rule sets of a calendar profile (without validity dates), weighted."""
        return [
            (tuple(parse_rule(text, tz=tz) for text in texts), weight)
            for texts, weight in self.calendar_profiles[profile]
        ]


def _parse(data: dict[str, Any]) -> DemoCatalog:
    clusters = tuple(
        ClusterInfo(
            key=c["key"],
            name=c["name"],
            name_zh=c["name_zh"],
            city=c["city"],
            region=c["region"],
            lat=float(c["lat"]),
            lon=float(c["lon"]),
            tz=c["tz"],
            description=c["description"],
            district=c["district"],
            streets=tuple(c["streets"]),
            archetypes=tuple((k, int(w)) for k, w in c["archetypes"].items()),
        )
        for c in data["clusters"]
    )
    templates = {
        key: ResourceTemplate(
            key=key,
            code=t["code"],
            kind=t["kind"],
            models=tuple(t["models"]),
            rate_cny=(int(t["rate_cny"][0]), int(t["rate_cny"][1])),
            setup_cny=(int(t["setup_cny"][0]), int(t["setup_cny"][1])),
            capacity=(int(t["capacity"][0]), int(t["capacity"][1])),
            metered=bool(t["metered"]),
            calendar=t["calendar"],
            attributes=dict(t["attributes"]),
        )
        for key, t in data["templates"].items()
    }
    archetypes = {
        key: Archetype(
            key=key,
            words=tuple(a["words"]),
            templates=tuple((k, int(w)) for k, w in a["templates"].items()),
        )
        for key, a in data["archetypes"].items()
    }
    profiles = {
        key: tuple((tuple(texts), int(w)) for texts, w in entries)
        for key, entries in data["calendar_profiles"].items()
    }
    for arch in archetypes.values():
        for tkey, _ in arch.templates:
            if tkey not in templates:
                raise ValueError(f"archetype {arch.key!r} uses unknown template {tkey!r}")
    for cluster in clusters:
        for akey, _ in cluster.archetypes:
            if akey not in archetypes:
                raise ValueError(f"cluster {cluster.key!r} uses unknown archetype {akey!r}")
    for tmpl in templates.values():
        if tmpl.calendar not in profiles:
            raise ValueError(f"template {tmpl.key!r} uses unknown calendar {tmpl.calendar!r}")
    return DemoCatalog(
        clusters=clusters,
        name_prefixes=tuple(data["name_prefixes"]),
        name_suffixes=tuple(data["name_suffixes"]),
        buyers=tuple((name, cluster) for name, cluster in data["buyers"]),
        buyer_streets=tuple(data["buyer_streets"]),
        archetypes=archetypes,
        templates=templates,
        calendar_profiles=profiles,
    )


@lru_cache(maxsize=1)
def load_demo_catalog() -> DemoCatalog:
    """The catalogue shipped with the package (parsed once, then cached)."""
    path = resources.files("sharefab.domain").joinpath("data/demo_catalog.json")
    return _parse(json.loads(path.read_text("utf-8")))
