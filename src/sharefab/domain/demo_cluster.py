"""Deterministic demo cluster: factories, resources, idle windows and buyers as plain data.

:func:`generate_demo_cluster` builds, from ``random.Random(seed)`` and a reference time
``now``, three industrial clusters (Suzhou Industrial Park, Dongguan Songshan Lake, Shenyang
Tiexi), ``factories`` provider organizations (one site each, near their cluster's centre),
about ten resources per factory over the process taxonomy (realistic CNY rates, envelopes,
tolerances, materials, certifications, speed factors, capacities, lease terms), recurring idle
windows (night shifts, weekends, office hours) and a few concrete windows over the next three
weeks, plus a few buyer firms and a platform operator. Nothing touches a database: a seeder
turns the dataclasses into rows. Objects refer to each other by index into the lists of
:class:`DemoCluster` (``org``, ``site``, ``cluster``).

Every user gets the documented password :data:`DEMO_PASSWORD`, so a seeder hashes it once.
The same ``seed`` and ``now`` always give the same cluster.
"""

from __future__ import annotations

import math
import random
import re
from bisect import bisect_right
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

from sharefab.domain.calendar import Interval, RecurringRule, expand_rules, subtract
from sharefab.domain.demo_catalog import (
    ClusterInfo,
    DemoCatalog,
    ResourceTemplate,
    load_demo_catalog,
)
from sharefab.domain.demo_model import (
    DEMO_PASSWORD,
    OPERATOR_EMAIL,
    DemoCapability,
    DemoCluster,
    DemoOrganization,
    DemoResource,
    DemoSite,
    DemoUser,
)
from sharefab.domain.taxonomy import load_taxonomy

__all__ = [
    "DEMO_PASSWORD",
    "OPERATOR_EMAIL",
    "DemoCapability",
    "DemoCluster",
    "DemoOrganization",
    "DemoResource",
    "DemoSite",
    "DemoUser",
    "generate_demo_cluster",
]

CURRENCY = "CNY"
SITE_RADIUS_KM = 15.0
UNTIL_DAYS = (60, 90, 120, 180, None)
CERT_POOL = ("ISO14001", "IATF16949", "ISO13485", "AS9100", "ISO45001")


# ------------------------------------------------------------------------ generation


def _slug(text: str) -> str:
    text = re.sub(r"\b(co|ltd|technology|industrial)\b\.?", " ", text.casefold())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


class _Picker:
    """Weighted choice with precomputed cumulative weights (fast for 50,000 draws)."""

    def __init__(self, items: list[Any], weights: list[int]) -> None:
        self.items = items
        self.cum = list(accumulate(weights))

    def __call__(self, rng: random.Random) -> Any:
        return self.items[bisect_right(self.cum, rng.random() * self.cum[-1])]


def _near(rng: random.Random, lat: float, lon: float, radius_km: float) -> tuple[float, float]:
    r = radius_km * math.sqrt(rng.random())
    theta = rng.random() * 2 * math.pi
    dlat = r * math.cos(theta) / 111.32
    dlon = r * math.sin(theta) / (111.32 * math.cos(math.radians(lat)))
    return round(lat + dlat, 5), round(lon + dlon, 5)


