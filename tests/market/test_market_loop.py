"""The whole marketplace loop over HTTP: RFQ -> quotes -> accept -> lifecycle -> settled."""

from __future__ import annotations

from fastapi.testclient import TestClient
from market_helpers import (
    API,
    MILL,
    SHANGHAI,
    SUZHOU,
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

from sharefab.storage.db import make_session_factory
from sharefab.storage.market_models import LedgerPosting
from sharefab.storage.models import Booking


def test_buyer_orders_provider_delivers_and_the_money_settles(
    client: TestClient, app_engine: Engine
) -> None:
    provider = register(client, "Suzhou Precision", ["provider"])
    buyer = register(client, "Shanghai Drones", ["buyer"])
    resource = machine(
        client,
        provider,
        MILL,
        SUZHOU,
        rate=36_000,
        name="DMU 50",
        attributes={"materials": ["aluminium", "steel"]},
    )
    site = client.post(
        f"{API}/sites",
        json={"name": "HQ", "lat": SHANGHAI[0], "lon": SHANGHAI[1]},
        headers=buyer.headers,
    ).json()
    rfq = post_rfq(
        client,
        buyer,
        [operation(MILL, 10, 30, attributes={"materials": ["aluminium"]})],
        delivery_site_id=site["id"],
        budget_minor=10_000_000,
    )
    assert rfq.status_code == 201, rfq.text
    rfq_id = rfq.json()["id"]

    offer = quote(client, buyer, rfq_id)
    assert offer["options"], (offer["diagnosis"], offer["excluded"])
    best = offer["options"][0]
    assert best["rank"] == 1
    assert {"cheapest", "fastest", "most_reliable"} <= {
        label for o in offer["options"] for label in o["labels"]
    }
    lot = best["plan"]["lots"][0]
    assert lot["resource_id"] == resource and lot["operation"] == 0
    # 10 parts x 30 min = 5 h on the mill at CNY 360/h plus CNY 50 setup
    assert lot["price_minor"] == 5_000 + 5 * 36_000
    legs = best["plan"]["transport"]
    assert [leg["to_site_id"] for leg in legs] == ["delivery"]
    assert 70 < legs[0]["km"] < 100  # Suzhou -> Shanghai
    assert best["total_minor"] == lot["price_minor"] + legs[0]["cost_minor"]
    assert "Rank 1" in best["explanation"]["why"]

    first = accept(client, buyer, offer["id"], best["id"], key="order-1")
    assert first.status_code == 201, first.text
    order = first.json()
    assert order["state"] == "scheduled"
    assert [e["to_state"] for e in order["events"]] == ["accepted", "scheduled"]
    retry = accept(client, buyer, offer["id"], best["id"], key="order-1")
    assert retry.status_code == 201 and retry.json() == order
    with make_session_factory(app_engine)() as s:
        bookings = s.scalars(select(Booking).where(Booking.order_ref == order["ref"])).all()
    assert [(b.resource_id, b.status) for b in bookings] == [(resource, "confirmed")]

    assert len(order["work_orders"]) == 1
    work = order["work_orders"][0]
    progress = f"{API}/orders/{order['id']}/operations/{work['id']}/progress"
    started = client.post(progress, json={"to": "started"}, headers=provider.headers)
    assert started.status_code == 200, started.text
    assert started.json()["state"] == "in_production"
    assert client.post(progress, json={"to": "done"}, headers=provider.headers).status_code == 200
    inspection = client.post(
        f"{API}/orders/{order['id']}/inspections",
        json={
            "limits": [{"name": "bore", "lower": 9.98, "upper": 10.02, "unit": "mm"}],
            "measurements": [{"name": "bore", "value": 10.01, "unit": "mm"}],
            "report_filename": "report.txt",
            "report_base64": "T0sK",
        },
        headers=provider.headers,
    )
    assert inspection.status_code == 201, inspection.text
    assert inspection.json()["passed"] and inspection.json()["order_state"] == "inspected"
    listed = client.get(f"{API}/orders/{order['id']}/inspections", headers=buyer.headers)
    assert [i["measurements"] for i in listed.json()["data"]] == [
        [{"name": "bore", "value": 10.01, "unit": "mm"}]
    ]
    report = client.get(
        f"{API}/orders/{order['id']}/inspections/{inspection.json()['id']}/report",
        headers=buyer.headers,
    )
    assert report.status_code == 200 and report.content == b"OK\n"
    assert event(client, provider, order["id"], "shipped", "SF123").status_code == 201
    delivered = event(client, buyer, order["id"], "delivered")
    assert delivered.status_code == 201, delivered.text
    assert delivered.json()["state"] == "settled"

    total = order["total_minor"]
    fee = round(total * 0.03)
    accounts = client.get(f"{API}/ledger/accounts", headers=provider.headers).json()["data"]
    assert [(a["code"], a["balance_minor"]) for a in accounts] == [
        ("provider_payable", total - fee)
    ]
    buyer_accounts = client.get(f"{API}/ledger/accounts", headers=buyer.headers).json()["data"]
    assert [(a["code"], a["balance_minor"]) for a in buyer_accounts] == [("escrow", 0)]
    with make_session_factory(app_engine)() as s:
        postings = s.scalars(select(LedgerPosting)).all()
    assert sum(p.amount_minor for p in postings) == 0
    csv = client.get(f"{API}/ledger/statement.csv", headers=provider.headers)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert f"release:{order['ref']}" in csv.text

    rated = client.post(
        f"{API}/orders/{order['id']}/rating", json={"stars": 5}, headers=buyer.headers
    )
    assert rated.status_code == 201, rated.text
    again = client.post(
        f"{API}/orders/{order['id']}/rating", json={"stars": 1}, headers=buyer.headers
    )
    assert "only one rating" in assert_problem(again, 409)["detail"]

    score = client.get(f"{API}/organizations/{provider.org_id}/credit", headers=buyer.headers)
    assert score.status_code == 200, score.text
    body = score.json()
    names = [c["name"] for c in body["components"]]
    assert names == ["on_time_delivery", "inspection_pass_rate", "commitment", "buyer_rating"]
    assert body["score"] > body["prior_score"]
    assert abs(sum(c["points"] for c in body["components"]) - body["score"]) <= 1
    delivery = body["components"][0]["explanation"]
    assert "1.0 of 1.0 time-weighted deliveries on time" in delivery
