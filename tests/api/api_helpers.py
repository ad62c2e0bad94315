"""Helpers for API tests: act as a tenant, build test data, snapshot the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select

from sharefab.storage.models import Base

PASSWORD = "correct horse battery"
PROBLEM_JSON = "application/problem+json"


@dataclass
class Tenant:
    """A registered organization and its signed-in admin."""

    org_id: int
    user_id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The bearer header."""
        return {"Authorization": f"Bearer {self.token}"}


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """A bearer token for ``email``."""
    response = client.post("/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def register_tenant(
    client: TestClient, org_name: str, email: str, roles: list[str] | None = None
) -> Tenant:
    """Register ``org_name`` with admin ``email`` and log in."""
    response = client.post(
        "/api/v1/auth/register",
        json={
            "org_name": org_name,
            "roles": roles or ["provider"],
            "email": email,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return Tenant(
        org_id=body["organization"]["id"],
        user_id=body["user"]["id"],
        email=email,
        token=login(client, email),
    )


MILL_5AXIS = "separating.machining.milling.5axis"


def make_site(client: TestClient, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    """A site in Suzhou (or as overridden)."""
    body = {
        "name": "Suzhou plant",
        "address": "Suzhou Industrial Park",
        "lat": 31.30,
        "lon": 120.70,
    }
    body.update(overrides)
    response = client.post("/api/v1/sites", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


def resource_body(site_id: int, **overrides: Any) -> dict[str, Any]:
    """A valid 5-axis mill body for ``POST /resources``."""
    body: dict[str, Any] = {
        "site_id": site_id,
        "name": "DMG Mori DMU 50",
        "kind": "machine",
        "category": "manufacturing",
        "capabilities": [
            {
                "code": MILL_5AXIS,
                "attributes": {
                    "envelope_mm": [500, 450, 400],
                    "tolerance_mm": 0.01,
                    "materials": ["aluminium", "steel", "titanium"],
                    "certifications": ["ISO9001"],
                },
            }
        ],
        "hourly_rate_minor": 35000,
        "setup_cost_minor": 20000,
        "currency": "CNY",
        "is_public": True,
    }
    body.update(overrides)
    return body


def make_resource(
    client: TestClient, tenant: Tenant, site_id: int, **overrides: Any
) -> dict[str, Any]:
    """A resource created through the API."""
    response = client.post(
        "/api/v1/resources", json=resource_body(site_id, **overrides), headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order (to prove nothing changed)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            stmt = select(table).order_by(*table.primary_key.columns)
            out[table.name] = [tuple(row) for row in conn.execute(stmt)]
    return out


def assert_problem(response: Response, status: int, field: str | None = None) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status`` naming ``field`` (if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "errors"} <= body.keys()
    assert "Traceback" not in response.text
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert field in fields, f"{field!r} not in {fields}: {body}"
    return body
