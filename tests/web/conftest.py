"""A small catalogue of three tenants (a provider, a buyer, an outsider) in one cluster, and
the web app (API + pages) over it."""

from __future__ import annotations

import re
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
    outsider_email: str = "g@gamma.test"


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
        register_organization(
            s,
            org_name="Gamma Outsider",
            roles=["buyer", "provider"],
            email="g@gamma.test",
            password=PASSWORD,
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


MILL = "separating.machining.milling.5axis"


def rfq_form(**fields: object) -> dict[str, object]:
    """A valid "New RFQ" form: 10 parts of 6 minutes of 5-axis milling, due in 7 days."""
    due = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%dT17:00")
    form: dict[str, object] = {
        "capability": [MILL, ""],
        "op_name": ["mill housing", ""],
        "quantity": ["10", ""],
        "unit_minutes": ["6", ""],
        "setup_minutes": ["", ""],
        "title": "Pump housings",
        "due_at": due,
        "budget": "5000",
        "currency": "CNY",
        "allow_split": "1",
    }
    form.update(fields)
    return form


@dataclass(frozen=True, slots=True)
class QuotePage:
    """What the RFQ page shows after "Get quotes"."""

    html: str
    quote_id: int
    option_ids: list[int]
    keys: list[str]


class Market:
    """The buyer's journey through the pages, one step per method."""

    capability = MILL
    form = staticmethod(rfq_form)

    def new_rfq(self, client: TestClient, **fields: object) -> int:
        """Post the form; the id of the stored RFQ."""
        response = client.post("/rfqs/new", data=rfq_form(**fields), follow_redirects=False)
        assert response.status_code == 303, response.text
        return int(response.headers["location"].rsplit("/", 1)[1])

    def get_quotes(self, client: TestClient, rfq_id: int) -> QuotePage:
        """Press "Get quotes" and read the options shown."""
        response = client.post(f"/rfqs/{rfq_id}/quotes", follow_redirects=False)
        assert response.status_code == 303, response.text
        page = client.get(response.headers["location"])
        assert page.status_code == 200
        return self.read(page.text)

    @staticmethod
    def read(html: str) -> QuotePage:
        """The quote id, option ids and idempotency keys of an RFQ page."""
        found = re.search(r'action="/quotes/(\d+)/accept"', html)
        assert found, "no accept button on the page"
        options = [int(x) for x in re.findall(r'name="option_id" value="(\d+)"', html)]
        keys = re.findall(r'name="idempotency_key" value="([^"]+)"', html)
        return QuotePage(html, int(found.group(1)), options, keys)

    def accept(self, client: TestClient, quote: QuotePage, index: int = 0) -> int:
        """Accept option ``index``; the id of the order."""
        response = client.post(
            f"/quotes/{quote.quote_id}/accept",
            data={"option_id": quote.option_ids[index], "idempotency_key": quote.keys[index]},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith("/orders/")
        return int(location.split("/")[2].split("?")[0])


@pytest.fixture
def market() -> Market:
    """Helpers for the RFQ -> quote -> order pages."""
    return Market()


@pytest.fixture
def build_world() -> Callable[[str], WebWorld]:
    """``build_world(url)``: the test catalogue in the (migrated, empty) database at ``url``."""
    return _build
