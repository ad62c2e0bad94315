"""The pages over a seeded demo cluster (3 factories): what a new user sees after
``sharefab demo``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sharefab.config import Settings
from sharefab.services.seed import SeedSummary, seed_database
from sharefab.storage.db import make_engine
from sharefab.storage.models import Cluster, Resource
from sharefab.web import create_site


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, SeedSummary]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('seeded')) / 'demo.db'}"
    return url, seed_database(url, factories=3, seed=7)


@pytest.fixture
def demo_client(seeded: tuple[str, SeedSummary]) -> Iterator[TestClient]:
    url, summary = seeded
    with TestClient(create_site(Settings(database_url=url, env="test"))) as client:
        _org, email = summary.logins[0]
        response = client.post(
            "/signin", data={"email": email, "password": summary.password}, follow_redirects=False
        )
        assert response.status_code == 303
        yield client


def test_demo_login_sees_a_full_catalogue(demo_client: TestClient) -> None:
    page = demo_client.get("/catalogue")
    assert page.status_code == 200
    count = int(re.search(r'id="result-count">(\d+) resource', page.text).group(1))  # type: ignore[union-attr]
    assert count > 0
    assert page.text.count('<a href="/resources/') == min(count, 25)


def test_demo_cluster_pages_show_factories_and_idle_hours(
    demo_client: TestClient, seeded: tuple[str, SeedSummary]
) -> None:
    url, _ = seeded
    engine = make_engine(url)
    with engine.connect() as conn:
        cluster_ids = conn.scalars(select(Cluster.id)).all()
        public_id = conn.scalar(select(Resource.id).where(Resource.is_public.is_(True)).limit(1))
    engine.dispose()
    listing = demo_client.get("/clusters")
    assert listing.status_code == 200
    idle = [
        float(x.replace(",", ""))
        for x in re.findall(
            r'<div class="stat">([\d,.]+)</div><div class="stat-label">idle', listing.text
        )
    ]
    assert len(idle) == len(cluster_ids) and sum(idle) > 0
    for cid in cluster_ids:
        assert demo_client.get(f"/clusters/{cid}").status_code == 200
    resource = demo_client.get(f"/resources/{public_id}")
    assert resource.status_code == 200
    assert 'class="tl-bar window"' in resource.text
