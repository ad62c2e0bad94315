"""Marketplace test fixtures: an app on a fresh migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.api.app import create_app
from sharefab.config import Settings
from sharefab.services import credit, passwords
from sharefab.services.capacity import CACHE

TEST_SECRET = "market-tests-secret-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with small cost parameters: same code path, a fraction of the CPU time."""
    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture(autouse=True)
def _fresh_capacity_cache() -> Iterator[None]:
    """Reused test databases restart their ids: never let one test see another's cache."""
    CACHE.clear()
    credit.clear_cache()
    yield
    CACHE.clear()
    credit.clear_cache()


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings of one test's app (small attachment limit, 3 % platform fee)."""
    return Settings(
        env="test",
        database_url=db_url,
        secret_key=TEST_SECRET,
        attachment_max_bytes=4096,
        platform_fee_bps=300,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client on the test app; server errors come back as 500 responses."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def app_engine(client: TestClient) -> Engine:
    """The app's engine, to look at the database behind the API."""
    return client.app.state.engine  # type: ignore[attr-defined]
