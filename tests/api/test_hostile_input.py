"""Hostile and out-of-range input found by the QA walk of issue 2: each gets a 4xx problem
naming the field (never a 500) and leaves the database exactly as it was."""

from __future__ import annotations

import time
from typing import Any

import jwt
from api_helpers import (
    Tenant,
    assert_problem,
    make_resource,
    make_site,
    resource_body,
    snapshot,
)
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from sharefab.api.app import create_app
from sharefab.config import Settings
from sharefab.storage.models import Site

API = "/api/v1"
INT64_PLUS = 2**63  # beyond SQLite's INTEGER and PostgreSQL's bigint
INT32_PLUS = 2**31  # beyond PostgreSQL's integer (ids and money columns)


def test_out_of_range_text_and_structure_are_named_and_change_nothing(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    site = make_site(client, alice)
    rid = make_resource(client, alice, site["id"])["id"]
    h = alice.headers

    def new(**overrides: Any) -> dict[str, Any]:
        body = resource_body(site["id"], name="Another mill")
        body.update(overrides)
        return body

    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/resources", new(hourly_rate_minor=INT64_PLUS), "hourly_rate_minor"),
        ("POST", "/resources", new(hourly_rate_minor=INT32_PLUS), "hourly_rate_minor"),
        ("POST", "/resources", new(setup_cost_minor=10**30), "setup_cost_minor"),
        ("POST", "/resources", new(site_id=INT64_PLUS), "site_id"),
        ("PATCH", f"/resources/{rid}", {"site_id": INT64_PLUS}, "site_id"),
        ("POST", "/resources", new(lease_terms={"model": "bogus"}), "lease_terms.model"),
        (
            "POST",
            "/resources",
            new(lease_terms={"model": "pay_per_use", "run_hour_minor": "lots"}),
            "lease_terms.run_hour_minor",
        ),
        ("POST", "/resources", new(lease_terms={"model": "pay_per_use"}), "lease_terms"),
        ("POST", "/resources", new(description="d" * 20_000), "description"),
        ("POST", "/resources", new(name="Mill\x00"), "name"),
        (
            "POST",
            "/resources",
            new(
                capabilities=[{"code": "separating", "attributes": {"materials": ["m" * 40] * 900}}]
            ),
            "capabilities[0].attributes",
        ),
        ("POST", "/sites", {"name": "Plant\x00", "lat": 1, "lon": 1}, "name"),
        ("POST", "/sites", {"name": "Big", "address": "y" * 100_000}, "address"),
        ("POST", "/sites", {"name": "Big", "cluster_id": INT64_PLUS}, "cluster_id"),
        (
            "POST",
            f"/resources/{rid}/windows",
            {"start_at": "9999-12-31T10:00:00Z", "end_at": "9999-12-31T23:59:59-14:00"},
            "end_at",
        ),
        (
            "POST",
            f"/resources/{rid}/windows",
            {"start_at": "0001-01-01T00:00:00+14:00", "end_at": "2027-01-01T00:00:00Z"},
            "start_at",
        ),
        (
            "POST",
            f"/resources/{rid}/calendar-rules",
            {
                "weekdays": ["mon"],
                "start_time": "08:00",
                "end_time": "12:00",
                "valid_from": "9999-12-20",
            },
            "valid_from",
        ),
        ("PATCH", f"/users/{alice.user_id}", {"role": None}, "role"),
        ("GET", f"/resources/{INT64_PLUS}", {}, "resource_id"),
        ("GET", f"/resources/{INT32_PLUS}", {}, "resource_id"),
        ("DELETE", f"/resources/{rid}/windows/{INT64_PLUS}", {}, "window_id"),
        ("PATCH", f"/sites/{INT64_PLUS}", {"name": "x"}, "site_id"),
        ("GET", f"/users/{INT64_PLUS}", {}, "user_id"),
        ("GET", f"/bookings?resource_id={INT64_PLUS}", {}, "resource_id"),
        ("GET", f"/resources?offset={INT64_PLUS}", {}, "offset"),
        ("GET", f"/sites?offset={10**30}", {}, "offset"),
        ("GET", "/resources?near=31,120&radius_km=inf", {}, "radius_km"),
        (
            "GET",
            "/resources?available_from=9999-12-31T23:00:00-14:00"
            "&available_to=9999-12-31T23:59:00-14:00",
            {},
            "available_from",
        ),
    ]
    before = snapshot(engine)
    for method, path, body, field in cases:
        kwargs: dict[str, Any] = {"headers": h}
        if method in ("POST", "PATCH"):
            kwargs["json"] = body
        response = client.request(method, f"{API}{path}", **kwargs)
        assert response.status_code == 422, (method, path, response.text)
        assert_problem(response, 422, field)
    assert snapshot(engine) == before


