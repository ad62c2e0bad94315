"""Resources: create, read, change, delete, with taxonomy validation."""

from __future__ import annotations

from api_helpers import (
    MILL_5AXIS,
    Tenant,
    assert_problem,
    make_resource,
    make_site,
    resource_body,
    snapshot,
)
from fastapi.testclient import TestClient
from sqlalchemy import Engine

API = "/api/v1"


def test_create_read_update_delete(client: TestClient, alice: Tenant) -> None:
    site = make_site(client, alice)
    created = make_resource(client, alice, site["id"], capacity=2, speed_factor=1.25)
    assert created["org_id"] == alice.org_id
    assert created["site"] == {
        "id": site["id"],
        "name": "Suzhou plant",
        "lat": 31.3,
        "lon": 120.7,
        "cluster_id": None,
    }
    assert created["capabilities"][0]["attributes"]["tolerance_mm"] == 0.01
    rid = created["id"]
    patched = client.patch(
        f"{API}/resources/{rid}",
        json={
            "hourly_rate_minor": 42000,
            "capabilities": [
                {"code": MILL_5AXIS, "attributes": {"tolerance_mm": 0.005}},
                {"code": "separating.machining.drilling"},
            ],
            "lease_terms": {"model": "hourly"},
        },
        headers=alice.headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["hourly_rate_minor"] == 42000
    assert body["name"] == created["name"]
    assert sorted(c["code"] for c in body["capabilities"]) == [
        "separating.machining.drilling",
        MILL_5AXIS,
    ]
    assert client.get(f"{API}/resources/{rid}", headers=alice.headers).json() == body
    assert client.delete(f"{API}/resources/{rid}", headers=alice.headers).status_code == 204
    assert_problem(client.get(f"{API}/resources/{rid}", headers=alice.headers), 404)


def test_unknown_capability_names_the_field_and_suggests_codes(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    site = make_site(client, alice)
    before = snapshot(engine)
    body = resource_body(site["id"])
    body["capabilities"].append({"code": "joining.welding.laserr"})
    problem = assert_problem(
        client.post(f"{API}/resources", json=body, headers=alice.headers),
        422,
        "capabilities[1].code",
    )
    assert "did you mean" in problem["detail"]
    assert snapshot(engine) == before


def test_bad_attribute_values_are_named(client: TestClient, engine: Engine, alice: Tenant) -> None:
    site = make_site(client, alice)
    before = snapshot(engine)
    body = resource_body(site["id"])
    body["capabilities"][0]["attributes"] = {"envelope_mm": [500, 400], "colour": "red"}
    problem = assert_problem(
        client.post(f"{API}/resources", json=body, headers=alice.headers),
        422,
        "capabilities[0].attributes.envelope_mm",
    )
    assert "capabilities[0].attributes.colour" in [e["field"] for e in problem["errors"]]
    assert snapshot(engine) == before


def test_bounds_are_checked_on_create_and_update(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    site = make_site(client, alice)
    rid = make_resource(client, alice, site["id"])["id"]
    before = snapshot(engine)
    for field, value in (
        ("hourly_rate_minor", -1),
        ("setup_cost_minor", -5),
        ("capacity", 0),
        ("speed_factor", 0),
        ("currency", "yuan"),
        ("kind", "spaceship"),
    ):
        assert_problem(
            client.post(
                f"{API}/resources",
                json=resource_body(site["id"], **{field: value}),
                headers=alice.headers,
            ),
            422,
            field,
        )
        assert_problem(
            client.patch(f"{API}/resources/{rid}", json={field: value}, headers=alice.headers),
            422,
            field,
        )
    assert_problem(
        client.patch(f"{API}/resources/{rid}", json={"name": None}, headers=alice.headers),
        422,
        "name",
    )
    assert snapshot(engine) == before


def test_others_public_resource_is_readable_not_changeable(
    client: TestClient, engine: Engine, alice: Tenant, bob: Tenant
) -> None:
    site = make_site(client, alice)
    rid = make_resource(client, alice, site["id"], is_public=True)["id"]
    assert client.get(f"{API}/resources/{rid}", headers=bob.headers).status_code == 200
    before = snapshot(engine)
    assert_problem(
        client.patch(f"{API}/resources/{rid}", json={"name": "x"}, headers=bob.headers), 403
    )
    assert_problem(client.delete(f"{API}/resources/{rid}", headers=bob.headers), 403)
    assert_problem(
        client.post(
            f"{API}/resources/{rid}/windows",
            json={"start_at": "2027-01-01T00:00:00Z", "end_at": "2027-01-01T08:00:00Z"},
            headers=bob.headers,
        ),
        403,
    )
    assert snapshot(engine) == before


def test_site_with_resources_cannot_be_deleted(client: TestClient, alice: Tenant) -> None:
    site = make_site(client, alice)
    make_resource(client, alice, site["id"])
    assert_problem(client.delete(f"{API}/sites/{site['id']}", headers=alice.headers), 409)
    empty = make_site(client, alice, name="Empty hall")
    assert client.delete(f"{API}/sites/{empty['id']}", headers=alice.headers).status_code == 204
    listed = client.get(f"{API}/sites", headers=alice.headers).json()
    assert [s["id"] for s in listed["data"]] == [site["id"]]
