"""Utilisation from bookings and telemetry, idle stretches and publishing them as windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.domain.calendar import Interval
from sharefab.iot.ingest import TelemetryWriter
from sharefab.iot.schema import parse_payload
from sharefab.iot.utilisation import idle_suggestions, publish_suggestions, utilisation
from sharefab.services.errors import InvalidInput, NotFound
from sharefab.storage.bookings import insert_booking
from sharefab.storage.models import CalendarWindow, Resource, ResourceCapability, User

from .conftest import MakeResources, telemetry


def at(h: int, m: int = 0, day: int = 2) -> datetime:
    return datetime(2026, 11, day, h, m, tzinfo=UTC)


def _owner(session: Session, rid: int, role: str = "admin") -> User:
    org_id = session.get(Resource, rid).org_id  # type: ignore[union-attr]
    return User(org_id=org_id, email="o@x.example", password_hash="x", role=role)


def test_booked_and_running_utilisation(
    engine: Engine, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    (rid,) = make_resources(1)
    states = [
        (at(10), "running"),
        (at(10, 5), "running"),
        (at(10, 10), "idle"),
        (at(10, 30), "running"),
    ]  # the last one holds 10 minutes at most
    msgs = [telemetry(rid, i, ts=ts, state=s) for i, (ts, s) in enumerate(states, start=1)]
    good, _ = parse_payload(json.dumps(msgs))
    TelemetryWriter(engine).write(good)
    with session_factory() as session, session.begin():
        insert_booking(session, rid, at(10), at(10, 30))
        insert_booking(session, rid, at(10, 30), at(10, 45), status="cancelled")
        insert_booking(session, rid, at(10, 45), at(11, 15))
    with session_factory() as session:
        report = utilisation(session, _owner(session, rid), "resource", str(rid), at(10), at(11))
    (row,) = report.resources
    assert row.booked_seconds == 45 * 60 and row.booked_ratio == pytest.approx(0.75)
    assert row.running_seconds == 20 * 60 and row.running_ratio == pytest.approx(1 / 3)
    assert row.idle_unbooked_seconds == 15 * 60


def test_aggregates_by_capability_with_subsumption_and_capacity(
    session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    mill, lathe = make_resources(2, capacity=2)
    with session_factory() as session, session.begin():
        session.add(ResourceCapability(resource_id=mill, code="separating.machining.milling.5axis"))
        session.add(ResourceCapability(resource_id=lathe, code="separating.machining.turning"))
        insert_booking(session, mill, at(8), at(12))  # unit 0
        insert_booking(session, mill, at(8), at(10))  # unit 1
        insert_booking(session, lathe, at(8), at(16))
    with session_factory() as session:
        owner = _owner(session, mill)
        milling = utilisation(
            session, owner, "capability", "separating.machining.milling", at(8), at(16)
        )
        machining = utilisation(session, owner, "capability", "separating.machining", at(8), at(16))
        org = utilisation(session, owner, "organization", "", at(8), at(16))
        stranger = User(org_id=owner.org_id + 1000, email="s@x.example", password_hash="x")
        other = utilisation(session, stranger, "organization", "", at(8), at(16))
        with pytest.raises(NotFound):
            utilisation(session, stranger, "resource", str(mill), at(8), at(16))
        with pytest.raises(InvalidInput):
            utilisation(session, owner, "resource", str(mill), at(16), at(8))
    assert [r.resource_id for r in milling.resources] == [mill]
    assert milling.booked_ratio == pytest.approx(6 / 16)  # 6 unit-hours of 2 x 8
    assert {r.resource_id for r in machining.resources} == {mill, lathe}
    assert machining.booked_ratio == pytest.approx((6 + 8) / 32)
    assert len(org.resources) == 2 and other.resources == []


def test_idle_stretches_are_suggested_and_published_once(
    session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    (rid,) = make_resources(1)
    with session_factory() as session, session.begin():
        insert_booking(session, rid, at(8, 30), at(12, 15))
        insert_booking(session, rid, at(14), at(15))
        session.add(CalendarWindow(resource_id=rid, start_at=at(20), end_at=at(22)))
    day = (at(0), at(0) + timedelta(days=1))
    with session_factory() as session:
        owner = _owner(session, rid)
        found = idle_suggestions(session, owner, rid, *day, min_hours=4)
        assert found == [Interval(at(0), at(8)), Interval(at(15), at(20))]
        published = publish_suggestions(session, owner, rid, *day, min_hours=4)
        assert [(w.start_at, w.end_at, w.source) for w in published] == [
            (at(0), at(8), "suggestion"),
            (at(15), at(20), "suggestion"),
        ]
        assert publish_suggestions(session, owner, rid, *day, min_hours=4) == []
        assert idle_suggestions(session, owner, rid, *day, min_hours=1) == [
            Interval(at(13), at(14)),
            Interval(at(22), at(0, day=3)),
        ]
    with session_factory() as session:
        windows = session.scalars(
            select(CalendarWindow).where(CalendarWindow.resource_id == rid)
        ).all()
    assert len(windows) == 3
