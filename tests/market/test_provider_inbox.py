"""A provider's inbox: ``GET /rfqs?as=provider`` lists the RFQs that reached its organization
(a quote option named it), newest first, paged, with where it stands: quoted, won, lost."""

from __future__ import annotations

from fastapi.testclient import TestClient
from market_helpers import (
    ANODIZE,
    API,
    CMM,
    MILL,
    SUZHOU,
    WUXI,
    Tenant,
    accept,
    assert_problem,
    machine,
    operation,
    post_rfq,
    quote,
    register,
)


def _inbox(client: TestClient, who: Tenant, **params: object) -> dict:
    response = client.get(f"{API}/rfqs", params={"as": "provider", **params}, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


def _standing(body: dict) -> dict[int, tuple]:
    keys = ("your_status", "your_order_id", "your_order_state", "your_share_minor")
    return {r["id"]: tuple(r[k] for k in keys) for r in body["data"]}


def test_reached_providers_see_the_rfq_and_win_after_the_buyer_accepts(
    client: TestClient,
) -> None:
    mill_co = register(client, "Suzhou Mills", ["provider"])
    coat_co = register(client, "Wuxi Coatings", ["provider"])
    lab_co = register(client, "Idle Lab", ["provider"])  # offers CMM: not asked for
    buyer = register(client, "Shanghai Robotics", ["buyer"])
    machine(client, mill_co, MILL, SUZHOU, name="mill")
    machine(client, coat_co, ANODIZE, WUXI, name="bath")
    machine(client, lab_co, CMM, SUZHOU, name="cmm")
    rfq = post_rfq(client, buyer, [operation(MILL, 10, 30), operation(ANODIZE, 10, 5)])
    assert rfq.status_code == 201, rfq.text
    rfq_id = rfq.json()["id"]
    assert _inbox(client, mill_co) == {"data": [], "count": 0}  # no quote yet: not reached

    offer = quote(client, buyer, rfq_id)
    option = offer["options"][0]
    assert sorted(option["provider_org_ids"]) == sorted([mill_co.org_id, coat_co.org_id])
    for provider in (mill_co, coat_co):
        inbox = _inbox(client, provider)
        assert inbox["count"] == 1
        assert [r["id"] for r in inbox["data"]] == [rfq_id]
        assert inbox["data"][0]["title"] == "brackets"
        assert len(inbox["data"][0]["operations"]) == 2
        assert _standing(inbox) == {rfq_id: ("quoted", None, None, None)}
    assert _inbox(client, lab_co) == {"data": [], "count": 0}
    assert _inbox(client, buyer) == {"data": [], "count": 0}  # the buyer was not a provider

    order = accept(client, buyer, offer["id"], option["id"])
    assert order.status_code == 201, order.text
    works = order.json()["work_orders"]
    for provider in (mill_co, coat_co):
        share = sum(w["price_minor"] for w in works if w["provider_org_id"] == provider.org_id)
        inbox = _inbox(client, provider)
        assert _standing(inbox) == {rfq_id: ("won", order.json()["id"], "scheduled", share)}
        assert inbox["data"][0]["your_share_currency"] == "CNY"
        # the order named in the inbox is readable by this provider
        view = client.get(f"{API}/orders/{order.json()['id']}", headers=provider.headers)
        assert view.status_code == 200 and view.json()["your_subtotal_minor"] == share
    assert _inbox(client, lab_co)["count"] == 0


def test_a_provider_left_out_of_the_accepted_option_has_lost(client: TestClient) -> None:
    dear = register(client, "Dear Mills", ["provider"])
    cheap = register(client, "Cheap Mills", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    machine(client, dear, MILL, WUXI, rate=90_000, name="dear mill")
    rfq_id = post_rfq(client, buyer, [operation(MILL, 10, 30)]).json()["id"]
    first = quote(client, buyer, rfq_id)
    assert {o for opt in first["options"] for o in opt["provider_org_ids"]} == {dear.org_id}
    machine(client, cheap, MILL, SUZHOU, rate=10_000, name="cheap mill")
    second = quote(client, buyer, rfq_id)
    only_cheap = next(o for o in second["options"] if o["provider_org_ids"] == [cheap.org_id])
    order = accept(client, buyer, second["id"], only_cheap["id"])
    assert order.status_code == 201, order.text

    assert _standing(_inbox(client, dear)) == {rfq_id: ("lost", None, None, None)}
    won = _standing(_inbox(client, cheap))[rfq_id]
    assert won[:3] == ("won", order.json()["id"], "scheduled")
    # a lost RFQ stays readable (it reached the provider), the order does not
    assert client.get(f"{API}/rfqs/{rfq_id}", headers=dear.headers).status_code == 200
    assert_problem(client.get(f"{API}/orders/{order.json()['id']}", headers=dear.headers), 404)

    # the buyer cancels: the provider that won sees the state; the loser is quoted again
    assert (
        client.post(
            f"{API}/orders/{order.json()['id']}/events",
            json={"to": "cancelled"},
            headers=buyer.headers,
        ).status_code
        == 201
    )
    assert _standing(_inbox(client, dear)) == {rfq_id: ("quoted", None, None, None)}
    assert _standing(_inbox(client, cheap))[rfq_id][:3] == (
        "won",
        order.json()["id"],
        "cancelled",
    )


def test_inbox_pages_newest_first_and_the_buyer_listing_is_unchanged(
    client: TestClient,
) -> None:
    mill_co = register(client, "Suzhou Mills", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    other_buyer = register(client, "Other Buyer", ["buyer"])
    machine(client, mill_co, MILL, SUZHOU, name="mill")
    ids = []
    for who in (buyer, other_buyer, buyer):
        rfq_id = post_rfq(client, who, [operation(MILL, 2, 10)]).json()["id"]
        quote(client, who, rfq_id)
        ids.append(rfq_id)
    unquoted = post_rfq(client, buyer, [operation(MILL, 2, 10)]).json()["id"]

    first = _inbox(client, mill_co, limit=2)
    assert first["count"] == 3
    assert [r["id"] for r in first["data"]] == [ids[2], ids[1]]
    rest = _inbox(client, mill_co, limit=2, offset=2)
    assert rest["count"] == 3 and [r["id"] for r in rest["data"]] == [ids[0]]
    assert _inbox(client, mill_co, offset=3) == {"data": [], "count": 3}

    # the buyer's own listing: its RFQs only, with or without as=buyer, no provider fields
    for params in ({}, {"as": "buyer"}):
        own = client.get(f"{API}/rfqs", params=params, headers=buyer.headers)
        assert own.status_code == 200, own.text
        assert own.json()["count"] == 3
        assert [r["id"] for r in own.json()["data"]] == [unquoted, ids[2], ids[0]]
        assert all("your_status" not in r for r in own.json()["data"])
    # a provider's own listing has none of these RFQs
    assert client.get(f"{API}/rfqs", headers=mill_co.headers).json() == {"data": [], "count": 0}


def test_an_unknown_listing_perspective_is_a_422_naming_the_parameter(
    client: TestClient,
) -> None:
    buyer = register(client, "Buyer Co", ["buyer"])
    body = assert_problem(
        client.get(f"{API}/rfqs", params={"as": "seller"}, headers=buyer.headers), 422
    )
    assert [e["field"] for e in body["errors"]] == ["as"]
    assert body["detail"] == "as: Input should be 'buyer' or 'provider'"
