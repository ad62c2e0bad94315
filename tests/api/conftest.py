"""API test fixtures: an app on a fresh migrated database (SQLite and PostgreSQL, via the
``db_url`` fixture) and helpers that act as a tenant."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from api_helpers import Tenant, register_tenant
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.api.app import create_app
from sharefab.config import Settings

TEST_SECRET = "api-tests-secret-key-0123456789abcdef"


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings for one test's app."""
    return Settings(env="test", database_url=db_url, secret_key=TEST_SECRET)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client for an app on the test database; server errors come back as responses."""
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def engine(client: TestClient) -> Engine:
    """The app's engine (to look at the database behind the API)."""
    return client.app.state.engine  # type: ignore[attr-defined]


@pytest.fixture
def alice(client: TestClient) -> Tenant:
    """A provider organization 'Alice Machining' with a signed-in admin."""
    return register_tenant(client, "Alice Machining", "admin@alice.example.com")


@pytest.fixture
def bob(client: TestClient) -> Tenant:
    """A second organization 'Bob Buyers' with a signed-in admin."""
    return register_tenant(client, "Bob Buyers", "admin@bob.example.com", roles=["buyer"])


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like ``db_url`` but shared by one test module (for read-mostly tables of cases that
    never disturb each other), from the root conftest's SQLite template and PostgreSQL pool."""
    if request.param == "sqlite":
        template = request.getfixturevalue("_sqlite_template")
        path = tmp_path_factory.mktemp("api-module") / "sharefab.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    pool = request.getfixturevalue("_postgres_pool")  # the root conftest's database pool
    name = pool.take()
    try:
        yield pool.url(name)
    finally:
        pool.give_back(name)


@pytest.fixture(scope="module")
def module_client(module_db_url: str) -> Iterator[TestClient]:
    """A client shared by one test module, on ``module_db_url``."""
    settings = Settings(env="test", database_url=module_db_url, secret_key=TEST_SECRET)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client
