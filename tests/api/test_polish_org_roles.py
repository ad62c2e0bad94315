"""An organization's admin changes its buyer/provider roles after registration: a
provider-only organization takes the buyer role and may then post RFQs. Unknown roles, no
role left, the platform's operator role, a non-admin caller and another tenant's
organization are each a clear 4xx that changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import Tenant, assert_problem, login, register_tenant, snapshot
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from sharefab.storage.models import Organization

API = "/api/v1"
MILL = "separating.machining.milling.5axis"


def _rfq() -> dict[str, Any]:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=12)
    operations = [{"capability": MILL, "quantity": 4, "unit_minutes": 30}]
    return {"title": "brackets", "due_at": due.isoformat(), "operations": operations}


def _roles_url(tenant: Tenant) -> str:
    return f"{API}/organizations/{tenant.org_id}/roles"


def test_a_provider_takes_the_buyer_role_and_may_then_post_an_rfq(
    client: TestClient, alice: Tenant
) -> None:
    me = client.get(f"{API}/organizations/me", headers=alice.headers)
    assert me.status_code == 200, me.text
    assert me.json() == {"id": alice.org_id, "name": "Alice Machining", "roles": ["provider"]}
    refused = client.post(f"{API}/rfqs", json=_rfq(), headers=alice.headers)
    assert_problem(refused, 403)

    changed = client.put(
        _roles_url(alice), json={"roles": ["provider", "buyer"]}, headers=alice.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["roles"] == ["buyer", "provider"]
    assert client.get(f"{API}/organizations/me", headers=alice.headers).json()["roles"] == [
        "buyer",
        "provider",
    ]
    posted = client.post(f"{API}/rfqs", json=_rfq(), headers=alice.headers)
    assert posted.status_code == 201, posted.text

    # dropping the provider role keeps the RFQ and everything else the organization stored
    buyer_only = client.put(_roles_url(alice), json={"roles": ["buyer"]}, headers=alice.headers)
    assert buyer_only.status_code == 200, buyer_only.text
    assert buyer_only.json()["roles"] == ["buyer"]
    rfq = client.get(f"{API}/rfqs/{posted.json()['id']}", headers=alice.headers)
    assert rfq.status_code == 200, rfq.text

    # and giving up buying again closes RFQ posting
    back = client.put(_roles_url(alice), json={"roles": ["provider"]}, headers=alice.headers)
    assert back.status_code == 200 and back.json()["roles"] == ["provider"], back.text
    assert_problem(client.post(f"{API}/rfqs", json=_rfq(), headers=alice.headers), 403)


def test_bad_role_changes_are_refused_naming_the_problem(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    before = snapshot(engine)
    url = _roles_url(alice)

    unknown = client.put(url, json={"roles": ["provider", "reseller"]}, headers=alice.headers)
    problem = assert_problem(unknown, 422, "roles[1]")
    assert "unknown role 'reseller'" in problem["detail"]

    empty = client.put(url, json={"roles": []}, headers=alice.headers)
    problem = assert_problem(empty, 422, "roles")
    assert "at least one role" in problem["detail"]

    operator = client.put(url, json={"roles": ["provider", "operator"]}, headers=alice.headers)
    problem = assert_problem(operator, 403, "roles")
    assert "operator role is granted by the platform" in problem["detail"]

    not_a_list = client.put(url, json={"roles": "buyer"}, headers=alice.headers)
    assert_problem(not_a_list, 422, "roles")
    unknown_field = client.put(url, json={"roles": ["buyer"], "x": 1}, headers=alice.headers)
    assert_problem(unknown_field, 422)
    huge = client.put(
        f"{API}/organizations/{2**64}/roles", json={"roles": ["buyer"]}, headers=alice.headers
    )
    assert_problem(huge, 422, "org_id")

    assert snapshot(engine) == before
    assert client.get(f"{API}/organizations/me", headers=alice.headers).json()["roles"] == [
        "provider"
    ]


def test_only_the_platform_changes_the_operator_role(client: TestClient, engine: Engine) -> None:
    ops = register_tenant(client, "Platform Ops", "admin@ops.example.com", roles=["provider"])
    with engine.begin() as conn:  # the platform grants its operator role (no API may)
        conn.execute(
            update(Organization).where(Organization.id == ops.org_id).values(roles=["operator"])
        )
    before = snapshot(engine)
    dropped = client.put(_roles_url(ops), json={"roles": ["buyer"]}, headers=ops.headers)
    problem = assert_problem(dropped, 403, "roles")
    assert "cannot be removed" in problem["detail"]
    assert snapshot(engine) == before
    # the organization's buyer/provider roles still change around the operator role
    kept = client.put(_roles_url(ops), json={"roles": ["operator", "buyer"]}, headers=ops.headers)
    assert kept.status_code == 200, kept.text
    assert kept.json()["roles"] == ["buyer", "operator"]


def test_another_tenants_organization_is_a_404_and_a_non_admin_a_403(
    client: TestClient, engine: Engine, alice: Tenant, bob: Tenant
) -> None:
    before = snapshot(engine)
    other = client.put(_roles_url(alice), json={"roles": ["buyer"]}, headers=bob.headers)
    problem = assert_problem(other, 404)
    assert problem["detail"] == f"organization {alice.org_id} not found"
    missing = client.put(
        f"{API}/organizations/{alice.org_id + 1000}/roles",
        json={"roles": ["buyer"]},
        headers=bob.headers,
    )
    assert assert_problem(missing, 404)["detail"] == f"organization {alice.org_id + 1000} not found"

    created = client.post(
        f"{API}/users",
        json={"email": "viewer@alice.example.com", "password": "long enough", "role": "viewer"},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    before = snapshot(engine)
    viewer = {"Authorization": f"Bearer {login(client, 'viewer@alice.example.com', 'long enough')}"}
    refused = client.put(_roles_url(alice), json={"roles": ["buyer"]}, headers=viewer)
    problem = assert_problem(refused, 403)
    assert "needs one of: admin" in problem["detail"]
    assert snapshot(engine) == before
    assert client.get(f"{API}/organizations/me", headers=viewer).json()["roles"] == ["provider"]
