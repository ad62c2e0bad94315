"""Resource search: capability subsumption, attributes, availability, distance, paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_helpers import Tenant, assert_problem, make_resource, make_site
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.services.search import has_free_time
from sharefab.storage.bookings import insert_booking
from sharefab.storage.db import make_session_factory

API = "/api/v1"
DAY = datetime(2027, 3, 1, tzinfo=UTC)


def _ids(client: TestClient, tenant: Tenant, **params: object) -> list[int]:
    response = client.get(f"{API}/resources", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] >= len(body["data"])
    return [r["id"] for r in body["data"]]


def _mill(client: TestClient, tenant: Tenant, site_id: int, name: str, **attrs: object) -> int:
    caps = [{"code": "separating.machining.milling.3axis", "attributes": attrs}]
    return make_resource(client, tenant, site_id, name=name, capabilities=caps)["id"]


def test_attribute_filters(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    site = make_site(client, alice)
    fine = _mill(
        client,
        alice,
        site["id"],
        "fine",
        tolerance_mm=0.005,
        envelope_mm=[800, 500, 500],
        materials=["steel", "titanium"],
        certifications=["ISO9001", "AS9100"],
    )
    coarse = _mill(
        client,
        alice,
        site["id"],
        "coarse",
        tolerance_mm=0.05,
        envelope_mm=[300, 300, 200],
        materials=["aluminium"],
    )
    milling = "separating.machining.milling"
    assert _ids(client, bob, capability=milling) == [fine, coarse]
    assert _ids(client, bob, capability=milling, tolerance_mm=0.01) == [fine]
    assert _ids(client, bob, capability=milling, tolerance_mm=0.1) == [fine, coarse]
    assert _ids(client, bob, capability=milling, envelope_mm="250,290,150") == [fine, coarse]
    assert _ids(client, bob, capability=milling, envelope_mm="200,600,450") == [fine]
    assert _ids(client, bob, capability=milling, material="aluminium") == [coarse]
    assert _ids(client, bob, material=["steel", "titanium"]) == [fine]
    assert _ids(client, bob, certification="AS9100") == [fine]
    assert _ids(client, bob, capability="joining") == []


def test_search_errors_name_the_parameter(client: TestClient, alice: Tenant) -> None:
    for params, field in (
        ({"capability": "separating.machning"}, "capability"),
        ({"envelope_mm": "1,2"}, "envelope_mm"),
        ({"near": "31.2"}, "near"),
        ({"near": "95,10"}, "near"),
        ({"radius_km": 10}, "near"),
        ({"available_from": "2027-01-01T00:00:00Z"}, "available_to"),
        (
            {"available_from": "2027-01-02T00:00:00Z", "available_to": "2027-01-01T00:00:00Z"},
            "available_to",
        ),
        (
            {"available_from": "2027-01-01T00:00:00", "available_to": "2027-01-02T00:00:00Z"},
            "available_from",
        ),
        ({"limit": 0}, "limit"),
    ):
        response = client.get(f"{API}/resources", params=params, headers=alice.headers)
        assert_problem(response, 422, field)


def test_nearest_first_within_radius(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    suzhou = make_site(client, alice, name="Suzhou", lat=31.30, lon=120.62)
    kunshan = make_site(client, alice, name="Kunshan", lat=31.38, lon=120.98)
    dongguan = make_site(client, alice, name="Dongguan", lat=23.02, lon=113.75)
    far = _mill(client, alice, dongguan["id"], "far")
    mid = _mill(client, alice, suzhou["id"], "mid")
    close = _mill(client, alice, kunshan["id"], "close")
    shanghai = "31.23,121.47"
    assert _ids(client, bob, near=shanghai) == [close, mid, far]
    assert _ids(client, bob, near=shanghai, radius_km=100) == [close, mid]
    assert _ids(client, bob, near=shanghai, radius_km=60) == [close]
    body = client.get(f"{API}/resources", params={"near": shanghai}, headers=bob.headers).json()[
        "data"
    ]
    distances = [r["distance_km"] for r in body]
    assert distances == sorted(distances) and 1000 < distances[-1] < 1300


def _window(client: TestClient, tenant: Tenant, rid: int, start: datetime, hours: int) -> None:
    response = client.post(
        f"{API}/resources/{rid}/windows",
        json={
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(hours=hours)).isoformat(),
        },
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text


def test_availability_means_an_overlapping_window_not_fully_booked(
    client: TestClient, engine: Engine, alice: Tenant, bob: Tenant
) -> None:
    site = make_site(client, alice)
    single = _mill(client, alice, site["id"], "single")
    double = make_resource(
        client,
        alice,
        site["id"],
        name="double",
        capacity=2,
        capabilities=[{"code": "separating.machining.milling.3axis"}],
    )["id"]
    idle = _mill(client, alice, site["id"], "no windows")
    for rid in (single, double):
        _window(client, alice, rid, DAY.replace(hour=8), 8)  # 08:00-16:00
    with make_session_factory(engine)() as session, session.begin():
        for rid in (single, double):  # 08:00-12:00 booked on one unit
            insert_booking(session, rid, DAY.replace(hour=8), DAY.replace(hour=12))

    def available(start_hour: int, end_hour: int) -> list[int]:
        return _ids(
            client,
            bob,
            available_from=DAY.replace(hour=start_hour).isoformat(),
            available_to=DAY.replace(hour=end_hour).isoformat(),
        )

    assert available(9, 11) == [double]  # single is fully booked there, double has a free unit
    assert available(9, 13) == [single, double]  # 12:00-13:00 is free on both
    assert available(16, 18) == []  # touching the window end is not overlapping
    assert available(0, 23) == [single, double]
    assert idle not in available(0, 23)


def test_has_free_time_counts_parallel_bookings() -> None:
    h = [DAY + timedelta(hours=i) for i in range(24)]
    window = [(h[8], h[16])]
    two = [(h[8], h[12]), (h[10], h[16])]
    assert has_free_time(window, two, 1, h[8], h[16]) is False  # 8-12 and 10-16 cover it all
    assert has_free_time(window, two, 2, h[8], h[16]) is True  # 8-10 has a free second unit
    assert has_free_time(window, two, 2, h[10], h[12]) is False  # both units busy 10-12
    assert has_free_time(window, [], 1, h[16], h[18]) is False  # outside the window
    assert has_free_time(window, [(h[7], h[9])], 1, h[8], h[10]) is True


def test_pagination(client: TestClient, alice: Tenant, bob: Tenant) -> None:
    site = make_site(client, alice)
    ids = [_mill(client, alice, site["id"], f"mill {i}") for i in range(7)]
    seen: list[int] = []
    for offset in range(0, 9, 3):
        page = client.get(
            f"{API}/resources", params={"limit": 3, "offset": offset}, headers=bob.headers
        ).json()
        assert page["count"] == 7
        seen += [r["id"] for r in page["data"]]
    assert seen == ids
    near = client.get(
        f"{API}/resources",
        params={"near": "31.3,120.7", "limit": 2, "offset": 6},
        headers=bob.headers,
    ).json()
    assert near["count"] == 7 and len(near["data"]) == 1


def test_mine_lists_only_own_including_private(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    a_site = make_site(client, alice)
    b_site = make_site(client, bob, name="Bob hall")
    a_private = _mill(client, alice, a_site["id"], "a")
    client.patch(f"{API}/resources/{a_private}", json={"is_public": False}, headers=alice.headers)
    b_public = _mill(client, bob, b_site["id"], "b")
    assert _ids(client, alice) == [a_private, b_public]
    assert _ids(client, alice, mine=True) == [a_private]
    assert _ids(client, bob) == [b_public]
