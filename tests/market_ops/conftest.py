"""Fixtures of the market-ops tests: an API client on the per-test database (both backends)
and tenants signed in through the API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from sharefab.api.app import create_app
from sharefab.config import Settings
from sharefab.services import credit, passwords
from sharefab.services.capacity import CACHE

SECRET = "market-ops-tests-secret-0123456789abcdef"
PASSWORD = "correct horse battery"


@dataclass
class ApiTenant:
    """A registered organization and its signed-in admin."""

    org_id: int
    user_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The bearer header."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture(autouse=True)
def _fresh_market_caches() -> Iterator[None]:
    """Reused test databases restart their ids: never let one test see another's cache."""
    CACHE.clear()
    credit.clear_cache()
    yield
    CACHE.clear()
    credit.clear_cache()


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    """A client of an app on the test database."""
    settings = Settings(env="test", database_url=db_url, secret_key=SECRET)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def register(client: TestClient, org_name: str, email: str) -> ApiTenant:
    """Register ``org_name`` with admin ``email`` and sign in."""
    body = {"org_name": org_name, "roles": ["provider"], "email": email, "password": PASSWORD}
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    token = client.post(
        "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
    ).json()["access_token"]
    return ApiTenant(created["organization"]["id"], created["user"]["id"], token)
