"""The deterministic demo cluster generator."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from sharefab.domain.calendar import expand, expand_rules
from sharefab.domain.demo_catalog import load_demo_catalog
from sharefab.domain.demo_cluster import (
    DEMO_PASSWORD,
    OPERATOR_EMAIL,
    DemoCluster,
    generate_demo_cluster,
)
from sharefab.domain.geo import haversine_km
from sharefab.domain.taxonomy import load_taxonomy

NOW = datetime(2026, 11, 22, 3, tzinfo=UTC)
RESOURCE_KINDS = {
    "machine",
    "line",
    "tool",
    "instrument",
    "service_team",
    "lab",
    "vehicle",
    "storage",
}


@pytest.fixture(scope="module")
def demo() -> DemoCluster:
    return generate_demo_cluster(factories=40, seed=7, now=NOW)


def test_same_seed_same_cluster_other_seed_other_cluster(demo) -> None:
    again = generate_demo_cluster(factories=40, seed=7, now=NOW)
    assert again == demo
    other = generate_demo_cluster(factories=40, seed=8, now=NOW)
    assert [o.name for o in other.organizations] != [o.name for o in demo.organizations]


def test_counts_and_roles(demo) -> None:
    counts = demo.counts()
    assert counts["factories"] == 40 and counts["resources"] == 400
    assert counts["clusters"] >= 3 and counts["buyers"] >= 3
    names = {c.name for c in demo.clusters}
    assert any("Suzhou" in n for n in names) and any("Songshan" in n for n in names)
    assert any("Tiexi" in n for n in names)
    # every cluster has factories, every factory exactly one site and an admin
    sites_per_org = defaultdict(list)
    for i, site in enumerate(demo.sites):
        sites_per_org[site.org].append(i)
    for idx in demo.providers():
        org = demo.organizations[idx]
        assert org.roles == ("provider",)
        assert len(sites_per_org[idx]) == 1
        assert [u.role for u in demo.users if u.org == idx] == ["admin"]
    assert {demo.organizations[i].cluster for i in demo.providers()} == {0, 1, 2}
    for idx in demo.buyers():
        assert demo.organizations[idx].roles == ("buyer",)
        assert any(u.org == idx and u.role == "admin" for u in demo.users)
    operator = demo.users[0]
    assert operator.email == OPERATOR_EMAIL and operator.is_platform_operator


def test_names_and_emails_are_unique_and_users_share_the_demo_password(demo) -> None:
    names = [o.name for o in demo.organizations]
    emails = [u.email for u in demo.users]
    assert len(set(names)) == len(names)
    assert len(set(emails)) == len(emails)
    assert all(u.password == DEMO_PASSWORD for u in demo.users)
    assert all(e == e.lower() and "@" in e for e in emails)


def test_sites_are_near_their_cluster_centre(demo) -> None:
    for site in demo.sites:
        centre = demo.clusters[site.cluster]
        assert haversine_km(site.lat, site.lon, centre.lat, centre.lon) <= 15.5
        assert centre.district in site.address


def test_capabilities_exist_and_attributes_validate(demo) -> None:
    tax = load_taxonomy()
    assert len(demo.capability_codes()) >= 25
    for res in demo.resources:
        assert res.kind in RESOURCE_KINDS
        for cap in res.capabilities:
            node = tax.get(cap.code)
            assert res.category == node.kind.value
            assert tax.validate_offer_attributes(cap.code, cap.attributes) == [], res.name


def test_every_template_validates() -> None:
    """Not only the drawn ones: every template of the catalogue, several draws each."""
    tax = load_taxonomy()
    rng = random.Random(1)
    for tmpl in load_demo_catalog().templates.values():
        for _ in range(5):
            attrs = tmpl.attribute_values(rng)
            assert tax.validate_offer_attributes(tmpl.code, attrs) == [], tmpl.key


@pytest.mark.parametrize(
    ("code", "lo", "hi"),
    [
        ("separating.machining.milling.3axis", 80, 150),
        ("separating.machining.milling.5axis", 250, 450),
        ("separating.cutting.laser", 150, 300),
        ("primary_shaping.moulding.injection", 120, 400),
        ("joining.assembly.smt", 600, 1200),
        ("inspection.cmm", 200, 350),
        ("design.dfm", 300, 600),
    ],
)
def test_rates_are_realistic(code, lo, hi) -> None:
    demo = generate_demo_cluster(factories=300, seed=3, now=NOW)
    rates = [r.hourly_rate_minor for r in demo.resources if r.capabilities[0].code == code]
    assert rates, code
    assert all(lo * 100 <= r <= hi * 100 for r in rates), (code, min(rates), max(rates))


def test_resource_economics(demo) -> None:
    for res in demo.resources:
        assert res.currency == "CNY"
        assert res.hourly_rate_minor > 0 and res.setup_cost_minor >= 0
        assert 0.5 < res.speed_factor < 2.0 and res.capacity >= 1
        assert res.lease_terms is not None and res.lease_terms["model"] in {"hourly", "pay_per_use"}
        if res.lease_terms["model"] == "pay_per_use":
            assert res.lease_terms["run_hour_minor"] > 0
            assert res.lease_terms["cycle_minor"] > 0 and res.lease_terms["kwh_minor"] > 0
    assert any(r.capacity > 1 for r in demo.resources)
    assert any(not r.is_public for r in demo.resources)
    assert sum(r.is_public for r in demo.resources) > len(demo.resources) // 2
    assert any(r.lease_terms["model"] == "pay_per_use" for r in demo.resources)


def test_idle_windows(demo) -> None:
    horizon_end = NOW + timedelta(days=22)
    assert all(res.rules for res in demo.resources)
    assert sum(bool(res.windows) for res in demo.resources) >= 40
    for res in demo.resources:
        for rule in res.rules:
            assert rule.valid_from == (NOW + timedelta(hours=8)).date()  # local date in Shanghai
        for w in res.windows:
            assert NOW < w.start < w.end <= horizon_end
            assert w.duration >= timedelta(hours=2)
        rule_windows = expand_rules(res.rules, NOW, horizon_end)
        for w in res.windows:
            assert not any(w.overlaps(r) for r in rule_windows), res.name
    hours = demo.idle_hours(14)
    assert set(hours) == {c.name for c in demo.clusters} and all(h > 0 for h in hours.values())


def test_rules_of_one_calendar_profile_never_overlap() -> None:
    catalog = load_demo_catalog()
    start = datetime(2026, 11, 23, tzinfo=UTC)
    for profile in catalog.calendar_profiles:
        for rules, _ in catalog.rule_sets(profile, "Asia/Shanghai"):
            windows = sorted(w for r in rules for w in expand(r, start, start + timedelta(days=14)))
            for a, b in pairwise(windows):
                assert a.end <= b.start, (profile, a, b)


def test_summary_mentions_clusters_and_logins(demo) -> None:
    text = demo.summary()
    assert "40 factories" in text and "400 resources" in text
    assert "Suzhou Industrial Park" in text and DEMO_PASSWORD in text and OPERATOR_EMAIL in text


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="factories must be a positive integer"):
        generate_demo_cluster(factories=0, now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_demo_cluster(factories=3, now=datetime(2026, 1, 1))


@pytest.mark.slow
def test_scales_to_5000_factories() -> None:
    big = generate_demo_cluster(factories=5000, seed=11, now=NOW)
    counts = big.counts()
    assert counts["factories"] == 5000 and counts["resources"] == 50_000
    assert counts["sites"] == 5000 + counts["buyers"]
    assert len({o.name for o in big.organizations}) == len(big.organizations)
    assert len({u.email for u in big.users}) == len(big.users)
