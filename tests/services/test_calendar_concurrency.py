"""Two planners publishing overlapping windows at the same moment: exactly one wins.

Found by the QA walk of issue 2: on PostgreSQL (READ COMMITTED) both transactions checked for
overlaps before either inserted, and both windows were stored. The service now locks the
resource row first, so the second writer sees the first one's window.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.services import calendar, resources, sites
from sharefab.services.errors import Conflict
from sharefab.services.orgs import register_organization
from sharefab.storage.models import CalendarWindow, User


def _resource(session_factory: sessionmaker[Session]) -> tuple[int, int]:
    with session_factory() as session:
        _, admin = register_organization(
            session,
            org_name="Race Works",
            roles=["provider"],
            email="race@works.example.com",
            password="long enough",
        )
        site = sites.create_site(session, admin, name="Plant", lat=31.3, lon=120.6)
        resource = resources.create_resource(
            session,
            admin,
            site_id=site.id,
            name="Mill",
            hourly_rate_minor=10000,
            capabilities=[{"code": "separating.machining.milling", "attributes": {}}],
        )
        return admin.id, resource.id


def test_concurrent_overlapping_windows_store_only_one(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, resource_id = _resource(session_factory)
    checked = threading.Barrier(2)
    overlapping = calendar._overlapping

    def check_then_wait(*args: object, **kwargs: object) -> list[int]:
        # Hold each writer between its overlap check and its insert until the other writer
        # has checked too (the race); a writer that is kept out by the lock never arrives.
        found = overlapping(*args, **kwargs)  # type: ignore[arg-type]
        with contextlib.suppress(threading.BrokenBarrierError):
            checked.wait(timeout=1)
        return found

    monkeypatch.setattr(calendar, "_overlapping", check_then_wait)
    outcomes: list[str] = []

    def publish(hours: int) -> None:
        with session_factory() as session:
            user = session.get(User, user_id)
            assert user is not None
            try:
                calendar.add_window(
                    session,
                    user,
                    resource_id,
                    datetime(2027, 3, 1, 0, tzinfo=UTC),
                    datetime(2027, 3, 1, hours, tzinfo=UTC),
                )
                outcomes.append("created")
            except Conflict:
                outcomes.append("conflict")

    writers = [threading.Thread(target=publish, args=(h,)) for h in (4, 6)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert sorted(outcomes) == ["conflict", "created"]
    with session_factory() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(CalendarWindow)
            .where(CalendarWindow.resource_id == resource_id)
        )
    assert stored == 1
