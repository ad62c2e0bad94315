"""Order lifecycle rules: illegal transitions, cancellation refunds, ratings, progress."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from market_helpers import (
    API,
    MILL,
    SUZHOU,
    Tenant,
    accept,
    assert_problem,
    day,
    event,
    machine,
    operation,
    post_rfq,
    quote,
    register,
)
from sqlalchemy import Engine, select

from sharefab.storage.db import make_session_factory
from sharefab.storage.models import Booking


def _order(client: TestClient, window_day: int) -> tuple[Tenant, Tenant, dict]:
    provider = register(client, "Mill Co", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    machine(client, provider, MILL, SUZHOU, windows=[(day(window_day), day(window_day + 2))])
    rfq = post_rfq(client, buyer, [operation(MILL, 4, 30)]).json()
    offer = quote(client, buyer, rfq["id"])
    order = accept(client, buyer, offer["id"], offer["options"][0]["id"])
    assert order.status_code == 201, order.text
    return provider, buyer, order.json()


def _balances(client: TestClient, tenant: Tenant) -> dict[str, int]:
    rows = client.get(f"{API}/ledger/accounts", headers=tenant.headers).json()["data"]
    return {row["code"]: row["balance_minor"] for row in rows}


def test_illegal_transition_is_409_listing_the_allowed_targets(client: TestClient) -> None:
    provider, buyer, order = _order(client, 5)
    body = assert_problem(event(client, buyer, order["id"], "shipped"), 409)
    assert "cannot move order from scheduled to shipped" in body["detail"]
    assert body["errors"] == [
        {"field": "to", "message": "allowed from scheduled for buyer: cancelled"}
    ]
    assert (
        "allowed for provider: in_production, cancelled"
        in assert_problem(event(client, provider, order["id"], "delivered"), 409)["detail"]
    )
    assert_problem(event(client, buyer, order["id"], "teleported"), 422)
    assert order["allowed_transitions"] == ["cancelled"]


def test_early_cancellation_refunds_in_full_and_frees_the_capacity(
    client: TestClient, app_engine: Engine
) -> None:
    provider, buyer, order = _order(client, 5)  # starts in 5 days: beyond the 72 h notice
    cancelled = event(client, buyer, order["id"], "cancelled", "plans changed")
    assert cancelled.status_code == 201, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert _balances(client, buyer) == {"escrow": 0, "buyer_wallet": order["total_minor"]}
    assert _balances(client, provider) == {}
    with make_session_factory(app_engine)() as s:
        statuses = s.scalars(select(Booking.status).where(Booking.order_ref == order["ref"]))
        assert list(statuses) == ["cancelled"]
    rfq = post_rfq(client, buyer, [operation(MILL, 4, 30)]).json()
    again = quote(client, buyer, rfq["id"])
    freed = again["options"][0]["plan"]["lots"][0]["start_at"]
    booked = order["work_orders"][0]["start_at"]
    assert datetime.fromisoformat(freed) == datetime.fromisoformat(booked)


def test_late_cancellation_keeps_ten_percent_for_the_provider(client: TestClient) -> None:
    provider, buyer, order = _order(client, 1)  # starts within 72 h
    assert event(client, buyer, order["id"], "cancelled").status_code == 201
    total = order["total_minor"]
    refund = _balances(client, buyer)["buyer_wallet"]
    assert refund == round(total * 0.9)
    assert _balances(client, provider) == {"provider_payable": total - refund}


def test_ratings_only_by_the_buyer_of_a_delivered_order_once(client: TestClient) -> None:
    provider, buyer, order = _order(client, 5)
    rating = f"{API}/orders/{order['id']}/rating"
    early = assert_problem(client.post(rating, json={"stars": 4}, headers=buyer.headers), 409)
    assert "only a delivered order can be rated" in early["detail"]
    assert_problem(client.post(rating, json={"stars": 4}, headers=provider.headers), 403)
    assert_problem(client.post(rating, json={"stars": 6}, headers=buyer.headers), 422)
    work = order["work_orders"][0]["id"]
    progress = f"{API}/orders/{order['id']}/operations/{work}/progress"
    done_too_early = client.post(progress, json={"to": "done"}, headers=provider.headers)
    assert "cannot go from pending to done" in assert_problem(done_too_early, 409)["detail"]
    for to in ("started", "done"):
        assert client.post(progress, json={"to": to}, headers=provider.headers).status_code == 200
    failed = client.post(
        f"{API}/orders/{order['id']}/inspections",
        json={"defects": [{"code": "burr", "severity": "major"}]},
        headers=provider.headers,
    )
    assert failed.status_code == 201 and not failed.json()["passed"]
    assert failed.json()["order_state"] == "in_production"
    passed = client.post(
        f"{API}/orders/{order['id']}/inspections", json={}, headers=provider.headers
    )
    assert passed.json()["order_state"] == "inspected"
    assert event(client, provider, order["id"], "shipped").status_code == 201
    assert event(client, buyer, order["id"], "delivered").status_code == 201
    assert client.post(rating, json={"stars": 4}, headers=buyer.headers).status_code == 201
    assert_problem(client.post(rating, json={"stars": 5}, headers=buyer.headers), 409)
    score = client.get(f"{API}/organizations/{provider.org_id}/credit", headers=buyer.headers)
    rating_part = next(c for c in score.json()["components"] if c["name"] == "buyer_rating")
    assert rating_part["explanation"].startswith("1 ratings averaging 4.00 stars")
    inspections = [c for c in score.json()["components"] if c["name"] == "inspection_pass_rate"]
    assert "1.0 of 2.0 time-weighted inspections passed" in inspections[0]["explanation"]