class _Generator:
    def __init__(self, seed: int, now: datetime, catalog: DemoCatalog) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.catalog = catalog
        self.tax = load_taxonomy()
        self.orgs: list[DemoOrganization] = []
        self.users: list[DemoUser] = []
        self.sites: list[DemoSite] = []
        self.resources: list[DemoResource] = []
        self.names: set[str] = set()
        self.slugs: set[str] = set()
        self.pickers = {
            a.key: _Picker([k for k, _ in a.templates], [w for _, w in a.templates])
            for a in catalog.archetypes.values()
        }
        self.rule_set_pickers: dict[tuple[str, str, int | None], _Picker] = {}
        self.window_cache: dict[tuple[int, ...], tuple[list[Interval], list[datetime]]] = {}

    # ---------------------------------------------------------------- organizations
    def _unique_slug(self, name: str) -> str:
        base = _slug(name)
        slug, n = base, 2
        while slug in self.slugs:
            slug, n = f"{base}-{n}", n + 1
        self.slugs.add(slug)
        return slug

    def _add_org(self, name: str, roles: tuple[str, ...], cluster: int | None, **extra: Any) -> int:
        slug = self._unique_slug(name)
        self.names.add(name)
        self.orgs.append(DemoOrganization(name, roles, slug, cluster, **extra))
        return len(self.orgs) - 1

    def _factory_name(self, cluster: ClusterInfo, words: tuple[str, ...]) -> str:
        rng, cat = self.rng, self.catalog
        for _ in range(30):
            word = rng.choice(words)
            suffixes = [s for s in cat.name_suffixes if s.split()[0] not in word.split()]
            name = f"{cluster.city} {rng.choice(cat.name_prefixes)} {word} {rng.choice(suffixes)}"
            if name not in self.names:
                return name
        base = f"{cluster.city} {rng.choice(cat.name_prefixes)} {rng.choice(words)}"
        n = 2
        while f"{base} No. {n} Co., Ltd." in self.names:
            n += 1
        return f"{base} No. {n} Co., Ltd."

    def operator(self) -> None:
        org = self._add_org("ShareFab Cluster Operations", ("operator",), None)
        self.users.append(DemoUser(org, OPERATOR_EMAIL, "admin", is_platform_operator=True))

    def factory(self, cluster_idx: int, archetype: str, n_resources: int) -> None:
        rng = self.rng
        cluster = self.catalog.clusters[cluster_idx]
        arch = self.catalog.archetypes[archetype]
        name = self._factory_name(cluster, arch.words)
        certs = ["ISO9001"] if rng.random() < 0.85 else []
        certs += [c for c in CERT_POOL if rng.random() < 0.2]
        org = self._add_org(
            name, ("provider",), cluster_idx, archetype=archetype, certifications=tuple(certs)
        )
        self.users.append(DemoUser(org, f"admin@{self.orgs[org].slug}.example.com", "admin"))
        lat, lon = _near(rng, cluster.lat, cluster.lon, SITE_RADIUS_KM)
        address = f"No. {rng.randint(1, 999)} {rng.choice(cluster.streets)}, {cluster.district}"
        short = name.split(" ")[1]
        self.sites.append(
            DemoSite(
                org, cluster_idx, f"{short} {cluster.city} plant", address, lat, lon, cluster.tz
            )
        )
        site = len(self.sites) - 1
        seen: Counter[str] = Counter()
        for _ in range(n_resources):
            tmpl = self.catalog.templates[self.pickers[archetype](rng)]
            self.resources.append(self._resource(tmpl, org, site, cluster, certs, seen))

    def buyer(self, name: str, cluster_key: str) -> None:
        rng = self.rng
        idx = next(i for i, c in enumerate(self.catalog.clusters) if c.key == cluster_key)
        cluster = self.catalog.clusters[idx]
        org = self._add_org(name, ("buyer",), idx)
        self.users.append(DemoUser(org, f"admin@{self.orgs[org].slug}.example.com", "admin"))
        lat, lon = _near(rng, cluster.lat, cluster.lon, SITE_RADIUS_KM)
        street = rng.choice(self.catalog.buyer_streets)
        self.sites.append(
            DemoSite(
                org,
                idx,
                f"{name.split(' ')[1]} receiving dock",
                f"No. {rng.randint(1, 500)} {street}, {cluster.district}",
                lat,
                lon,
                cluster.tz,
            )
        )

    # -------------------------------------------------------------------- resources
    def _rule_sets(self, profile: str, tz: str) -> _Picker:
        """A picker over the profile's rule sets, valid from today for a random period."""
        until_days = UNTIL_DAYS[int(self.rng.random() * len(UNTIL_DAYS))]
        key = (profile, tz, until_days)
        picker = self.rule_set_pickers.get(key)
        if picker is None:
            today = self.now.astimezone(ZoneInfo(tz)).date()
            until = today + timedelta(days=until_days) if until_days else None
            sets = self.catalog.rule_sets(profile, tz)
            dated = [tuple(_dated(r, today, until) for r in rules) for rules, _ in sets]
            picker = _Picker(dated, [w for _, w in sets])
            self.rule_set_pickers[key] = picker
        return picker

    def _resource(
        self,
        tmpl: ResourceTemplate,
        org: int,
        site: int,
        cluster: ClusterInfo,
        certs: list[str],
        seen: Counter[str],
    ) -> DemoResource:
        rng = self.rng
        model = tmpl.models[int(rng.random() * len(tmpl.models))]
        seen[model] += 1
        node = self.tax.get(tmpl.code)
        attrs = tmpl.attribute_values(rng)
        if certs:
            attrs["certifications"] = list(certs)
        rate = _randint(rng, tmpl.rate_cny[0] // 5, tmpl.rate_cny[1] // 5) * 5
        setup = _randint(rng, tmpl.setup_cny[0] // 10, tmpl.setup_cny[1] // 10) * 10
        lease: dict[str, Any] = {"model": "hourly"}
        if tmpl.metered and rng.random() < 0.4:
            lease = {
                "model": "pay_per_use",
                "run_hour_minor": int(rate * rng.choice((80, 85, 90))),
                "cycle_minor": rng.choice((2, 5, 10, 20)),
                "kwh_minor": rng.choice((75, 85, 95, 110)),
            }
        rules = list(self._rule_sets(tmpl.calendar, cluster.tz)(rng))
        return DemoResource(
            org=org,
            site=site,
            name=f"{model} #{seen[model]}",
            kind=tmpl.kind,
            category=node.kind.value,
            hourly_rate_minor=rate * 100,
            setup_cost_minor=setup * 100,
            currency=CURRENCY,
            speed_factor=round(rng.uniform(0.85, 1.25), 2),
            capacity=_randint(rng, *tmpl.capacity),
            is_public=rng.random() < 0.85,
            lease_terms=lease,
            description=f"{model}: {node.name_en} / {node.name_zh}, {cluster.name}",
            capabilities=[DemoCapability(tmpl.code, attrs)],
            rules=rules,
            windows=self._extra_windows(rules),
            template=tmpl.key,
        )

    def _extra_windows(self, rules: list[RecurringRule]) -> list[Interval]:
        """0-2 concrete idle windows in the next 3 weeks, outside the rules' windows."""
        rng = self.rng
        if rng.random() >= 0.3:
            return []
        base = self.now.replace(minute=0, second=0, microsecond=0)
        busy, starts = self._rule_windows(tuple(rules), base)
        out: list[Interval] = []
        for _ in range(1 + int(rng.random() * 2)):
            start = base + timedelta(hours=_randint(rng, 24, 20 * 24))
            cand = Interval(start, start + timedelta(hours=_randint(rng, 4, 36)))
            lo = max(0, bisect_right(starts, cand.start) - 1)
            hi = bisect_right(starts, cand.end)
            pieces = subtract([cand], [*busy[lo:hi], *out])
            pieces = [p for p in pieces if p.duration >= timedelta(hours=2)]
            if pieces:
                out.append(max(pieces, key=lambda p: p.duration))
        return sorted(out)

    def _rule_windows(
        self, rules: tuple[RecurringRule, ...], base: datetime
    ) -> tuple[list[Interval], list[datetime]]:
        """The rules' windows over the next 23 days and their starts (cached per rule set)."""
        key = tuple(id(r) for r in rules)
        found = self.window_cache.get(key)
        if found is None:
            windows = expand_rules(rules, base, base + timedelta(days=23))
            found = (windows, [iv.start for iv in windows])
            self.window_cache[key] = found
        return found


def _randint(rng: random.Random, lo: int, hi: int) -> int:
    """Uniform integer in ``[lo, hi]`` (cheaper than ``Random.randint``)."""
    return lo + int(rng.random() * (hi - lo + 1))


def _dated(rule: RecurringRule, start: date, until: date | None) -> RecurringRule:
    return RecurringRule(rule.weekdays, rule.start, rule.end, rule.tz, start, until)


def _resource_counts(rng: random.Random, factories: int, total: int) -> list[int]:
    counts = [rng.randint(6, 14) for _ in range(factories)]
    diff = total - sum(counts)
    i = 0
    while diff != 0:
        j = i % factories
        if diff > 0:
            counts[j] += 1
            diff -= 1
        elif counts[j] > 3:
            counts[j] -= 1
            diff += 1
        i += 1
    return counts


def generate_demo_cluster(
    factories: int = 40,
    seed: int = 7,
    now: datetime | None = None,
    resources_per_factory: int = 10,
) -> DemoCluster:
    """Generate a deterministic demo cluster (see the module docstring).

    ``now`` (timezone-aware; default: the current hour in UTC) anchors the validity of the
    recurring rules and the concrete windows. ``factories * resources_per_factory``
    resources are created. The same arguments always give the same result.
    """
    if isinstance(factories, bool) or not isinstance(factories, int) or factories < 1:
        raise ValueError(f"factories must be a positive integer, got {factories!r}")
    if not isinstance(resources_per_factory, int) or not 3 <= resources_per_factory <= 100:
        raise ValueError(
            f"resources_per_factory must be between 3 and 100, got {resources_per_factory!r}"
        )
    if now is None:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} must be timezone-aware")
    now = now.astimezone(UTC)
    catalog = load_demo_catalog()
    gen = _Generator(seed, now, catalog)
    rng = gen.rng
    gen.operator()
    n_clusters = len(catalog.clusters)
    counts = _resource_counts(rng, factories, factories * resources_per_factory)
    # The first factories of each cluster cover its archetypes once (broad capability mix);
    # the rest follow the cluster's archetype weights.
    queues = []
    for cl in catalog.clusters:
        keys = [k for k, _ in cl.archetypes]
        rng.shuffle(keys)
        queues.append(keys)
    pickers = [
        _Picker([k for k, _ in cl.archetypes], [w for _, w in cl.archetypes])
        for cl in catalog.clusters
    ]
    for i in range(factories):
        cl = i % n_clusters
        archetype = queues[cl].pop() if queues[cl] else pickers[cl](rng)
        gen.factory(cl, archetype, counts[i])
    n_buyers = min(len(catalog.buyers), max(3, factories // 8))
    for name, cluster_key in catalog.buyers[:n_buyers]:
        gen.buyer(name, cluster_key)
    return DemoCluster(
        seed=seed,
        now=now,
        clusters=list(catalog.clusters),
        organizations=gen.orgs,
        users=gen.users,
        sites=gen.sites,
        resources=gen.resources,
    )
