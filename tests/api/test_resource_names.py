"""Resource names are unique per site (case and surrounding spaces ignored): a 409 naming the
resource that has the name, a database index behind it, and a CSV round trip that works."""

from __future__ import annotations

from collections import Counter

import pytest
from api_helpers import (
    Tenant,
    assert_problem,
    make_resource,
    make_site,
    resource_body,
    snapshot,
)
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from sharefab.domain.demo_cluster import generate_demo_cluster
from sharefab.services.catalog_io import export_resources, import_resources, read_csv
from sharefab.storage.db import make_session_factory
from sharefab.storage.models import Organization, Resource

API = "/api/v1"


def test_a_second_resource_with_the_same_name_at_a_site_is_a_409_naming_the_first(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    site = make_site(client, alice)
    first = make_resource(client, alice, site["id"], name="DMG Mori DMU 50")
    before = snapshot(engine)
    for clash in ("DMG Mori DMU 50", "dmg mori dmu 50", "  DMG MORI DMU 50\t"):
        response = client.post(
            f"{API}/resources",
            json=resource_body(site["id"], name=clash),
            headers=alice.headers,
        )
        problem = assert_problem(response, 409, "name")
        assert f"resource {first['id']}" in problem["detail"]
        assert "'DMG Mori DMU 50'" in problem["detail"] and "Suzhou plant" in problem["detail"]
    assert snapshot(engine) == before
    # Another site of the same organization may use the name; surrounding spaces are dropped.
    annex = make_site(client, alice, name="Annex")
    other = make_resource(client, alice, annex["id"], name=" DMG Mori DMU 50 ")
    assert other["name"] == "DMG Mori DMU 50"


def test_renaming_or_moving_onto_a_taken_name_is_a_409(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    site = make_site(client, alice)
    annex = make_site(client, alice, name="Annex")
    mill = make_resource(client, alice, site["id"], name="Mill")
    lathe = make_resource(client, alice, site["id"], name="Lathe")
    annex_mill = make_resource(client, alice, annex["id"], name="MILL")
    before = snapshot(engine)
    rename = client.patch(
        f"{API}/resources/{lathe['id']}", json={"name": "mill "}, headers=alice.headers
    )
    assert f"resource {mill['id']}" in assert_problem(rename, 409, "name")["detail"]
    move = client.patch(
        f"{API}/resources/{annex_mill['id']}", json={"site_id": site["id"]}, headers=alice.headers
    )
    assert f"resource {mill['id']}" in assert_problem(move, 409, "name")["detail"]
    assert snapshot(engine) == before
    # A resource may keep (or re-case) its own name.
    recased = client.patch(
        f"{API}/resources/{mill['id']}",
        json={"name": "MILL", "site_id": site["id"]},
        headers=alice.headers,
    )
    assert recased.status_code == 200 and recased.json()["name"] == "MILL"


def test_the_database_refuses_duplicates_written_behind_the_service(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    site = make_site(client, alice)
    mill = make_resource(client, alice, site["id"], name="Mill")
    twin = Resource(org_id=mill["org_id"], site_id=site["id"], name=" mill ", hourly_rate_minor=1)
    with pytest.raises(IntegrityError), make_session_factory(engine)() as session, session.begin():
        session.add(twin)


def test_csv_export_imports_again_into_a_new_organization(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    site = make_site(client, alice)
    annex = make_site(client, alice, name="Annex", lat=31.2, lon=120.6)
    for where in (site, annex):  # the same names at two sites are fine
        make_resource(client, alice, where["id"], name="Mill #1")
        make_resource(client, alice, where["id"], name="Straße 1")
        make_resource(client, alice, where["id"], name="STRASSE 1")  # distinct for the index
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        target = Organization(name="Copy Works", roles=["provider"])
        session.add(target)
    with factory() as session:
        exported = export_resources(session, alice.org_id, "csv")
        session.rollback()
        report = import_resources(session, target.id, read_csv(exported))
        assert (report.created, report.sites_created, report.errors) == (6, 2, [])
        assert export_resources(session, target.id, "csv") == exported
        again = import_resources(session, target.id, read_csv(exported), skip_invalid=True)
        assert again.created == 0 and len(again.errors) == 6
        assert {e.reason for e in again.errors} == {
            "already exists at site 'Suzhou plant'",
            "already exists at site 'Annex'",
        }


@pytest.mark.parametrize(("factories", "seed"), [(40, 7), (300, 11), (5000, 7)])
def test_the_demo_generator_never_repeats_a_name_at_a_site(factories: int, seed: int) -> None:
    """What ``sharefab seed --factories N`` loads (seed 7 is its default; 5,000 factories
    is the benchmark dataset)."""
    demo = generate_demo_cluster(factories=factories, seed=seed)
    names = Counter((r.site, r.name.strip(" ").lower()) for r in demo.resources)
    assert names.most_common(1)[0][1] == 1
    assert len(demo.resources) == factories * 10


def test_names_in_the_database_are_stored_trimmed(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    site = make_site(client, alice)
    made = make_resource(client, alice, site["id"], name="\tOven 2  ")
    with engine.connect() as conn:
        stored = conn.execute(select(Resource.name).where(Resource.id == made["id"])).scalar()
    assert stored == "Oven 2"
