"""Tenant-isolation classification of the webhook routes (market-ops)."""

from __future__ import annotations

from typing import Any

from isolation_table import API, Obj, Scoped

ROUTES: dict[tuple[str, str], Obj | Scoped] = {
    ("GET", f"{API}/webhooks"): Scoped(200),
    ("POST", f"{API}/webhooks"): Scoped(
        201, body={"url": "https://erp.bob.example.com/hooks", "event_types": ["*"]}
    ),
    ("DELETE", f"{API}/webhooks/{{webhook_id}}"): Obj(),
    ("GET", f"{API}/webhooks/{{webhook_id}}/deliveries"): Obj(),
    ("POST", f"{API}/webhooks/{{webhook_id}}/test"): Obj(),
}


def setup(client: Any, alice: Any, ids: dict[str, int]) -> None:
    """Alice's private webhook subscription, with one queued test delivery."""
    response = client.post(
        f"{API}/webhooks",
        json={"url": "https://erp.alice.example.com/PO-7", "event_types": ["*"]},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text
    ids["webhook_id"] = response.json()["id"]
    queued = client.post(f"{API}/webhooks/{ids['webhook_id']}/test", headers=alice.headers)
    assert queued.status_code == 202, queued.text
