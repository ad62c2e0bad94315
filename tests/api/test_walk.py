"""The new user's walk from the issue, against the real app on SQLite and PostgreSQL."""

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

SHANGHAI = "31.2304,121.4737"  # ~80 km east of the Suzhou site


def test_two_tenants_publish_find_and_hide(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    site = make_site(client, alice)
    resource = make_resource(client, alice, site["id"])
    rule = client.post(
        f"/api/v1/resources/{resource['id']}/calendar-rules",
        json={"rule": "Mon-Fri 18:00-06:00 until 2027-03-31", "timezone": "Asia/Shanghai"},
        headers=alice.headers,
    )
    assert rule.status_code == 201, rule.text
    assert rule.json()["windows_created"] >= 15  # four weeks of weekday nights

    # Bob finds it by the parent capability (subsumption) ...
    by_parent = client.get(
        "/api/v1/resources", params={"capability": "separating.machining"}, headers=bob.headers
    )
    assert by_parent.status_code == 200
    assert [r["id"] for r in by_parent.json()["data"]] == [resource["id"]]
    assert by_parent.json()["data"][0]["capabilities"][0]["code"] == MILL_5AXIS
    # ... and by distance from Shanghai, with the distance reported.
    near = client.get(
        "/api/v1/resources",
        params={"near": SHANGHAI, "radius_km": 120, "capability": "separating.machining.milling"},
        headers=bob.headers,
    )
    assert near.json()["count"] == 1
    assert 70 < near.json()["data"][0]["distance_km"] < 90
    too_far = client.get(
        "/api/v1/resources", params={"near": SHANGHAI, "radius_km": 30}, headers=bob.headers
    )
    assert too_far.json() == {"data": [], "count": 0}
    # Public resources show their published rates and windows to other tenants.
    seen = client.get(f"/api/v1/resources/{resource['id']}", headers=bob.headers).json()
    assert seen["hourly_rate_minor"] == 35000
    windows = client.get(f"/api/v1/resources/{resource['id']}/windows", headers=bob.headers)
    assert windows.json()["count"] == rule.json()["windows_created"]

    # Once private, Bob can neither find nor read it; Alice still can.
    hidden = client.patch(
        f"/api/v1/resources/{resource['id']}", json={"is_public": False}, headers=alice.headers
    )
    assert hidden.status_code == 200 and hidden.json()["is_public"] is False
    assert client.get(
        "/api/v1/resources", params={"capability": "separating.machining"}, headers=bob.headers
    ).json() == {"data": [], "count": 0}
    assert_problem(client.get(f"/api/v1/resources/{resource['id']}", headers=bob.headers), 404)
    assert_problem(
        client.get(f"/api/v1/resources/{resource['id']}/windows", headers=bob.headers), 404
    )
    mine = client.get(f"/api/v1/resources/{resource['id']}", headers=alice.headers)
    assert mine.status_code == 200


def test_bad_inputs_get_named_4xx_and_change_nothing(
    client: TestClient, engine: Engine, alice: Tenant, bob: Tenant
) -> None:
    site = make_site(client, alice)
    resource = make_resource(client, alice, site["id"], is_public=False)
    rid = resource["id"]
    before = snapshot(engine)
    unknown = resource_body(site["id"])
    unknown["capabilities"][0]["code"] = "separating.machining.miling.5axis"
    body = assert_problem(
        client.post("/api/v1/resources", json=unknown, headers=alice.headers),
        422,
        "capabilities[0].code",
    )
    assert "separating.machining.milling.5axis" in body["detail"]  # a close code is suggested
    assert_problem(
        client.post(
            "/api/v1/resources",
            json=resource_body(site["id"], hourly_rate_minor=-100),
            headers=alice.headers,
        ),
        422,
        "hourly_rate_minor",
    )
    assert_problem(
        client.post(
            f"/api/v1/resources/{rid}/windows",
            json={"start_at": "2027-01-04T18:00:00Z", "end_at": "2027-01-04T06:00:00Z"},
            headers=alice.headers,
        ),
        422,
        "end_at",
    )
    assert_problem(
        client.post(
            "/api/v1/resources",
            content=b'{"site_id": 1, "name": ',
            headers={**alice.headers, "Content-Type": "application/json"},
        ),
        422,
        "body",
    )
    wrong = client.post(
        "/api/v1/auth/token", data={"username": alice.email, "password": "not the password"}
    )
    assert_problem(wrong, 401, "password")
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert_problem(client.get(f"/api/v1/resources/{rid}", headers=bob.headers), 404, "resource_id")
    assert_problem(
        client.patch(f"/api/v1/resources/{rid}", json={"name": "mine now"}, headers=bob.headers),
        404,
    )
    assert_problem(client.delete(f"/api/v1/resources/{rid}", headers=bob.headers), 404)
    assert snapshot(engine) == before
