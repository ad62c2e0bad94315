"""The order page of an order shared by two providers, on SQLite and PostgreSQL: each
provider ships its own part with the page's button; the buyer sees which parts shipped."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from sharefab.config import Settings
from sharefab.web import create_site

if TYPE_CHECKING:
    from tests.web.conftest import SignIn, WebWorld

API = "/api/v1"
MILL = "separating.machining.milling.5axis"
ANODIZE = "coating.anodizing"


def _token(client: TestClient, email: str, password: str) -> dict[str, str]:
    got = client.post(f"{API}/auth/token", data={"username": email, "password": password})
    assert got.status_code == 200, got.text
    return {"Authorization": f"Bearer {got.json()['access_token']}"}


def _anodizing_line(client: TestClient, headers: dict[str, str], start: datetime) -> None:
    site = client.post(
        f"{API}/sites", json={"name": "Gamma Coatings", "lat": 31.4, "lon": 120.6}, headers=headers
    )
    assert site.status_code == 201, site.text
    resource = client.post(
        f"{API}/resources",
        json={
            "site_id": site.json()["id"],
            "name": "Gamma anodizing line",
            "kind": "machine",
            "category": "manufacturing",
            "capabilities": [{"code": ANODIZE, "attributes": {}}],
            "hourly_rate_minor": 10_000,
            "currency": "CNY",
            "is_public": True,
        },
        headers=headers,
    )
    assert resource.status_code == 201, resource.text
    window = client.post(
        f"{API}/resources/{resource.json()['id']}/windows",
        json={"start_at": start.isoformat(), "end_at": (start + timedelta(days=4)).isoformat()},
        headers=headers,
    )
    assert window.status_code == 201, window.text


def _shared_inspected_order(client: TestClient, world: WebWorld) -> int:
    """A buyer's order milled by Alpha and anodized by Gamma, all done and inspected."""
    buyer = _token(client, world.buyer_email, world.password)
    alpha = _token(client, world.provider_email, world.password)
    gamma = _token(client, world.outsider_email, world.password)
    _anodizing_line(client, gamma, world.window_start)
    rfq = client.post(
        f"{API}/rfqs",
        json={
            "title": "Anodized housings",
            "due_at": (datetime.now(UTC) + timedelta(days=8)).isoformat(),
            "operations": [
                {"capability": MILL, "quantity": 4, "unit_minutes": 15},
                {"capability": ANODIZE, "quantity": 4, "unit_minutes": 5},
            ],
        },
        headers=buyer,
    )
    assert rfq.status_code == 201, rfq.text
    offer = client.post(f"{API}/rfqs/{rfq.json()['id']}/quotes", headers=buyer)
    assert offer.status_code == 201, offer.text
    option = offer.json()["options"][0]
    order = client.post(
        f"{API}/quotes/{offer.json()['id']}/accept", json={"option_id": option["id"]}, headers=buyer
    )
    assert order.status_code == 201, order.text
    oid = order.json()["id"]
    by_org = {}
    for headers in (alpha, gamma):
        me = client.get(f"{API}/users/me", headers=headers).json()
        by_org[me["org_id"]] = headers
    assert set(by_org) == {w["provider_org_id"] for w in order.json()["work_orders"]}
    for work in order.json()["work_orders"]:
        url = f"{API}/orders/{oid}/operations/{work['id']}/progress"
        for to in ("started", "done"):
            step = client.post(url, json={"to": to}, headers=by_org[work["provider_org_id"]])
            assert step.status_code == 200, step.text
    passed = client.post(f"{API}/orders/{oid}/inspections", json={}, headers=alpha)
    assert passed.json()["order_state"] == "inspected"
    return oid


def _state(html: str) -> str:
    return re.search(r'data-state="([a-z_]+)"', html).group(1)  # type: ignore[union-attr]


def _shipped_rows(html: str) -> list[str]:
    table = html.split('id="parts"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'data-shipped="(yes|no)"', table)


def test_each_provider_ships_its_part_and_the_last_one_ships_the_order(
    db_url: str, build_world: Callable[[str], WebWorld], sign_in: SignIn
) -> None:
    world = build_world(db_url)
    app = create_site(Settings(database_url=db_url, env="test"))
    with TestClient(app) as api, TestClient(app) as alpha, TestClient(app) as gamma:
        oid = _shared_inspected_order(api, world)
        sign_in(alpha, world.provider_email)
        sign_in(gamma, world.outsider_email)
        page = alpha.get(f"/orders/{oid}")
        assert 'value="shipped"' in page.text and "Mark your part shipped" in page.text
        assert 'data-shipped="0" data-total="2"' in page.text

        shipped = alpha.post(
            f"/orders/{oid}/events", data={"to": "shipped", "note": "SF-1"}, follow_redirects=False
        )
        assert shipped.status_code == 303
        page = alpha.get(f"/orders/{oid}")
        assert _state(page.text) == "inspected"
        assert _shipped_rows(page.text) == ["yes"]  # only its own part
        assert 'value="shipped"' not in page.text
        again = alpha.post(f"/orders/{oid}/events", data={"to": "shipped"})
        assert again.status_code == 409 and "already marked shipped" in again.text

        with TestClient(app) as buyer:
            sign_in(buyer, world.buyer_email)
            seen = buyer.get(f"/orders/{oid}").text
            assert sorted(_shipped_rows(seen)) == ["no", "yes"]
            assert "SF-1" in seen and 'data-shipped="1" data-total="2"' in seen

            last = gamma.post(f"/orders/{oid}/events", data={"to": "shipped", "note": "SF-2"})
            assert last.status_code == 200  # after the redirect
            assert _state(last.text) == "shipped"
            seen = buyer.get(f"/orders/{oid}").text
            assert _state(seen) == "shipped" and _shipped_rows(seen) == ["yes", "yes"]
            assert 'value="delivered"' in seen
