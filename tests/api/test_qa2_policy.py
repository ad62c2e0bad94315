"""Authorization policy (QA pass 2): only buyer organizations post RFQs; who may move an
order where (a provider cancels only an order it alone works on, either party disputes after
shipping, another party's move is a 403 naming who may make it); huge ids in ledger and
operator paths are a 422 naming the parameter; windows wholly in the past are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_helpers import Tenant, assert_problem, register_tenant, snapshot
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.domain.orders import (
    ActorRole,
    IllegalTransition,
    NotYourMove,
    OrderState,
    allowed_targets,
    transition,
)

API = "/api/v1"
MILL = "separating.machining.milling.5axis"
ANODIZE = "coating.anodizing"
HUGE = str(2**64)


def _day(offset: int) -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=offset)


def _tenant(client: TestClient, name: str, roles: list[str]) -> Tenant:
    email = f"admin@{name.lower().replace(' ', '-')}.example.com"
    return register_tenant(client, name, email, roles=roles)


def _machine(
    client: TestClient, tenant: Tenant, code: str, where: tuple[float, float]
) -> dict[str, Any]:
    site = client.post(
        f"{API}/sites",
        json={"name": f"{code} site", "lat": where[0], "lon": where[1]},
        headers=tenant.headers,
    )
    assert site.status_code == 201, site.text
    body = {
        "site_id": site.json()["id"],
        "name": code,
        "capabilities": [{"code": code, "attributes": {}}],
        "hourly_rate_minor": 30_000,
        "currency": "CNY",
        "is_public": True,
    }
    resource = client.post(f"{API}/resources", json=body, headers=tenant.headers)
    assert resource.status_code == 201, resource.text
    window = {"start_at": _day(5).isoformat(), "end_at": _day(8).isoformat()}
    url = f"{API}/resources/{resource.json()['id']}/windows"
    assert client.post(url, json=window, headers=tenant.headers).status_code == 201
    return resource.json()


def _rfq(codes: list[str]) -> dict[str, Any]:
    operations = [{"capability": c, "quantity": 4, "unit_minutes": 30} for c in codes]
    return {"title": "brackets", "due_at": _day(12).isoformat(), "operations": operations}


def _order(client: TestClient, buyer: Tenant, codes: list[str]) -> dict[str, Any]:
    rfq = client.post(f"{API}/rfqs", json=_rfq(codes), headers=buyer.headers)
    assert rfq.status_code == 201, rfq.text
    offer = client.post(f"{API}/rfqs/{rfq.json()['id']}/quotes", headers=buyer.headers)
    assert offer.status_code == 201 and offer.json()["options"], offer.text
    option = offer.json()["options"][0]
    order = client.post(
        f"{API}/quotes/{offer.json()['id']}/accept",
        json={"option_id": option["id"]},
        headers=buyer.headers,
    )
    assert order.status_code == 201, order.text
    return order.json()


def _event(client: TestClient, who: Tenant, order_id: int, to: str) -> Any:
    return client.post(f"{API}/orders/{order_id}/events", json={"to": to}, headers=who.headers)


def test_a_provider_only_organization_may_not_post_an_rfq(
    client: TestClient, engine: Engine
) -> None:
    provider = _tenant(client, "Mill Only", ["provider"])
    before = snapshot(engine)
    refused = client.post(f"{API}/rfqs", json=_rfq([MILL]), headers=provider.headers)
    problem = assert_problem(refused, 403)
    assert "buyer role" in problem["detail"] and "yours has: provider" in problem["detail"]
    assert snapshot(engine) == before
    both = _tenant(client, "Mill And Buyer", ["provider", "buyer"])
    assert client.post(f"{API}/rfqs", json=_rfq([MILL]), headers=both.headers).status_code == 201


def test_a_provider_may_not_cancel_an_order_other_providers_share(client: TestClient) -> None:
    mills = _tenant(client, "Suzhou Mills", ["provider"])
    coats = _tenant(client, "Wuxi Coatings", ["provider"])
    buyer = _tenant(client, "Shanghai Robotics", ["buyer"])
    _machine(client, mills, MILL, (31.30, 120.62))
    _machine(client, coats, ANODIZE, (31.49, 120.31))
    order = _order(client, buyer, [MILL, ANODIZE])
    assert {w["provider_org_id"] for w in order["work_orders"]} == {mills.org_id, coats.org_id}
    url = f"{API}/orders/{order['id']}"
    view = client.get(url, headers=mills.headers).json()
    assert "cancelled" not in view["allowed_transitions"]
    refused = assert_problem(_event(client, mills, order["id"], "cancelled"), 403)
    assert "no other provider works on" in refused["detail"]
    assert "cancelled may be set here only by buyer, operator" in refused["detail"]
    assert client.get(url, headers=buyer.headers).json()["state"] == order["state"]
    # the buyer may cancel its own order before production
    assert _event(client, buyer, order["id"], "cancelled").status_code == 201


def test_a_provider_of_a_shared_order_may_not_declare_it_inspected_by_hand(
    client: TestClient,
) -> None:
    mills = _tenant(client, "Suzhou Mills", ["provider"])
    coats = _tenant(client, "Wuxi Coatings", ["provider"])
    buyer = _tenant(client, "Shanghai Robotics", ["buyer"])
    _machine(client, mills, MILL, (31.30, 120.62))
    _machine(client, coats, ANODIZE, (31.49, 120.31))
    order = _order(client, buyer, [MILL, ANODIZE])
    mine = next(w for w in order["work_orders"] if w["provider_org_id"] == mills.org_id)
    progress = f"{API}/orders/{order['id']}/operations/{mine['id']}/progress"
    for to in ("started", "done"):
        assert client.post(progress, json={"to": to}, headers=mills.headers).status_code == 200
    refused = assert_problem(_event(client, mills, order["id"], "inspected"), 403, "to")
    assert "when every work order is done" in refused["detail"]
    view = client.get(f"{API}/orders/{order['id']}", headers=mills.headers).json()
    assert view["state"] == "in_production"
    assert "inspected" not in view["allowed_transitions"]
    # an inspection that passes while the coating is still pending does not move it either
    inspection = client.post(
        f"{API}/orders/{order['id']}/inspections", json={}, headers=mills.headers
    )
    assert inspection.status_code == 201 and inspection.json()["order_state"] == "in_production"


def test_the_sole_provider_may_withdraw_and_anothers_move_is_a_403_naming_who(
    client: TestClient,
) -> None:
    mills = _tenant(client, "Suzhou Mills", ["provider"])
    buyer = _tenant(client, "Shanghai Robotics", ["buyer"])
    _machine(client, mills, MILL, (31.30, 120.62))
    order = _order(client, buyer, [MILL])
    assert order["state"] == "scheduled"
    # the move exists from scheduled, but it is the provider's: 403 naming who may
    not_yours = assert_problem(_event(client, buyer, order["id"], "in_production"), 403, "to")
    assert "in_production may be set only by provider, system" in not_yours["detail"]
    # a move that does not exist from this state stays a 409
    assert_problem(_event(client, buyer, order["id"], "shipped"), 409, "to")
    view = client.get(f"{API}/orders/{order['id']}", headers=mills.headers).json()
    assert view["allowed_transitions"] == ["in_production", "cancelled"]
    withdrawn = _event(client, mills, order["id"], "cancelled")
    assert withdrawn.status_code == 201, withdrawn.text


def test_either_party_may_dispute_a_shipped_order_and_only_the_buyer_confirms(
    client: TestClient,
) -> None:
    mills = _tenant(client, "Suzhou Mills", ["provider"])
    buyer = _tenant(client, "Shanghai Robotics", ["buyer"])
    _machine(client, mills, MILL, (31.30, 120.62))
    order = _order(client, buyer, [MILL])
    work = order["work_orders"][0]["id"]
    progress = f"{API}/orders/{order['id']}/operations/{work}/progress"
    for to in ("started", "done"):
        assert client.post(progress, json={"to": to}, headers=mills.headers).status_code == 200
    inspection = client.post(
        f"{API}/orders/{order['id']}/inspections", json={}, headers=mills.headers
    )
    assert inspection.json()["order_state"] == "inspected", inspection.text
    assert _event(client, mills, order["id"], "shipped").status_code == 201
    confirm = assert_problem(_event(client, mills, order["id"], "delivered"), 403, "to")
    assert "delivered may be set only by buyer, operator, system" in confirm["detail"]
    disputed = _event(client, mills, order["id"], "disputed")
    assert disputed.status_code == 201, disputed.text
    assert disputed.json()["state"] == "disputed"
    # only the operator settles with money; the provider has no move out of a dispute
    assert (
        client.get(f"{API}/orders/{order['id']}", headers=mills.headers).json()[
            "allowed_transitions"
        ]
        == []
    )
    assert _event(client, buyer, order["id"], "delivered").status_code == 201  # withdraws


def test_huge_ids_in_ledger_and_operator_paths_name_the_parameter(
    client: TestClient, bob: Tenant
) -> None:
    cases = [
        (f"{API}/organizations/{HUGE}/credit", "org_id"),
        (f"{API}/ledger/statement.csv?account_id={HUGE}", "account_id"),
        (f"{API}/ledger/transactions?offset={HUGE}", "offset"),
        (f"{API}/operator/optimize/{HUGE}", "run_id"),
        (f"{API}/organizations/0/credit", "org_id"),
    ]
    for url, field in cases:
        problem = assert_problem(client.get(url, headers=bob.headers), 422, field)
        assert "body" not in [e["field"] for e in problem["errors"]], url


def test_a_window_wholly_in_the_past_is_refused_but_one_still_running_is_not(
    client: TestClient, engine: Engine
) -> None:
    mills = _tenant(client, "Suzhou Mills", ["provider"])
    resource = _machine(client, mills, MILL, (31.30, 120.62))
    url = f"{API}/resources/{resource['id']}/windows"
    before = snapshot(engine)
    old = {"start_at": "2001-01-01T00:00:00Z", "end_at": "2001-01-02T00:00:00Z"}
    problem = assert_problem(client.post(url, json=old, headers=mills.headers), 422, "end_at")
    assert "ends in the past" in problem["detail"]
    assert snapshot(engine) == before
    running = {"start_at": _day(-1).isoformat(), "end_at": _day(2).isoformat()}
    assert client.post(url, json=running, headers=mills.headers).status_code == 201
    rule = client.post(
        f"{API}/resources/{resource['id']}/calendar-rules",
        json={"rule": "Mon-Sun 08:00-12:00", "horizon_days": 14},
        headers=mills.headers,
    )
    assert rule.status_code == 201, rule.text
    assert rule.json()["windows_created"] > 0


def test_the_state_machine_names_who_may_make_each_move() -> None:
    s, r = OrderState, ActorRole
    for state in (s.ACCEPTED, s.SCHEDULED):
        assert transition(state, s.CANCELLED, r.PROVIDER) is s.CANCELLED  # its own order
        with pytest.raises(NotYourMove) as shared:
            transition(state, s.CANCELLED, r.PROVIDER, sole_provider=False)
        assert {r.BUYER, r.OPERATOR} <= set(shared.value.allowed_for_others)
        assert r.PROVIDER not in shared.value.allowed_for_others
        assert s.CANCELLED not in allowed_targets(state, r.PROVIDER, sole_provider=False)
    with pytest.raises(NotYourMove, match="when every work order is done"):
        transition(s.IN_PRODUCTION, s.INSPECTED, r.PROVIDER, sole_provider=False)
    assert transition(s.IN_PRODUCTION, s.INSPECTED, r.PROVIDER) is s.INSPECTED
    for state in (s.SHIPPED, s.DELIVERED):
        assert transition(state, s.DISPUTED, r.PROVIDER) is s.DISPUTED
    with pytest.raises(NotYourMove, match="may be set only by operator"):
        transition(s.DISPUTED, s.SETTLED, r.PROVIDER)
    with pytest.raises(IllegalTransition) as missing:  # no such move: not a NotYourMove
        transition(s.SCHEDULED, s.SHIPPED, r.BUYER)
    assert not isinstance(missing.value, NotYourMove)
