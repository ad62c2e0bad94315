"""Collaborative production: a 3-operation RFQ split over three factories."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from market_helpers import (
    ANODIZE,
    API,
    CHANGZHOU,
    CMM,
    MILL,
    SHANGHAI,
    SUZHOU,
    WUXI,
    accept,
    assert_problem,
    machine,
    operation,
    post_rfq,
    quote,
    register,
)


def test_split_order_has_transport_legs_and_each_provider_sees_only_its_part(
    client: TestClient,
) -> None:
    mill_co = register(client, "Suzhou Mills", ["provider"])
    anodize_co = register(client, "Wuxi Coatings", ["provider"])
    lab_co = register(client, "Changzhou Metrology", ["provider"])
    stranger = register(client, "Nosy Neighbour", ["provider"])
    buyer = register(client, "Shanghai Robotics", ["buyer"])
    mill = machine(client, mill_co, MILL, SUZHOU, rate=40_000, name="mill")
    bath = machine(client, anodize_co, ANODIZE, WUXI, rate=15_000, name="bath")
    cmm = machine(client, lab_co, CMM, CHANGZHOU, rate=25_000, name="cmm")
    rfq = post_rfq(
        client,
        buyer,
        [operation(MILL, 20, 15), operation(ANODIZE, 20, 3), operation(CMM, 20, 5)],
        delivery_lat=SHANGHAI[0],
        delivery_lon=SHANGHAI[1],
    )
    assert rfq.status_code == 201, rfq.text
    rfq_id = rfq.json()["id"]
    assert [op["after"] for op in rfq.json()["operations"]] == [[], [0], [1]]
    drawing = client.post(
        f"{API}/rfqs/{rfq_id}/attachments",
        files={"file": ("bracket.step", b"ISO-10303-21;", "model/step")},
        headers=buyer.headers,
    )
    assert drawing.status_code == 201, drawing.text
    url = f"{API}/rfqs/{rfq_id}/attachments/{drawing.json()['id']}"
    assert_problem(client.get(url, headers=mill_co.headers), 404)  # not reached yet

    offer = quote(client, buyer, rfq_id)
    option = offer["options"][0]
    lots = option["plan"]["lots"]
    assert [(lot["operation"], lot["resource_id"]) for lot in lots] == [
        (0, mill),
        (1, bath),
        (2, cmm),
    ]
    legs = option["plan"]["transport"]
    assert [(leg["after_operation"], leg["to_site_id"]) for leg in legs] == [
        (0, lots[1]["site_id"]),
        (1, lots[2]["site_id"]),
        (2, "delivery"),
    ]
    for before, after, leg in zip(lots, lots[1:], legs, strict=False):
        gap = datetime.fromisoformat(after["start_at"]) - datetime.fromisoformat(before["end_at"])
        assert gap >= timedelta(minutes=leg["minutes"])  # the parts travel between factories
    assert option["transport_minor"] == sum(leg["cost_minor"] for leg in legs)
    assert option["total_minor"] == option["transport_minor"] + sum(
        lot["price_minor"] for lot in lots
    )
    assert sorted(option["provider_org_ids"]) == sorted(
        [mill_co.org_id, anodize_co.org_id, lab_co.org_id]
    )

    # the drawing is now readable by the providers the RFQ reached, and still by nobody else
    fetched = client.get(url, headers=mill_co.headers)
    assert fetched.status_code == 200 and fetched.content == b"ISO-10303-21;"
    assert fetched.headers["content-type"].startswith("model/step")
    assert_problem(client.get(url, headers=stranger.headers), 404)
    assert client.get(f"{API}/rfqs/{rfq_id}", headers=lab_co.headers).status_code == 200
    assert_problem(client.get(f"{API}/rfqs/{rfq_id}", headers=stranger.headers), 404)

    order = accept(client, buyer, offer["id"], option["id"])
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    assert len(order.json()["work_orders"]) == 3
    for provider, resource in ((mill_co, mill), (anodize_co, bath), (lab_co, cmm)):
        view = client.get(f"{API}/orders/{order_id}", headers=provider.headers)
        assert view.status_code == 200, view.text
        body = view.json()
        assert body["your_role"] == "provider"
        assert [w["resource_id"] for w in body["work_orders"]] == [resource]
        assert body["total_minor"] is None and body["quote_id"] is None
        assert body["your_subtotal_minor"] == body["work_orders"][0]["price_minor"]
        listed = client.get(f"{API}/orders", headers=provider.headers).json()
        assert listed["count"] == 1
        assert [len(o["work_orders"]) for o in listed["data"]] == [1]
    assert_problem(client.get(f"{API}/orders/{order_id}", headers=stranger.headers), 404)
    # a provider cannot report progress on another provider's work order
    other_work = order.json()["work_orders"][1]["id"]
    progress = f"{API}/orders/{order_id}/operations/{other_work}/progress"
    assert_problem(client.post(progress, json={"to": "started"}, headers=mill_co.headers), 404)


def test_without_split_every_option_is_one_provider(client: TestClient) -> None:
    mill_only = register(client, "Mill Only", ["provider"])
    coat_only = register(client, "Coat Only", ["provider"])
    both = register(client, "Full Service", ["provider"])
    machine(client, mill_only, MILL, SUZHOU, rate=10_000, name="cheap mill")
    machine(client, coat_only, ANODIZE, SUZHOU, rate=5_000, name="cheap bath")
    machine(client, both, MILL, WUXI, rate=50_000, name="mill")
    machine(client, both, ANODIZE, WUXI, rate=30_000, name="bath")
    buyer = register(client, "Buyer Co", ["buyer"])
    ops = [operation(MILL, 10, 30), operation(ANODIZE, 10, 5)]
    split = quote(client, buyer, post_rfq(client, buyer, ops).json()["id"])
    cheapest = next(o for o in split["options"] if "cheapest" in o["labels"])
    assert cheapest["provider_org_ids"] == sorted([mill_only.org_id, coat_only.org_id])
    whole = quote(client, buyer, post_rfq(client, buyer, ops, allow_split=False).json()["id"])
    assert whole["options"]
    assert all(o["provider_org_ids"] == [both.org_id] for o in whole["options"])