def test_unreadable_bodies_name_the_body(client: TestClient, engine: Engine, alice: Tenant) -> None:
    before = snapshot(engine)
    headers = {**alice.headers, "Content-Type": "application/json"}
    for content in (b'{"name": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000):
        response = client.post(f"{API}/sites", content=content, headers=headers)
        assert response.status_code in (400, 422), response.text
        assert_problem(response, response.status_code, "body")
    assert snapshot(engine) == before


def test_crafted_tokens_are_401_not_500(client: TestClient, alice: Tenant) -> None:
    # The app's own key (``from conftest import ...`` may pick another area's conftest when
    # several test folders run together).
    secret = client.app.state.settings.secret_key  # type: ignore[attr-defined]

    def token(**claims: Any) -> dict[str, str]:
        payload = {"sub": str(alice.user_id), "org": alice.org_id, "iss": "sharefab"}
        payload.update(claims)
        return {"Authorization": f"Bearer {jwt.encode(payload, secret, algorithm='HS256')}"}

    expired = client.get(f"{API}/users/me", headers=token(exp=int(time.time()) - 5))
    assert "expired" in assert_problem(expired, 401, "Authorization")["detail"]
    soon = int(time.time()) + 600
    for claims in ({"sub": str(INT64_PLUS), "org": INT64_PLUS}, {"sub": "abc", "org": {"x": 1}}):
        assert_problem(client.get(f"{API}/users/me", headers=token(exp=soon, **claims)), 401)


def test_site_names_are_unique_per_organization(
    client: TestClient, engine: Engine, alice: Tenant, bob: Tenant
) -> None:
    first = make_site(client, alice, name="Plant 1")
    second = make_site(client, alice, name="Plant 2")
    make_site(client, bob, name="Plant 1")  # another organization may use the same name
    before = snapshot(engine)
    again = client.post(f"{API}/sites", json={"name": " plant 1 "}, headers=alice.headers)
    assert str(first["id"]) in assert_problem(again, 409, "name")["detail"]
    rename = client.patch(
        f"{API}/sites/{second['id']}", json={"name": "PLANT 1"}, headers=alice.headers
    )
    assert_problem(rename, 409, "name")
    assert snapshot(engine) == before
    same = client.patch(
        f"{API}/sites/{first['id']}", json={"name": "Plant 1"}, headers=alice.headers
    )
    assert same.status_code == 200, same.text
    with Session(engine) as session:
        names = session.scalars(select(Site.name).where(Site.org_id == alice.org_id)).all()
    assert sorted(names) == ["Plant 1", "Plant 2"]


def test_values_the_database_refuses_are_422(settings: Settings) -> None:
    """The safety net under request validation: a value that slips through to the database
    (a number beyond the column) is the caller's error, and the transaction is rolled back."""
    router = APIRouter()

    @router.get("/too-big")
    def too_big() -> None:
        app_state = app.state
        with app_state.session_factory() as session:
            session.get(Site, INT64_PLUS)

    app = create_app(settings, extra_api_routers=[router])
    with TestClient(app, raise_server_exceptions=False) as test_client:
        assert_problem(test_client.get(f"{API}/too-big"), 422, "body")
