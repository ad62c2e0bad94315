"""Ledger transactions are paged in the database: every page (oldest first over the API,
newest first for the ledger page) holds the same transactions, in the same order and with
the same postings, as slicing the whole list; the count is the whole total; another
organization's transactions never appear (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from api_helpers import Tenant, register_tenant
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.services import ledger
from sharefab.storage.db import make_session_factory
from sharefab.storage.models import User

API = "/api/v1"


def _operator(client: TestClient, engine: Engine) -> Tenant:
    ops = register_tenant(client, "Park Operations", "admin@park.example.com", roles=["provider"])
    with make_session_factory(engine)() as session, session.begin():
        session.get_one(User, ops.user_id).is_platform_operator = True
    return ops


def _deposit(client: TestClient, ops: Tenant, org_id: int, amount: int, ref: str) -> None:
    body = {"org_id": org_id, "amount_minor": amount, "currency": "CNY", "reference": ref}
    response = client.post(f"{API}/ledger/deposits", json=body, headers=ops.headers)
    assert response.status_code == 201, response.text


def _page(client: TestClient, who: Tenant, limit: int, offset: int) -> dict[str, Any]:
    response = client.get(
        f"{API}/ledger/transactions",
        params={"limit": limit, "offset": offset},
        headers=who.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_pages_of_transactions_match_the_whole_list_and_keep_tenants_apart(
    client: TestClient, engine: Engine, alice: Tenant, bob: Tenant
) -> None:
    ops = _operator(client, engine)
    for i in range(7):  # interleaved, so each tenant's transactions are not contiguous
        _deposit(client, ops, bob.org_id, 1_000 + i, f"BOB-{i}")
        if i % 2 == 0:
            _deposit(client, ops, alice.org_id, 500 + i, f"ALICE-{i}")

    whole = _page(client, bob, 1000, 0)
    assert whole["count"] == 7
    assert [t["id"] for t in whole["data"]] == [f"deposit:BOB-{i}" for i in range(7)]
    assert [[p["amount_minor"] for p in t["postings"]] for t in whole["data"]] == [
        [-(1_000 + i)] for i in range(7)
    ]
    pages = [_page(client, bob, 3, offset) for offset in (0, 3, 6, 9)]
    assert [p["count"] for p in pages] == [7, 7, 7, 7]
    assert [len(p["data"]) for p in pages] == [3, 3, 1, 0]
    assert [t for p in pages for t in p["data"]] == whole["data"]

    alice_ids = [t["id"] for t in _page(client, alice, 1000, 0)["data"]]
    assert alice_ids == [f"deposit:ALICE-{i}" for i in (0, 2, 4, 6)]

    # the platform operator sees every deposit (its clearing account is on each), only its
    # own postings, and pages the same way
    ops_whole = _page(client, ops, 1000, 0)
    assert ops_whole["count"] == 11
    ops_pages = [t for offset in range(0, 11, 4) for t in _page(client, ops, 4, offset)["data"]]
    assert ops_pages == ops_whole["data"]
    assert all(len(t["postings"]) == 1 for t in ops_whole["data"])


def test_newest_first_pages_are_the_whole_list_reversed(
    client: TestClient, engine: Engine, alice: Tenant, bob: Tenant
) -> None:
    ops = _operator(client, engine)
    for i in range(5):
        _deposit(client, ops, bob.org_id, 2_000 + i, f"N-{i}")
    _deposit(client, ops, alice.org_id, 100, "OTHER")
    with make_session_factory(engine)() as session:
        user = session.get_one(User, bob.user_id)
        oldest_first = ledger.list_transactions(session, user, limit=100)
        pages = [
            ledger.list_transactions(session, user, limit=2, offset=o, newest_first=True)
            for o in (0, 2, 4, 6)
        ]
    assert oldest_first.count == 5 and [p.count for p in pages] == [5, 5, 5, 5]
    assert [t for p in pages for t in p.data] == list(reversed(oldest_first.data))
    assert [t.id for t in pages[0].data] == ["deposit:N-4", "deposit:N-3"]
