"""Shipping an order shared by several providers: each provider marks its own part shipped;
the order moves to ``shipped`` (one event, one webhook per party) with the last part."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from fastapi.testclient import TestClient
from market_helpers import (
    ANODIZE,
    API,
    MILL,
    SUZHOU,
    WUXI,
    Tenant,
    accept,
    assert_problem,
    event,
    machine,
    operation,
    post_rfq,
    quote,
    register,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from sharefab.services import orders
from sharefab.storage.models import User
from sharefab.storage.webhook_models import WebhookDelivery


def _inspected_order(
    client: TestClient, buyer: Tenant, providers: list[Tenant], ops: list[dict]
) -> dict:
    """An accepted order whose work is all done and has passed inspection."""
    offer = quote(client, buyer, post_rfq(client, buyer, ops).json()["id"])
    wanted = sorted(p.org_id for p in providers)
    option = next(o for o in offer["options"] if sorted(o["provider_org_ids"]) == wanted)
    order = accept(client, buyer, offer["id"], option["id"])
    assert order.status_code == 201, order.text
    by_org = {p.org_id: p for p in providers}
    for work in order.json()["work_orders"]:
        who = by_org[work["provider_org_id"]]
        progress = f"{API}/orders/{order.json()['id']}/operations/{work['id']}/progress"
        for to in ("started", "done"):
            done = client.post(progress, json={"to": to}, headers=who.headers)
            assert done.status_code == 200, done.text
    passed = client.post(
        f"{API}/orders/{order.json()['id']}/inspections", json={}, headers=providers[0].headers
    )
    assert passed.status_code == 201 and passed.json()["order_state"] == "inspected"
    return order.json()


def _view(client: TestClient, who: Tenant, order_id: int) -> dict:
    response = client.get(f"{API}/orders/{order_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _subscribe(client: TestClient, who: Tenant) -> None:
    hook = client.post(
        f"{API}/webhooks",
        json={"url": "https://erp.example.com/hooks", "event_types": ["order.state_changed"]},
        headers=who.headers,
    )
    assert hook.status_code == 201, hook.text


def _shipped_webhooks(engine: Engine, order_id: int) -> list[dict]:
    with Session(engine) as session:
        rows = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_type == "order.state_changed")
        ).all()
        return [
            r.payload
            for r in rows
            if r.payload["order_id"] == order_id and r.payload["to_state"] == "shipped"
        ]


def test_a_shared_order_ships_when_every_provider_has_shipped_its_part(
    client: TestClient, app_engine: Engine
) -> None:
    mill_co = register(client, "Suzhou Mills", ["provider"])
    coat_co = register(client, "Wuxi Coatings", ["provider"])
    buyer = register(client, "Shanghai Robotics", ["buyer"])
    machine(client, mill_co, MILL, SUZHOU, name="mill")
    machine(client, coat_co, ANODIZE, WUXI, name="bath")
    _subscribe(client, buyer)
    ops = [operation(MILL, 10, 30), operation(ANODIZE, 10, 5)]
    order = _inspected_order(client, buyer, [mill_co, coat_co], ops)
    oid = order["id"]
    works = {w["provider_org_id"]: w["id"] for w in order["work_orders"]}
    before = _view(client, buyer, oid)
    assert (before["parts_total"], before["parts_shipped"]) == (2, 0)
    assert "shipped" in _view(client, mill_co, oid)["allowed_transitions"]
    assert_problem(event(client, buyer, oid, "shipped"), 403)  # the providers' move

    first = event(client, mill_co, oid, "shipped", "SF-111")
    assert first.status_code == 201, first.text
    assert first.json()["state"] == "inspected"  # the coatings are not shipped yet
    assert (first.json()["parts_total"], first.json()["parts_shipped"]) == (2, 1)
    assert [p["provider_org_id"] for p in first.json()["parts"]] == [mill_co.org_id]  # own only
    assert first.json()["parts"][0]["shipped"] and first.json()["parts"][0]["note"] == "SF-111"
    assert "shipped" not in first.json()["allowed_transitions"]
    assert [e["to_state"] for e in first.json()["events"]].count("shipped") == 0
    assert _shipped_webhooks(app_engine, oid) == []

    again = assert_problem(event(client, mill_co, oid, "shipped"), 409)
    assert "already marked shipped" in again["detail"]
    assert "other 1 provider(s)" in again["detail"]
    assert_problem(event(client, buyer, oid, "delivered"), 409)  # not shipped yet

    buyer_view = _view(client, buyer, oid)
    assert buyer_view["state"] == "inspected"
    parts = {p["provider_org_id"]: p for p in buyer_view["parts"]}
    assert set(parts) == {mill_co.org_id, coat_co.org_id}
    assert parts[mill_co.org_id]["shipped"] and parts[mill_co.org_id]["shipped_at"]
    assert parts[mill_co.org_id]["work_order_ids"] == [works[mill_co.org_id]]
    assert not parts[coat_co.org_id]["shipped"] and parts[coat_co.org_id]["shipped_at"] is None
    coat_view = _view(client, coat_co, oid)
    assert "shipped" in coat_view["allowed_transitions"]
    assert [p["provider_org_id"] for p in coat_view["parts"]] == [coat_co.org_id]
    assert coat_view["parts_shipped"] == 1

    last = event(client, coat_co, oid, "shipped", "SF-222")
    assert last.status_code == 201, last.text
    assert last.json()["state"] == "shipped"
    shipped_events = [e for e in last.json()["events"] if e["to_state"] == "shipped"]
    assert len(shipped_events) == 1
    assert shipped_events[0]["actor_org_id"] == coat_co.org_id
    assert _view(client, buyer, oid)["parts_shipped"] == 2
    assert len(_shipped_webhooks(app_engine, oid)) == 1  # one move, one webhook to the buyer
    assert_problem(event(client, mill_co, oid, "shipped"), 409)
    assert event(client, buyer, oid, "delivered").status_code == 201


def test_a_single_provider_order_ships_at_once_as_before(
    client: TestClient, app_engine: Engine
) -> None:
    mill_co = register(client, "Suzhou Mills", ["provider"])
    buyer = register(client, "Shanghai Robotics", ["buyer"])
    machine(client, mill_co, MILL, SUZHOU, name="mill")
    _subscribe(client, buyer)
    order = _inspected_order(client, buyer, [mill_co], [operation(MILL, 10, 30)])
    shipped = event(client, mill_co, order["id"], "shipped", "SF-333")
    assert shipped.status_code == 201, shipped.text
    body = shipped.json()
    assert body["state"] == "shipped"
    assert (body["parts_total"], body["parts_shipped"]) == (1, 1)
    assert body["events"][-1]["to_state"] == "shipped" and body["events"][-1]["note"] == "SF-333"
    assert len(_shipped_webhooks(app_engine, order["id"])) == 1
    again = assert_problem(event(client, mill_co, order["id"], "shipped"), 409)
    assert "cannot move order from shipped to shipped" in again["detail"]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_the_last_two_parts_shipped_at_once_ship_the_order_exactly_once(
    client: TestClient, app_engine: Engine
) -> None:
    mill_co = register(client, "Suzhou Mills", ["provider"])
    coat_co = register(client, "Wuxi Coatings", ["provider"])
    buyer = register(client, "Shanghai Robotics", ["buyer"])
    machine(client, mill_co, MILL, SUZHOU, name="mill")
    machine(client, coat_co, ANODIZE, WUXI, name="bath")
    ops = [operation(MILL, 10, 30), operation(ANODIZE, 10, 5)]
    oid = _inspected_order(client, buyer, [mill_co, coat_co], ops)["id"]
    start = Barrier(2)

    def ship(user_id: int) -> str:
        with Session(app_engine, expire_on_commit=False) as session:
            user = session.get(User, user_id)
            assert user is not None
            session.rollback()
            start.wait()
            view = orders.transition_order(session, user, oid, "shipped", platform_fee_bps=300)
            return str(view["state"])

    with ThreadPoolExecutor(max_workers=2) as pool:
        states = sorted(pool.map(ship, [mill_co.user_id, coat_co.user_id]))
    assert states == ["inspected", "shipped"]  # one saw the other's part, whichever was first
    final = _view(client, buyer, oid)
    assert final["state"] == "shipped" and final["parts_shipped"] == 2
    assert [e["to_state"] for e in final["events"]].count("shipped") == 1
