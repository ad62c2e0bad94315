"""Quotes filter by the buyer's minimum provider credit and budget; credit is explained."""

from __future__ import annotations

from fastapi.testclient import TestClient
from market_helpers import (
    API,
    MILL,
    SUZHOU,
    WUXI,
    accept,
    assert_problem,
    event,
    machine,
    operation,
    post_rfq,
    quote,
    register,
)


def test_minimum_credit_and_budget_filter_options_with_reasons(client: TestClient) -> None:
    machine(client, register(client, "New Mill Co", ["provider"]), MILL, SUZHOU)
    buyer = register(client, "Careful Buyer", ["buyer"])
    strict = post_rfq(client, buyer, [operation(MILL)], min_provider_credit=800).json()
    offer = quote(client, buyer, strict["id"])
    assert offer["options"] == []
    assert "with credit >= 800" in offer["diagnosis"][0]
    cheap = post_rfq(client, buyer, [operation(MILL)], budget_minor=100).json()
    offer = quote(client, buyer, cheap["id"])
    assert offer["options"] == [] and offer["excluded"]
    assert all("exceeds the budget ceiling CNY 1.00" in e["reasons"][0] for e in offer["excluded"])


def test_a_new_firm_starts_at_the_prior_and_a_provider_cancellation_counts_against_it(
    client: TestClient,
) -> None:
    flaky = register(client, "Flaky Mill", ["provider"])
    steady = register(client, "Steady Mill", ["provider"])
    buyer = register(client, "Buyer Co", ["buyer"])
    machine(client, flaky, MILL, SUZHOU, rate=10_000, name="cheap")
    machine(client, steady, MILL, WUXI, rate=90_000, name="dear")
    url = f"{API}/organizations/{flaky.org_id}/credit"
    fresh = client.get(url, headers=buyer.headers).json()
    assert fresh["score"] == fresh["prior_score"] == 760
    assert all(c["explanation"].startswith("No ") for c in fresh["components"])

    rfq = post_rfq(client, buyer, [operation(MILL)]).json()
    offer = quote(client, buyer, rfq["id"])
    cheapest = next(o for o in offer["options"] if "cheapest" in o["labels"])
    assert cheapest["provider_org_ids"] == [flaky.org_id]
    order = accept(client, buyer, offer["id"], cheapest["id"]).json()
    cancelled = event(client, flaky, order["id"], "cancelled", "machine broke down")
    assert cancelled.status_code == 201, cancelled.text
    wallet = client.get(f"{API}/ledger/accounts", headers=buyer.headers).json()["data"]
    assert {a["code"]: a["balance_minor"] for a in wallet}["buyer_wallet"] == order["total_minor"]

    after = client.get(url, headers=buyer.headers).json()
    assert after["score"] < fresh["score"]
    commitment = next(c for c in after["components"] if c["name"] == "commitment")
    assert "Cancelled by the firm: 1" in commitment["explanation"]
    buyer_score = client.get(f"{API}/organizations/{buyer.org_id}/credit", headers=flaky.headers)
    # a cancellation by the provider is no evidence against the buyer
    assert buyer_score.json()["score"] >= buyer_score.json()["prior_score"]
    commitment = next(c for c in buyer_score.json()["components"] if c["name"] == "commitment")
    assert commitment["explanation"].startswith("No orders yet")
    assert_problem(client.get(f"{API}/organizations/999999/credit", headers=buyer.headers), 404)

    # the most reliable option now avoids the provider that cancelled
    again = quote(client, buyer, post_rfq(client, buyer, [operation(MILL)]).json()["id"])
    reliable = next(o for o in again["options"] if "most_reliable" in o["labels"])
    assert reliable["provider_org_ids"] == [steady.org_id]
