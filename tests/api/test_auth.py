"""Registration, login, bearer tokens and users inside an organization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_helpers import PASSWORD, Tenant, assert_problem, login, register_tenant, snapshot
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.api.security import create_access_token
from sharefab.config import Settings

API = "/api/v1"


def test_register_creates_org_and_admin_who_can_log_in(client: TestClient, alice: Tenant) -> None:
    me = client.get(f"{API}/users/me", headers=alice.headers)
    assert me.status_code == 200
    assert me.json()["role"] == "admin"
    assert me.json()["org_id"] == alice.org_id
    assert "password" not in me.text and "hash" not in me.text


def test_duplicate_org_or_email_is_a_conflict(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    before = snapshot(engine)
    again = {"org_name": "Alice Machining", "roles": ["buyer"], "email": "x@example.com"}
    assert_problem(
        client.post(f"{API}/auth/register", json={**again, "password": PASSWORD}), 409, "org_name"
    )
    same_mail = {"org_name": "Other", "roles": ["buyer"], "email": alice.email.upper()}
    assert_problem(
        client.post(f"{API}/auth/register", json={**same_mail, "password": PASSWORD}), 409, "email"
    )
    assert snapshot(engine) == before


def test_registration_input_is_validated(client: TestClient, engine: Engine) -> None:
    before = snapshot(engine)
    base = {"org_name": "Carol", "roles": ["provider"], "email": "c@example.com"}
    assert_problem(
        client.post(f"{API}/auth/register", json={**base, "password": "short"}), 422, "password"
    )
    bad_role = {**base, "roles": ["pirate"], "password": PASSWORD}
    assert_problem(client.post(f"{API}/auth/register", json=bad_role), 422, "roles[0]")
    bad_mail = {**base, "email": "not-an-email", "password": PASSWORD}
    assert_problem(client.post(f"{API}/auth/register", json=bad_mail), 422, "email")
    assert snapshot(engine) == before


def test_wrong_password_and_unknown_user_get_the_same_401(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    before = snapshot(engine)
    wrong = client.post(f"{API}/auth/token", data={"username": alice.email, "password": "nope"})
    unknown = client.post(
        f"{API}/auth/token", data={"username": "who@example.com", "password": "x"}
    )
    for response in (wrong, unknown):
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert snapshot(engine) == before


def test_expired_forged_and_missing_tokens_get_401(
    client: TestClient, settings: Settings, engine: Engine, alice: Tenant
) -> None:
    before = snapshot(engine)
    past = datetime.now(UTC) - timedelta(hours=3)
    expired = create_access_token(settings, alice.user_id, alice.org_id, now=past, minutes=60)
    forged = create_access_token(
        Settings(env="test", database_url=settings.database_url, secret_key="x" * 40),
        alice.user_id,
        alice.org_id,
    )
    cases = {
        "expired": {"Authorization": f"Bearer {expired}"},
        "forged": {"Authorization": f"Bearer {forged}"},
        "garbage": {"Authorization": "Bearer not.a.token"},
        "missing": {},
    }
    for name, headers in cases.items():
        response = client.post(
            f"{API}/sites", json={"name": "x", "lat": 1, "lon": 1}, headers=headers
        )
        body = assert_problem(response, 401, "Authorization")
        assert response.headers["www-authenticate"] == "Bearer", name
        if name == "expired":
            assert "expired" in body["detail"]
    assert snapshot(engine) == before


def test_admin_manages_users_others_cannot(client: TestClient, alice: Tenant) -> None:
    created = client.post(
        f"{API}/users",
        json={"email": "planner@alice.example.com", "password": PASSWORD, "role": "planner"},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    planner = {"Authorization": f"Bearer {login(client, 'planner@alice.example.com')}"}
    listing = client.get(f"{API}/users", headers=planner).json()
    assert listing["count"] == 2
    assert_problem(
        client.post(
            f"{API}/users",
            json={"email": "x@alice.example.com", "password": PASSWORD},
            headers=planner,
        ),
        403,
    )
    assert_problem(
        client.patch(f"{API}/users/{alice.user_id}", json={"role": "viewer"}, headers=planner), 403
    )
    # The planner may manage the catalogue; a viewer may not.
    changed = client.patch(
        f"{API}/users/{created.json()['id']}", json={"role": "viewer"}, headers=alice.headers
    )
    assert changed.json()["role"] == "viewer"
    assert_problem(
        client.post(f"{API}/sites", json={"name": "x", "lat": 1, "lon": 1}, headers=planner), 403
    )


def test_the_last_admin_cannot_be_demoted(client: TestClient, alice: Tenant) -> None:
    response = client.patch(
        f"{API}/users/{alice.user_id}", json={"role": "viewer"}, headers=alice.headers
    )
    assert_problem(response, 409, "role")
    assert client.get(f"{API}/users/me", headers=alice.headers).json()["role"] == "admin"


def test_deactivated_user_token_stops_working(client: TestClient, alice: Tenant) -> None:
    other = register_tenant(client, "Dave", "dave@example.com")
    created = client.post(
        f"{API}/users",
        json={"email": "op@alice.example.com", "password": PASSWORD, "role": "operator"},
        headers=alice.headers,
    ).json()
    token = {"Authorization": f"Bearer {login(client, 'op@alice.example.com')}"}
    assert client.get(f"{API}/users/me", headers=token).status_code == 200
    client.patch(f"{API}/users/{created['id']}", json={"is_active": False}, headers=alice.headers)
    assert_problem(client.get(f"{API}/users/me", headers=token), 401)
    assert client.get(f"{API}/users/me", headers=other.headers).status_code == 200
