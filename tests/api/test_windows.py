"""Published windows and recurring calendar rules."""

from __future__ import annotations

from datetime import datetime

from api_helpers import Tenant, assert_problem, make_resource, make_site, snapshot
from fastapi.testclient import TestClient
from sqlalchemy import Engine

API = "/api/v1"


def _resource(client: TestClient, tenant: Tenant) -> int:
    return make_resource(client, tenant, make_site(client, tenant)["id"])["id"]


def test_manual_windows_add_list_delete(client: TestClient, alice: Tenant) -> None:
    rid = _resource(client, alice)
    url = f"{API}/resources/{rid}/windows"
    first = client.post(
        url,
        json={"start_at": "2027-01-04T18:00:00+08:00", "end_at": "2027-01-05T06:00:00+08:00"},
        headers=alice.headers,
    )
    assert first.status_code == 201, first.text
    assert first.json()["start_at"] == "2027-01-04T10:00:00Z"  # stored and returned in UTC
    second = client.post(
        url,
        json={"start_at": "2027-01-06T10:00:00Z", "end_at": "2027-01-06T12:00:00Z"},
        headers=alice.headers,
    ).json()
    listed = client.get(url, headers=alice.headers).json()
    assert [w["id"] for w in listed["data"]] == [first.json()["id"], second["id"]]
    ranged = client.get(
        url,
        params={"from": "2027-01-06T00:00:00Z", "to": "2027-01-07T00:00:00Z"},
        headers=alice.headers,
    ).json()
    assert [w["id"] for w in ranged["data"]] == [second["id"]]
    assert client.delete(f"{url}/{second['id']}", headers=alice.headers).status_code == 204
    assert client.get(url, headers=alice.headers).json()["count"] == 1
    assert_problem(client.delete(f"{url}/{second['id']}", headers=alice.headers), 404)


def test_bad_windows_are_refused_and_change_nothing(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    rid = _resource(client, alice)
    url = f"{API}/resources/{rid}/windows"
    client.post(
        url,
        json={"start_at": "2027-01-04T08:00:00Z", "end_at": "2027-01-04T16:00:00Z"},
        headers=alice.headers,
    )
    before = snapshot(engine)
    cases = [
        ({"start_at": "2027-01-05T08:00:00Z", "end_at": "2027-01-05T08:00:00Z"}, 422, "end_at"),
        ({"start_at": "2027-01-05T08:00:00", "end_at": "2027-01-05T09:00:00Z"}, 422, "start_at"),
        ({"start_at": "yesterday", "end_at": "2027-01-05T09:00:00Z"}, 422, "start_at"),
        ({"end_at": "2027-01-05T09:00:00Z"}, 422, "start_at"),
        ({"start_at": "2027-01-04T15:00:00Z", "end_at": "2027-01-04T18:00:00Z"}, 409, "start_at"),
    ]
    for body, status, field in cases:
        assert_problem(client.post(url, json=body, headers=alice.headers), status, field)
    assert snapshot(engine) == before


def test_rule_in_human_form_expands_in_local_time(client: TestClient, alice: Tenant) -> None:
    rid = _resource(client, alice)
    response = client.post(
        f"{API}/resources/{rid}/calendar-rules",
        json={
            "rule": "Sat-Sun 08:00-20:00",
            "timezone": "Asia/Shanghai",
            "horizon_days": 14,
            "valid_from": "2030-06-01",
        },
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text
    rule = response.json()
    assert rule["weekdays"] == "sat,sun" and rule["valid_from"] == "2030-06-01"
    assert rule["windows_created"] == 4  # 2030-06-01 is a Saturday: two weekends
    windows = client.get(f"{API}/resources/{rid}/windows", headers=alice.headers).json()["data"]
    assert all(w["source"] == "rule" and w["rule_id"] == rule["id"] for w in windows)
    starts = [datetime.fromisoformat(w["start_at"]) for w in windows]
    assert [s.isoformat() for s in starts[:2]] == [
        "2030-06-01T00:00:00+00:00",  # 08:00 in Shanghai
        "2030-06-02T00:00:00+00:00",
    ]
    # A second, overlapping rule skips the occurrences that clash.
    again = client.post(
        f"{API}/resources/{rid}/calendar-rules",
        json={
            "weekdays": ["sat"],
            "start_time": "18:00",
            "end_time": "22:00",
            "timezone": "Asia/Shanghai",
            "valid_from": "2030-06-01",
            "horizon_days": 14,
        },
        headers=alice.headers,
    ).json()
    assert again["windows_created"] == 0 and again["windows_skipped"] == 2


def test_bad_rules_name_the_field(client: TestClient, engine: Engine, alice: Tenant) -> None:
    rid = _resource(client, alice)
    url = f"{API}/resources/{rid}/calendar-rules"
    before = snapshot(engine)
    for body, field in (
        ({"rule": "whenever we feel like it"}, "rule"),
        ({"rule": "Mon-Fri 18:00-06:00", "timezone": "Mars/Olympus"}, "timezone"),
        ({"rule": "Mon-Fri 18:00-06:00 until 2020-01-01"}, "rule"),
        ({"weekdays": ["mon"], "start_time": "25:00", "end_time": "06:00"}, "start_time"),
        ({"weekdays": ["mon"], "start_time": "18:00"}, "end_time"),
        ({"rule": "Mon 08:00-12:00", "weekdays": ["mon"]}, "rule"),
        (
            {
                "weekdays": ["mon"],
                "start_time": "08:00",
                "end_time": "12:00",
                "valid_from": "2031-01-10",
                "valid_until": "2031-01-01",
            },
            "valid_until",
        ),
    ):
        assert_problem(client.post(url, json=body, headers=alice.headers), 422, field)
    assert snapshot(engine) == before
