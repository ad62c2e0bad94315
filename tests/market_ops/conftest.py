"""Fixtures of the market-ops tests: an API client on the per-test database (both backends)
and tenants signed in through the API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from sharefab.api.app import create_app
from sharefab.config import Settings

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


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    """A client of an app on the test database."""
    settings = Settings(env="test", database_url=db_url, secret_key=SECRET)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


def register(
    client: TestClient, org_name: str, email: str, roles: list[str] | None = None
) -> ApiTenant:
    """Register ``org_name`` (a provider unless ``roles`` says otherwise) with admin ``email``
    and sign in."""
    body = {
        "org_name": org_name,
        "roles": roles or ["provider"],
        "email": email,
        "password": PASSWORD,
    }
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    token = client.post(
        "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
    ).json()["access_token"]
    return ApiTenant(created["organization"]["id"], created["user"]["id"], token)
