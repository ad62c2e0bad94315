"""Helpers for marketplace tests: tenants, machines with idle windows, RFQs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

API = "/api/v1"
PASSWORD = "correct horse battery"
MILL = "separating.machining.milling.5axis"
ANODIZE = "coating.anodizing"
CMM = "inspection.cmm"

#: Cities of the test factories (lat, lon).
SUZHOU = (31.30, 120.62)
WUXI = (31.49, 120.31)
CHANGZHOU = (31.81, 119.97)
SHANGHAI = (31.23, 121.47)


@dataclass
class Tenant:
    """A registered organization and its signed-in admin."""

    org_id: int
    user_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The bearer header."""
        return {"Authorization": f"Bearer {self.token}"}


def register(client: TestClient, name: str, roles: list[str]) -> Tenant:
    """Register organization ``name`` with an admin and sign in."""
    email = f"admin@{name.lower().replace(' ', '-')}.example.com"
    body = {"org_name": name, "roles": roles, "email": email, "password": PASSWORD}
    response = client.post(f"{API}/auth/register", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    token = client.post(f"{API}/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return Tenant(
        created["organization"]["id"], created["user"]["id"], token.json()["access_token"]
    )


def day(offset: int) -> datetime:
    """Midnight UTC ``offset`` days from today."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=offset)


def machine(
    client: TestClient,
    tenant: Tenant,
    code: str,
    where: tuple[float, float],
    *,
    rate: int = 30_000,
    windows: list[tuple[datetime, datetime]] | None = None,
    attributes: dict[str, Any] | None = None,
    name: str = "machine",
    capacity: int = 1,
) -> int:
    """A public resource offering ``code`` at a new site ``where``, idle in ``windows``
    (default: days 1 to 4). Returns its id."""
    site = client.post(
        f"{API}/sites",
        json={"name": f"{name} site", "lat": where[0], "lon": where[1]},
        headers=tenant.headers,
    )
    assert site.status_code == 201, site.text
    body = {
        "site_id": site.json()["id"],
        "name": name,
        "kind": "machine",
        "category": "manufacturing",
        "capabilities": [{"code": code, "attributes": attributes or {}}],
        "hourly_rate_minor": rate,
        "setup_cost_minor": 5_000,
        "currency": "CNY",
        "capacity": capacity,
        "is_public": True,
    }
    resource = client.post(f"{API}/resources", json=body, headers=tenant.headers)
    assert resource.status_code == 201, resource.text
    rid = resource.json()["id"]
    for start, end in windows or [(day(1), day(4))]:
        window = client.post(
            f"{API}/resources/{rid}/windows",
            json={"start_at": start.isoformat(), "end_at": end.isoformat()},
            headers=tenant.headers,
        )
        assert window.status_code == 201, window.text
    return rid


def operation(code: str, quantity: int = 10, unit_minutes: float = 30, **extra: Any) -> dict:
    """A routing step body."""
    return {"capability": code, "quantity": quantity, "unit_minutes": unit_minutes, **extra}


def post_rfq(client: TestClient, buyer: Tenant, operations: list[dict], **extra: Any) -> Response:
    """POST /rfqs with a due date 10 days ahead unless given."""
    body = {"title": "brackets", "operations": operations, "due_at": day(10).isoformat(), **extra}
    return client.post(f"{API}/rfqs", json=body, headers=buyer.headers)


def quote(client: TestClient, buyer: Tenant, rfq_id: int) -> dict:
    """POST /rfqs/{id}/quotes, asserting 201."""
    response = client.post(f"{API}/rfqs/{rfq_id}/quotes", headers=buyer.headers)
    assert response.status_code == 201, response.text
    return response.json()


def accept(
    client: TestClient, buyer: Tenant, quote_id: int, option_id: int, key: str | None = None
) -> Response:
    """POST /quotes/{id}/accept (with an Idempotency-Key when given)."""
    headers = dict(buyer.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(
        f"{API}/quotes/{quote_id}/accept", json={"option_id": option_id}, headers=headers
    )


def event(client: TestClient, who: Tenant, order_id: int, to: str, note: str = "") -> Response:
    """POST /orders/{id}/events."""
    return client.post(
        f"{API}/orders/{order_id}/events", json={"to": to, "note": note}, headers=who.headers
    )


def assert_problem(response: Response, status: int) -> dict:
    """``response`` is a problem+json with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"]
    assert "Traceback" not in response.text
    return body
