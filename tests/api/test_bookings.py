"""Bookings: full details for the owner, busy intervals only for other tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_helpers import Tenant, assert_problem, make_resource, make_site
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.storage.bookings import insert_booking
from sharefab.storage.db import make_session_factory

API = "/api/v1"
T0 = datetime(2027, 5, 3, 8, tzinfo=UTC)


def test_owner_sees_orders_others_see_busy_time(
    client: TestClient, engine: Engine, alice: Tenant, bob: Tenant
) -> None:
    site = make_site(client, alice)
    rid = make_resource(client, alice, site["id"], is_public=True)["id"]
    with make_session_factory(engine)() as session, session.begin():
        insert_booking(session, rid, T0, T0 + timedelta(hours=2), order_ref="PO-9")
        insert_booking(
            session, rid, T0 + timedelta(hours=4), T0 + timedelta(hours=5), status="cancelled"
        )
        insert_booking(session, rid, T0 + timedelta(days=1), T0 + timedelta(days=1, hours=3))

    own = client.get(f"{API}/bookings", params={"resource_id": rid}, headers=alice.headers).json()
    assert own["count"] == 3
    assert [b["order_ref"] for b in own["data"]] == ["PO-9", None, None]
    assert [b["status"] for b in own["data"]] == ["confirmed", "cancelled", "confirmed"]
    assert all(b["visibility"] == "full" and b["id"] for b in own["data"])
    assert client.get(f"{API}/bookings", headers=alice.headers).json()["count"] == 3

    seen = client.get(f"{API}/bookings", params={"resource_id": rid}, headers=bob.headers)
    assert seen.status_code == 200
    busy = seen.json()
    assert busy["count"] == 2  # the cancelled booking is not busy time
    assert "PO-9" not in seen.text
    for item in busy["data"]:
        assert item["visibility"] == "busy"
        assert item["id"] is None and item["order_ref"] is None and item["status"] is None
    assert busy["data"][0]["start_at"] == "2027-05-03T08:00:00Z"
    # Without resource_id Bob sees bookings of his own resources only: none.
    assert client.get(f"{API}/bookings", headers=bob.headers).json() == {"data": [], "count": 0}

    ranged = client.get(
        f"{API}/bookings",
        params={"resource_id": rid, "from": "2027-05-04T00:00:00Z", "to": "2027-05-05T00:00:00Z"},
        headers=alice.headers,
    ).json()
    assert ranged["count"] == 1
    assert_problem(
        client.get(
            f"{API}/bookings",
            params={"from": "2027-05-05T00:00:00Z", "to": "2027-05-04T00:00:00Z"},
            headers=alice.headers,
        ),
        422,
        "to",
    )


def test_a_booked_resource_cannot_be_deleted(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    site = make_site(client, alice)
    rid = make_resource(client, alice, site["id"])["id"]
    with make_session_factory(engine)() as session, session.begin():
        insert_booking(session, rid, T0, T0 + timedelta(hours=1), status="cancelled")
    assert_problem(client.delete(f"{API}/resources/{rid}", headers=alice.headers), 409)
    assert client.get(f"{API}/resources/{rid}", headers=alice.headers).status_code == 200
