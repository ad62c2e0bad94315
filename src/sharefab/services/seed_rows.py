"""Turn a generated :class:`~sharefab.domain.demo_cluster.DemoCluster` into table rows.

Ids are assigned here (from the first free id of each table), so parents and children can be
inserted with plain executemany and no round trip per row. Recurring rules are expanded into
concrete windows over ``horizon_days`` from the start of ``now``'s UTC day (each distinct rule
once: the generator shares rule sets between resources), and a few of those windows get a
confirmed demo booking so calendars and utilisation show something real.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sharefab.domain.calendar import Interval, RecurringRule, expand
from sharefab.domain.demo_cluster import DemoCluster, generate_demo_cluster
from sharefab.services.passwords import hash_password

#: Share of published windows that get a demo booking, and its length range in hours.
BOOKED_SHARE = 0.12
BOOKING_HOURS = (2, 6)

Progress = Callable[[str, int, int], None]


@dataclass(slots=True)
class SeedRows:
    """Rows per table name, ready for ``insert(table)`` executemany, plus the logins."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    password: str = ""
    logins: list[tuple[str, str]] = field(default_factory=list)


def _day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class _RuleExpander:
    """Expands each distinct rule once over the horizon."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.cache: dict[RecurringRule, list[Interval]] = {}

    def __call__(self, rule: RecurringRule) -> list[Interval]:
        found = self.cache.get(rule)
        if found is None:
            found = expand(rule, self.start, self.end)
            self.cache[rule] = found
        return found


def cluster_rows(
    demo: DemoCluster,
    *,
    horizon_days: int,
    first_ids: dict[str, int],
    progress: Progress | None = None,
) -> SeedRows:
    """Rows for every table from ``demo`` (see the module docstring)."""
    now = demo.now
    created = now
    start = _day_start(now)
    end = start + timedelta(days=horizon_days)
    expand_once = _RuleExpander(start, end)
    rng = random.Random(demo.seed * 7919 + 17)
    ids = dict(first_ids)
    out = SeedRows(password=demo.password)
    t = out.tables

    cluster_ids = [ids["clusters"] + i for i in range(len(demo.clusters))]
    t["clusters"] = [
        {
            "id": cid,
            "name": c.name,
            "region": f"{c.city}, {c.region}",
            "description": f"{c.name_zh} · {c.description}",
            "lat": c.lat,
            "lon": c.lon,
        }
        for cid, c in zip(cluster_ids, demo.clusters, strict=True)
    ]
    org_ids = [ids["organizations"] + i for i in range(len(demo.organizations))]
    t["organizations"] = [
        {"id": oid, "name": o.name, "roles": list(o.roles), "created_at": created}
        for oid, o in zip(org_ids, demo.organizations, strict=True)
    ]
    hashes: dict[str, str] = {}
    t["users"] = []
    for i, u in enumerate(demo.users):
        if u.password not in hashes:
            hashes[u.password] = hash_password(u.password)
        t["users"].append(
            {
                "id": ids["users"] + i,
                "org_id": org_ids[u.org],
                "email": u.email.strip().lower(),
                "password_hash": hashes[u.password],
                "role": u.role,
                "is_active": True,
                "is_platform_operator": u.is_platform_operator,
                "created_at": created,
            }
        )
        org = demo.organizations[u.org]
        if u.role == "admin" and not u.is_platform_operator:
            out.logins.append((org.name, u.email.lower()))
    # A few buyers (they search the catalogue in the demo), then a few providers.
    buyer_names = {o.name for o in demo.organizations if "buyer" in o.roles}
    buyers = [pair for pair in out.logins if pair[0] in buyer_names]
    providers = [pair for pair in out.logins if pair[0] not in buyer_names]
    out.logins = [*buyers[:3], *providers[:3]]
    site_ids = [ids["sites"] + i for i in range(len(demo.sites))]
    t["sites"] = [
        {
            "id": sid,
            "org_id": org_ids[s.org],
            "cluster_id": cluster_ids[s.cluster] if s.cluster is not None else None,
            "name": s.name,
            "address": s.address,
            "lat": s.lat,
            "lon": s.lon,
            "created_at": created,
        }
        for sid, s in zip(site_ids, demo.sites, strict=True)
    ]
    resources: list[dict[str, Any]] = []
    capabilities: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    bookings: list[dict[str, Any]] = []
    next_rule, next_window, next_booking = ids["calendar_rules"], ids["calendar_windows"], 0
    next_booking = ids["bookings"]
    total = len(demo.resources)
    for i, r in enumerate(demo.resources):
        rid = ids["resources"] + i
        resources.append(
            {
                "id": rid,
                "org_id": org_ids[r.org],
                "site_id": site_ids[r.site],
                "name": r.name,
                "kind": r.kind,
                "category": r.category,
                "hourly_rate_minor": r.hourly_rate_minor,
                "setup_cost_minor": r.setup_cost_minor,
                "currency": r.currency,
                "speed_factor": r.speed_factor,
                "capacity": r.capacity,
                "is_public": r.is_public,
                "lease_terms": r.lease_terms,
                "description": r.description,
                "created_at": created,
                "updated_at": created,
            }
        )
        for cap in r.capabilities:
            capabilities.append(
                {
                    "id": ids["resource_capabilities"] + len(capabilities),
                    "resource_id": rid,
                    "code": cap.code,
                    "attributes": cap.attributes,
                }
            )
        published: list[Interval] = []
        for rule in r.rules:
            rules.append(
                {
                    "id": next_rule,
                    "resource_id": rid,
                    "weekdays": rule.weekdays_str,
                    "start_time": rule.start.strftime("%H:%M"),
                    "end_time": rule.end.strftime("%H:%M"),
                    "timezone": rule.tz,
                    "valid_from": rule.valid_from or start.date(),
                    "valid_until": rule.valid_until,
                    "created_at": created,
                }
            )
            for iv in expand_once(rule):
                windows.append(
                    {
                        "id": next_window,
                        "resource_id": rid,
                        "start_at": iv.start,
                        "end_at": iv.end,
                        "source": "rule",
                        "rule_id": next_rule,
                    }
                )
                next_window += 1
                published.append(iv)
            next_rule += 1
        for iv in r.windows:
            if iv.end <= start or iv.start >= end:
                continue
            windows.append(
                {
                    "id": next_window,
                    "resource_id": rid,
                    "start_at": iv.start,
                    "end_at": iv.end,
                    "source": "manual",
                    "rule_id": None,
                }
            )
            next_window += 1
            published.append(iv)
        booked_until = start
        for iv in sorted(published):
            if iv.start < max(booked_until, now) or rng.random() >= BOOKED_SHARE:
                continue
            hours = BOOKING_HOURS[0] + rng.random() * (BOOKING_HOURS[1] - BOOKING_HOURS[0])
            b_end = min(iv.end, iv.start + timedelta(hours=round(hours)))
            bookings.append(
                {
                    "id": next_booking,
                    "resource_id": rid,
                    "unit": 0,
                    "start_at": iv.start,
                    "end_at": b_end,
                    "status": "confirmed",
                    "order_ref": f"DEMO-{next_booking:06d}",
                    "created_at": created,
                }
            )
            next_booking += 1
            booked_until = b_end
        if progress and (i % 2000 == 0 or i == total - 1):
            progress("expanding calendars", i + 1, total)
    t["resources"] = resources
    t["resource_capabilities"] = capabilities
    t["calendar_rules"] = rules
    t["calendar_windows"] = windows
    t["bookings"] = bookings
    return out


def demo_rows(
    *,
    factories: int,
    seed: int,
    now: datetime,
    horizon_days: int,
    first_ids: dict[str, int],
    progress: Progress | None = None,
) -> SeedRows:
    """Generate the demo cluster and return its rows."""
    if progress:
        progress("generating cluster", 0, 1)
    demo = generate_demo_cluster(factories=factories, seed=seed, now=now)
    if progress:
        progress("generating cluster", 1, 1)
    return cluster_rows(demo, horizon_days=horizon_days, first_ids=first_ids, progress=progress)
