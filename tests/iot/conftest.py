"""Fixtures of the telemetry tests: organizations with resources, telemetry message factories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sharefab.storage.models import Organization, Resource, Site

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

#: ``make_resources(n, org_name="...", **resource_columns) -> [resource ids]``
MakeResources = Callable[..., list[int]]


@pytest.fixture
def make_resources(session_factory: sessionmaker[Session]) -> MakeResources:
    """Create ``n`` resources of one provider organization (created on first use)."""

    def make(n: int = 1, org_name: str = "Provider Co", **columns: Any) -> list[int]:
        with session_factory() as session, session.begin():
            org = session.query(Organization).filter_by(name=org_name).one_or_none()
            if org is None:
                org = Organization(name=org_name, roles=["provider"])
                session.add(org)
                session.flush()
                session.add(Site(org_id=org.id, name=f"{org_name} plant"))
                session.flush()
            site = session.query(Site).filter_by(org_id=org.id).first()
            assert site is not None
            resources = [
                Resource(org_id=org.id, site_id=site.id, name=f"machine {i}", **columns)
                for i in range(n)
            ]
            session.add_all(resources)
            session.flush()
            return [r.id for r in resources]

    return make


def telemetry(
    resource_id: int,
    message_id: int,
    *,
    ts: datetime | None = None,
    state: str = "running",
    cycle_count: int = 0,
    run_seconds: float = 0.0,
    spindle_seconds: float = 0.0,
    energy_wh: float = 0.0,
    **extra: Any,
) -> dict[str, Any]:
    """A valid telemetry message as a JSON-ready dict (``ts`` defaults to T0 + message_id s)."""
    return {
        "schema_version": 1,
        "resource_id": resource_id,
        "message_id": message_id,
        "ts": (ts or T0 + timedelta(seconds=message_id)).isoformat(),
        "state": state,
        "cycle_count": cycle_count,
        "run_seconds": run_seconds,
        "spindle_seconds": spindle_seconds,
        "energy_wh": energy_wh,
        **extra,
    }
