"""Marketplace transitions reach subscribed webhooks: accept tells the buyer about the order
and each provider about its own work orders and bookings; a cancellation tells the provider
its bookings were released (both backends, through the HTTP API and a real receiver)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient

from sharefab.services.webhooks import dispatch_due, verify_signature

from .conftest import ApiTenant, register
from .receiver import running_receiver

API = "/api/v1"
MILL = "separating.machining.milling.5axis"


def _midnight(days: int) -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=days)


def _machine(client: TestClient, tenant: ApiTenant) -> int:
    site = client.post(
        f"{API}/sites", json={"name": "Plant", "lat": 31.3, "lon": 120.6}, headers=tenant.headers
    ).json()
    body = {
        "site_id": site["id"],
        "name": "DMU 50",
        "capabilities": [{"code": MILL, "attributes": {}}],
        "hourly_rate_minor": 30000,
        "currency": "CNY",
        "is_public": True,
    }
    resource = client.post(f"{API}/resources", json=body, headers=tenant.headers)
    assert resource.status_code == 201, resource.text
    rid = resource.json()["id"]
    window = {"start_at": _midnight(1).isoformat(), "end_at": _midnight(4).isoformat()}
    assert (
        client.post(
            f"{API}/resources/{rid}/windows", json=window, headers=tenant.headers
        ).status_code
        == 201
    )
    return rid


def _subscribe(client: TestClient, tenant: ApiTenant, url: str, events: list[str]) -> dict:
    response = client.post(
        f"{API}/webhooks", json={"url": url, "event_types": events}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def _events(client: TestClient, tenant: ApiTenant, hook_id: int) -> list[str]:
    page = client.get(f"{API}/webhooks/{hook_id}/deliveries", headers=tenant.headers).json()
    return sorted(d["event_type"] for d in page["data"])


def test_accept_and_cancel_are_delivered_to_the_right_parties(client: TestClient) -> None:
    provider = register(client, "Suzhou Mills", "admin@mills.example.com")
    buyer = register(client, "Shanghai Robotics", "admin@robotics.example.com", ["buyer"])
    resource_id = _machine(client, provider)
    with running_receiver() as receiver:
        p_hook = _subscribe(client, provider, receiver.url + "/provider", ["*"])
        b_hook = _subscribe(client, buyer, receiver.url + "/buyer", ["order.accepted"])
        rfq = client.post(
            f"{API}/rfqs",
            json={
                "title": "brackets",
                "due_at": _midnight(10).isoformat(),
                "operations": [{"capability": MILL, "quantity": 10, "unit_minutes": 30}],
            },
            headers=buyer.headers,
        )
        assert rfq.status_code == 201, rfq.text
        offer = client.post(f"{API}/rfqs/{rfq.json()['id']}/quotes", headers=buyer.headers)
        assert offer.status_code == 201, offer.text
        quote = offer.json()
        accepted = client.post(
            f"{API}/quotes/{quote['id']}/accept",
            json={"option_id": quote["options"][0]["id"]},
            headers=buyer.headers,
        )
        assert accepted.status_code == 201, accepted.text
        order = accepted.json()

        assert _events(client, provider, p_hook["id"]) == [
            "booking.created",
            "order.accepted",
            "order.state_changed",  # quoted -> accepted
            "order.state_changed",  # accepted -> scheduled
            "work_order.created",
        ]
        assert _events(client, buyer, b_hook["id"]) == ["order.accepted"]

        session_factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with httpx.Client() as http:
            report = dispatch_due(session_factory, http)
        assert report.delivered == 6 and report.attempted == 6
        by_path: dict[str, list[dict]] = {}
        for request in receiver.requests:
            secret = p_hook["secret"] if request.path.endswith("provider") else b_hook["secret"]
            assert verify_signature(secret, request.body, request.headers["X-ShareFab-Signature"])
            by_path.setdefault(request.path.rsplit("/", 1)[1], []).append(json.loads(request.body))
        work = next(e for e in by_path["provider"] if e["type"] == "work_order.created")
        assert work["data"]["resource_id"] == resource_id
        assert work["data"]["order_ref"] == order["ref"]
        assert [e["type"] for e in by_path["buyer"]] == ["order.accepted"]
        assert "price_minor" not in json.dumps(by_path["buyer"])  # providers' prices stay theirs

        cancel = client.post(
            f"{API}/orders/{order['id']}/events",
            json={"to": "cancelled", "note": "plans changed"},
            headers=buyer.headers,
        )
        assert cancel.status_code in (200, 201), cancel.text
        events = _events(client, provider, p_hook["id"])
        assert events.count("booking.cancelled") == 1
        assert events.count("order.state_changed") == 3
        assert _events(client, buyer, b_hook["id"]) == ["order.accepted"]
