"""The verified-user cache: a change made in this process counts at once, a change made
elsewhere (another server process, SQL, the CLI) within ``auth_cache_seconds``."""

from __future__ import annotations

from api_helpers import PASSWORD, Tenant, assert_problem
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from sharefab.api.user_cache import UserCache
from sharefab.storage.models import User

API = "/api/v1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _use_cache(client: TestClient, ttl: float) -> FakeClock:
    clock = FakeClock()
    client.app.state.user_cache = UserCache(ttl, clock=clock)  # type: ignore[attr-defined]
    return clock


def _deactivate_elsewhere(engine: Engine, user_id: int) -> None:
    """What another server process (or an operator with SQL) would do."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": user_id})


def test_deactivation_elsewhere_counts_once_the_cache_time_is_up(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    clock = _use_cache(client, 5)
    assert client.get(f"{API}/users/me", headers=alice.headers).status_code == 200
    _deactivate_elsewhere(engine, alice.user_id)
    clock.now += 4.9  # still within the 5 s this process trusts its check
    assert client.get(f"{API}/users/me", headers=alice.headers).json()["id"] == alice.user_id
    clock.now += 0.2
    assert_problem(client.get(f"{API}/users/me", headers=alice.headers), 401)


def test_without_the_cache_every_request_reads_the_user(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    _use_cache(client, 0)
    assert client.get(f"{API}/users/me", headers=alice.headers).status_code == 200
    _deactivate_elsewhere(engine, alice.user_id)
    assert_problem(client.get(f"{API}/users/me", headers=alice.headers), 401)


def test_role_change_through_this_process_counts_at_once(client: TestClient, alice: Tenant) -> None:
    _use_cache(client, 300)
    planner = client.post(
        f"{API}/users",
        json={"email": "plan@alice.example.com", "password": PASSWORD, "role": "admin"},
        headers=alice.headers,
    ).json()
    token = client.post(
        f"{API}/auth/token",
        data={"username": "plan@alice.example.com", "password": PASSWORD},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/users/me", headers=headers).json()["role"] == "admin"
    changed = client.patch(
        f"{API}/users/{planner['id']}", json={"role": "viewer"}, headers=alice.headers
    )
    assert changed.status_code == 200, changed.text
    assert client.get(f"{API}/users/me", headers=headers).json()["role"] == "viewer"
    # and the demoted user can no longer do what only admins may
    denied = client.post(
        f"{API}/users",
        json={"email": "x@alice.example.com", "password": PASSWORD},
        headers=headers,
    )
    assert_problem(denied, 403)


def test_cached_user_is_the_callers_own_and_usable_by_routes(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    _use_cache(client, 300)
    for _ in range(3):  # the second and third requests come from the cache
        assert client.get(f"{API}/users/me", headers=alice.headers).json()["id"] == alice.user_id
        assert client.get(f"{API}/users/me", headers=bob.headers).json()["id"] == bob.user_id
    listed = client.get(f"{API}/users", headers=alice.headers).json()
    assert [u["email"] for u in listed["data"]] == ["admin@alice.example.com"]


def test_cache_keeps_at_most_its_size() -> None:
    cache = UserCache(60, max_users=2)
    for uid in (1, 2, 3):
        cache.remember(User(id=uid, org_id=1, email=f"u{uid}@x.example", password_hash="h"))
    with Session() as session:  # attaching a cached user needs no database
        kept = [uid for uid in (1, 2, 3) if cache.attach(session, uid) is not None]
    assert kept == [2, 3]
