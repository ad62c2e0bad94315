"""A small catalogue of two tenants in one cluster, and the web app (API + pages) over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sharefab.config import Settings
from sharefab.services.orgs import register_organization
from sharefab.storage.db import make_engine, make_session_factory, upgrade_database
from sharefab.storage.models import (
    Booking,
    CalendarWindow,
    Cluster,
    Resource,
    ResourceCapability,
    Site,
)
from sharefab.web import create_site

PASSWORD = "correct horse battery"


@dataclass(frozen=True, slots=True)
class WebWorld:
    """Ids and logins of the test catalogue."""

    url: str
    cluster_id: int
    public_id: int
    private_id: int
    provider_email: str
    buyer_email: str
    window_start: datetime
    password: str = PASSWORD


def _build(url: str) -> WebWorld:
    upgrade_database(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with factory() as s:
        provider, _ = register_organization(
            s,
            org_name="Alpha Machining",
            roles=["provider"],
            email="a@alpha.test",
            password=PASSWORD,
        )
        register_organization(
            s, org_name="Beta Buyer", roles=["buyer"], email="b@beta.test", password=PASSWORD
        )
        cluster = Cluster(name="Suzhou Test Park", region="Jiangsu", lat=31.30, lon=120.70)
        s.add(cluster)
        s.flush()
        site = Site(
            org_id=provider.id,
            cluster_id=cluster.id,
            name="Alpha Plant 1",
            address="1 Test Road",
            lat=31.32,
            lon=120.72,
        )
        s.add(site)
        s.flush()
        public = Resource(
            org_id=provider.id,
            site_id=site.id,
            name="Alpha DMU 50 five-axis",
            hourly_rate_minor=32_000,
            setup_cost_minor=50_000,
            currency="CNY",
            is_public=True,
        )
        private = Resource(
            org_id=provider.id,
            site_id=site.id,
            name="Alpha secret lathe",
            hourly_rate_minor=9_000,
            currency="CNY",
            is_public=False,
        )
        s.add_all([public, private])
        s.flush()
        s.add_all(
            [
                ResourceCapability(
                    resource_id=public.id,
                    code="separating.machining.milling.5axis",
                    attributes={"materials": ["aluminium", "steel"], "tolerance_mm": 0.01},
                ),
                ResourceCapability(
                    resource_id=private.id, code="separating.machining.turning", attributes={}
                ),
            ]
        )
        start = day + timedelta(days=1, hours=18)
        for i in range(3):
            s.add(
                CalendarWindow(
                    resource_id=public.id,
                    start_at=start + timedelta(days=i),
                    end_at=start + timedelta(days=i, hours=12),
                    source="manual",
                )
            )
        s.add(
            Booking(
                resource_id=public.id,
                unit=0,
                start_at=start,
                end_at=start + timedelta(hours=4),
                status="confirmed",
                order_ref="ORD-TEST-1",
            )
        )
        s.commit()
        ids = (cluster.id, public.id, private.id)
    engine.dispose()
    return WebWorld(url, *ids, "a@alpha.test", "b@beta.test", start)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> WebWorld:
    """The test catalogue in a fresh SQLite file (built once per test module)."""
    path: Path = tmp_path_factory.mktemp("web") / "web.db"
    return _build(f"sqlite:///{path}")


@pytest.fixture(scope="module")
def app(world: WebWorld) -> FastAPI:
    """The full app (API + pages) over the test catalogue."""
    return create_site(Settings(database_url=world.url, env="test"))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A fresh client (own cookie jar), not signed in."""
    with TestClient(app) as c:
        yield c


SignIn = Callable[[TestClient, str], None]


def _sign_in(client: TestClient, email: str) -> None:
    response = client.post(
        "/signin",
        data={"email": email, "password": PASSWORD, "next": "/catalogue"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def sign_in() -> SignIn:
    """``sign_in(client, email)``: sign in through the form; the cookie stays in the client."""
    return _sign_in
