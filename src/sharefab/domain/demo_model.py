"""Plain dataclasses of a generated demo cluster (see :mod:`sharefab.domain.demo_cluster`).

Objects refer to each other by index into the lists of :class:`DemoCluster`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sharefab.domain.calendar import Interval, RecurringRule, expand_rules
from sharefab.domain.demo_catalog import ClusterInfo

#: Password of every demo user (documented in the README; never use a demo DB in production).
DEMO_PASSWORD = "sharefab-demo"
#: The platform operator's login.
OPERATOR_EMAIL = "operator@sharefab.example.com"


@dataclass(slots=True)
class DemoOrganization:
    """An organization; ``cluster`` is the index of its home cluster (None: platform)."""

    name: str
    roles: tuple[str, ...]
    slug: str
    cluster: int | None
    archetype: str | None = None
    certifications: tuple[str, ...] = ()


@dataclass(slots=True)
class DemoUser:
    """A user of organization ``org`` (index); password is :data:`DEMO_PASSWORD`."""

    org: int
    email: str
    role: str
    password: str = DEMO_PASSWORD
    is_platform_operator: bool = False


@dataclass(slots=True)
class DemoSite:
    """A factory (or buyer office) address of organization ``org`` in cluster ``cluster``."""

    org: int
    cluster: int | None
    name: str
    address: str
    lat: float
    lon: float
    tz: str


@dataclass(slots=True)
class DemoCapability:
    """A taxonomy code with the resource's attribute values for it."""

    code: str
    attributes: dict[str, Any]


@dataclass(slots=True)
class DemoResource:
    """A shareable resource of organization ``org`` at site ``site`` (indices).

    Money is in integer minor units (fen). ``rules`` are recurring idle windows (valid from
    ``now``'s local date); ``windows`` are extra concrete idle windows in UTC that do not
    overlap the rules' windows.
    """

    org: int
    site: int
    name: str
    kind: str
    category: str
    hourly_rate_minor: int
    setup_cost_minor: int
    currency: str
    speed_factor: float
    capacity: int
    is_public: bool
    lease_terms: dict[str, Any] | None
    description: str
    capabilities: list[DemoCapability]
    rules: list[RecurringRule] = field(default_factory=list)
    windows: list[Interval] = field(default_factory=list)
    template: str = ""


@dataclass(slots=True)
class DemoCluster:
    """The generated demo data (plain dataclasses, no database)."""

    seed: int
    now: datetime
    clusters: list[ClusterInfo]
    organizations: list[DemoOrganization]
    users: list[DemoUser]
    sites: list[DemoSite]
    resources: list[DemoResource]
    password: str = DEMO_PASSWORD

    def providers(self) -> list[int]:
        """Indices of provider organizations (the factories)."""
        return [i for i, o in enumerate(self.organizations) if "provider" in o.roles]

    def buyers(self) -> list[int]:
        """Indices of buyer organizations."""
        return [i for i, o in enumerate(self.organizations) if "buyer" in o.roles]

    def capability_codes(self) -> set[str]:
        """Every taxonomy code offered by some resource."""
        return {c.code for r in self.resources for c in r.capabilities}

    def counts(self) -> dict[str, int]:
        """Sizes of the generated lists."""
        return {
            "clusters": len(self.clusters),
            "organizations": len(self.organizations),
            "factories": len(self.providers()),
            "buyers": len(self.buyers()),
            "users": len(self.users),
            "sites": len(self.sites),
            "resources": len(self.resources),
            "capabilities": len(self.capability_codes()),
            "rules": sum(len(r.rules) for r in self.resources),
            "windows": sum(len(r.windows) for r in self.resources),
        }

    def idle_hours(self, days: int = 14) -> dict[str, float]:
        """Published idle resource-hours per cluster over the next ``days`` days.

        Hours of each resource's windows, not multiplied by its capacity.
        """
        start, end = self.now, self.now + timedelta(days=days)
        out = {c.name: 0.0 for c in self.clusters}
        for res in self.resources:
            site = self.sites[res.site]
            if site.cluster is None:
                continue
            free = expand_rules(res.rules, start, end) + [
                w for w in res.windows if w.start < end and w.end > start
            ]
            hours = sum(iv.duration.total_seconds() for iv in free) / 3600.0
            out[self.clusters[site.cluster].name] += hours
        return out

    def summary(self, idle_days: int = 14) -> str:
        """A printable multi-line overview (counts, clusters, top capabilities, logins)."""
        c = self.counts()
        lines = [
            f"ShareFab demo cluster (seed {self.seed}, now {self.now:%Y-%m-%d %H:%M} UTC)",
            f"  {c['clusters']} clusters, {c['factories']} factories, {c['buyers']} buyers, "
            f"{c['resources']} resources over {c['capabilities']} capabilities, "
            f"{c['rules']} recurring rules, {c['windows']} extra windows",
        ]
        per_cluster: Counter[int] = Counter()
        res_cluster: Counter[int] = Counter()
        for i in self.providers():
            cl = self.organizations[i].cluster
            if cl is not None:
                per_cluster[cl] += 1
        for res in self.resources:
            cl = self.sites[res.site].cluster
            if cl is not None:
                res_cluster[cl] += 1
        idle = self.idle_hours(idle_days)
        for idx, cl in enumerate(self.clusters):
            lines.append(
                f"  {cl.name} ({cl.name_zh}): {per_cluster[idx]} factories, "
                f"{res_cluster[idx]} resources, {idle[cl.name]:,.0f} idle resource-hours "
                f"in the next {idle_days} days"
            )
        top = Counter(cap.code for r in self.resources for cap in r.capabilities)
        lines.append(
            "  top capabilities: " + ", ".join(f"{k} ({v})" for k, v in top.most_common(5))
        )
        logins = [self.users[0]] + [u for u in self.users if u.org in self.buyers()[:2]]
        factory = next((u for u in self.users if u.org in self.providers()), None)
        if factory is not None:
            logins.append(factory)
        lines.append(f"  sign in with password {self.password!r} as:")
        for u in logins:
            lines.append(f"    {u.email}  ({self.organizations[u.org].name})")
        return "\n".join(lines)
