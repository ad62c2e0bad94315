"""Marketplace test fixtures: an app on a fresh migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.api.app import create_app
from sharefab.config import Settings

TEST_SECRET = "market-tests-secret-key-0123456789abcdef"


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
