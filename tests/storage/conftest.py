"""Test data builders for storage tests (the database fixtures live in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sharefab.storage.models import Organization, Resource, Site
from storage.helpers import MakeResource


@pytest.fixture
def make_resource(session_factory: sessionmaker[Session]) -> MakeResource:
    """Commit an organization, a site and a resource; return the resource id.

    Keyword arguments override ``Resource`` columns (e.g. ``capacity=3``).
    """
    counter = iter(range(1, 10_000))

    def build(**columns: object) -> int:
        n = next(counter)
        with session_factory() as session, session.begin():
            org = Organization(name=f"Org {n}", roles=["provider"])
            site = Site(organization=org, name=f"Plant {n}", lat=31.3, lon=120.6)
            values: dict[str, object] = {
                "name": f"Mill {n}",
                "kind": "machine",
                "category": "manufacturing",
                "hourly_rate_minor": 15_000,
                "currency": "CNY",
            }
            values.update(columns)
            resource = Resource(organization=org, site=site, **values)
            session.add(resource)
            session.flush()
            return resource.id

    return build
