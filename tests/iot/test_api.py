"""HTTP API of the telemetry area: device credentials, device-authenticated ingest (with the
wrong-resource refusal logged), utilisation, idle suggestions and usage statements."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select

from sharefab.api.app import create_app
from sharefab.config import Settings
from sharefab.storage.bookings import insert_booking
from sharefab.storage.db import make_session_factory
from sharefab.storage.telemetry_models import SecurityEvent, Telemetry, TelemetryDeadLetter

from .conftest import telemetry

API = "/api/v1"
TERMS = {"model": "pay_per_use", "run_hour_minor": 12000, "cycle_minor": 5, "kwh_minor": 90}


@dataclass
class Org:
    headers: dict[str, str]
    resource_ids: list[int]


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    settings = Settings(env="test", database_url=db_url, secret_key="iot-tests-" + "k" * 32)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _org(client: TestClient, name: str, n_resources: int = 2) -> Org:
    email = f"admin@{name.lower()}.example.com"
    body = {"org_name": name, "roles": ["provider"], "email": email, "password": "pw-long-enough"}
    assert client.post(f"{API}/auth/register", json=body).status_code == 201
    token = client.post(
        f"{API}/auth/token", data={"username": email, "password": "pw-long-enough"}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    site = client.post(f"{API}/sites", json={"name": f"{name} plant"}, headers=headers).json()
    ids = []
    for i in range(n_resources):
        r = client.post(
            f"{API}/resources",
            json={
                "site_id": site["id"],
                "name": f"{name} mill {i}",
                "kind": "machine",
                "category": "manufacturing",
                "capabilities": [{"code": "separating.machining.milling.5axis"}],
                "hourly_rate_minor": 30000,
                "currency": "CNY",
                "lease_terms": TERMS,
                "is_public": i == 0,
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return Org(headers, ids)


def _problem(response: Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


def _engine(client: TestClient) -> Engine:
    return client.app.state.engine  # type: ignore[attr-defined,no-any-return]


def _count(client: TestClient, table: Any) -> int:
    with _engine(client).connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def test_device_ingest_dedup_rejections_and_wrong_resource_refusal(client: TestClient) -> None:
    alice = _org(client, "Alice")
    a, b = alice.resource_ids
    issued = client.post(f"{API}/resources/{a}/device-credentials", headers=alice.headers)
    assert issued.status_code == 201
    device = {"Authorization": issued.json()["http_authorization"]}

    batch = [telemetry(a, i, cycle_count=i) for i in range(1, 6)]
    first = client.post(f"{API}/telemetry", json=batch, headers=device)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 5, "duplicates": 0, "rejected": 0, "rejections": []}

    retry = [*batch[3:], telemetry(a, 6), telemetry(a, 7, state="exploded")]
    second = client.post(f"{API}/telemetry", json=retry, headers=device).json()
    assert (second["accepted"], second["duplicates"], second["rejected"]) == (1, 2, 1)
    assert second["rejections"][0]["message_id"] == 7
    assert second["rejections"][0]["reason"].startswith("state:")

    # the credential of resource A carrying a message for resource B: refused and logged
    spoof = client.post(f"{API}/telemetry", json=[telemetry(b, 1)], headers=device)
    assert "resource" in _problem(spoof, 403)["detail"]
    with make_session_factory(_engine(client))() as session:
        event = session.scalars(
            select(SecurityEvent).where(SecurityEvent.kind == "device_wrong_resource")
        ).one()
        stored = session.scalar(select(func.count()).select_from(Telemetry))
    assert (event.device_resource_id, event.target_resource_id) == (a, b)
    assert event.key_id == issued.json()["key_id"]
    assert stored == 6
    assert _count(client, TelemetryDeadLetter) == 1

    # without, or with a forged, token: 401 and nothing stored
    _problem(client.post(f"{API}/telemetry", json=[telemetry(a, 9)]), 401)
    forged = {"Authorization": f"Device {issued.json()['key_id']}.not-the-secret"}
    _problem(client.post(f"{API}/telemetry", json=[telemetry(a, 9)], headers=forged), 401)
    bearer = client.post(f"{API}/telemetry", json=[telemetry(a, 9)], headers=alice.headers)
    _problem(bearer, 401)
    assert _count(client, Telemetry) == 6
    garbage = client.post(f"{API}/telemetry", content=b"{oops", headers=device).json()
    assert garbage["rejected"] == 1 and "not valid JSON" in garbage["rejections"][0]["reason"]


def test_credential_rotate_and_revoke(client: TestClient) -> None:
    alice = _org(client, "Alice", 1)
    (a,) = alice.resource_ids
    url = f"{API}/resources/{a}/device-credentials"
    old = client.post(url, headers=alice.headers).json()
    _problem(client.post(url, headers=alice.headers), 409)  # one active credential at a time
    new = client.post(f"{url}/rotate", json={"label": "controller #2"}, headers=alice.headers)
    assert new.status_code == 201 and new.json()["key_id"] != old["key_id"]
    old_device = {"Authorization": old["http_authorization"]}
    new_device = {"Authorization": new.json()["http_authorization"]}
    _problem(client.post(f"{API}/telemetry", json=[telemetry(a, 1)], headers=old_device), 401)
    ok = client.post(f"{API}/telemetry", json=[telemetry(a, 1)], headers=new_device)
    assert ok.json()["accepted"] == 1
    listed = client.get(url, headers=alice.headers).json()
    assert listed["count"] == 2 and "secret" not in listed["data"][0]
    assert [c["revoked_at"] is None for c in listed["data"]] == [True, False]
    assert client.delete(url, headers=alice.headers).status_code == 204
    _problem(client.post(f"{API}/telemetry", json=[telemetry(a, 2)], headers=new_device), 401)
    _problem(client.delete(url, headers=alice.headers), 404)  # nothing left to revoke
    assert _count(client, SecurityEvent) == 2  # both failed logins were recorded


def test_other_tenant_gets_404_on_every_device_and_usage_route(client: TestClient) -> None:
    alice, bob = _org(client, "Alice"), _org(client, "Bob", 1)
    public, private = alice.resource_ids
    period = {"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}
    for rid in (public, private):
        creds = f"{API}/resources/{rid}/device-credentials"
        _problem(client.get(creds, headers=bob.headers), 404)
        _problem(client.post(creds, headers=bob.headers), 404)
        _problem(client.post(f"{creds}/rotate", headers=bob.headers), 404)
        _problem(client.delete(creds, headers=bob.headers), 404)
        _problem(
            client.get(f"{API}/resources/{rid}/utilisation", params=period, headers=bob.headers),
            404,
        )
        _problem(
            client.get(
                f"{API}/resources/{rid}/idle-suggestions", params=period, headers=bob.headers
            ),
            404,
        )
        body = {"start": period["from"], "end": period["to"]}
        _problem(
            client.post(
                f"{API}/resources/{rid}/idle-suggestions/publish", json=body, headers=bob.headers
            ),
            404,
        )
        usage = client.get(f"{API}/resources/{rid}/usage", headers=bob.headers)
        _problem(usage, 404)
    org_view = client.get(f"{API}/utilisation", params=period, headers=bob.headers).json()
    assert [r["resource_id"] for r in org_view["data"]] == bob.resource_ids


def test_utilisation_suggestions_publish_and_usage_statement(client: TestClient) -> None:
    alice = _org(client, "Alice", 1)
    (a,) = alice.resource_ids
    day = datetime(2026, 11, 2, tzinfo=UTC)
    with make_session_factory(_engine(client))() as session, session.begin():
        booking = insert_booking(
            session, a, day.replace(hour=8), day.replace(hour=12), order_ref="PO-9"
        )
        booking_id = booking.id
    device = {
        "Authorization": client.post(
            f"{API}/resources/{a}/device-credentials", headers=alice.headers
        ).json()["http_authorization"]
    }
    stream = [
        telemetry(a, 1, ts=day.replace(hour=8), state="running"),
        telemetry(
            a,
            2,
            ts=day.replace(hour=12),
            state="idle",
            run_seconds=14400.0,
            cycle_count=300,
            energy_wh=40000.0,
        ),
    ]
    assert client.post(f"{API}/telemetry", json=stream, headers=device).json()["accepted"] == 2
    period = {"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}
    util = client.get(f"{API}/resources/{a}/utilisation", params=period, headers=alice.headers)
    assert util.status_code == 200, util.text
    assert util.json()["booked_ratio"] == pytest.approx(4 / 24)
    suggestions = client.get(
        f"{API}/resources/{a}/idle-suggestions",
        params={**period, "min_hours": 6},
        headers=alice.headers,
    ).json()
    assert [(s["start_at"][11:16], s["hours"]) for s in suggestions["data"]] == [
        ("00:00", 8.0),
        ("12:00", 12.0),
    ]
    published = client.post(
        f"{API}/resources/{a}/idle-suggestions/publish",
        json={"start": period["from"], "end": period["to"], "min_hours": 6},
        headers=alice.headers,
    )
    assert published.status_code == 201 and published.json()["count"] == 2
    assert {w["source"] for w in published.json()["data"]} == {"suggestion"}
    windows = client.get(f"{API}/resources/{a}/windows", headers=alice.headers).json()
    assert windows["count"] == 2

    usage = client.get(f"{API}/resources/{a}/usage", params=period, headers=alice.headers)
    assert usage.json()["cycles"] == 300 and usage.json()["run_seconds"] == 14400.0
    # 4 h x 120.00 + 300 x 0.05 + 40 kWh x 0.90 = 480.00 + 15.00 + 36.00 CNY
    assert usage.json()["amount_minor"] == 48000 + 1500 + 3600
    statements = f"{API}/usage/statements"
    statement = client.get(statements, params={"order_ref": "PO-9"}, headers=alice.headers)
    assert statement.json()["totals_minor"] == {"CNY": 48000 + 1500 + 3600}
    assert [r["booking_id"] for r in statement.json()["data"]] == [booking_id]
    missing = client.get(statements, params={"order_ref": "PO-404"}, headers=alice.headers)
    _problem(missing, 404)
    bad = client.get(
        f"{API}/resources/{a}/utilisation",
        params={"from": period["to"], "to": period["from"]},
        headers=alice.headers,
    )
    assert _problem(bad, 422)["errors"][0]["field"] == "to"
