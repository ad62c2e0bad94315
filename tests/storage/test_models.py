"""The database refuses out-of-bounds rows, keeps UTC instants, and honours relations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from sharefab.storage.models import (
    Booking,
    CalendarRule,
    CalendarWindow,
    Organization,
    Resource,
    ResourceCapability,
    User,
)
from storage.helpers import MakeResource, at

Factory = sessionmaker[Session]
SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("hourly_rate_minor", -1, "hourly_rate_nonneg"),
        ("setup_cost_minor", -500, "setup_cost_nonneg"),
        ("capacity", 0, "capacity_positive"),
        ("speed_factor", 0.0, "speed_factor_positive"),
        ("speed_factor", -1.5, "speed_factor_positive"),
        ("kind", "spaceship", "kind"),
        ("category", "fun", "category"),
    ],
)
def test_resource_bounds_are_enforced_by_the_database(
    session_factory: Factory, make_resource: MakeResource, column: str, value: Any, constraint: str
) -> None:
    rid = make_resource()
    with session_factory() as session:
        resource = session.get_one(Resource, rid)
        setattr(resource, column, value)
        with pytest.raises(IntegrityError, match=constraint):
            session.commit()
        session.rollback()
        assert getattr(session.get_one(Resource, rid), column) != value


def test_currency_must_be_three_upper_case_letters(
    session_factory: Factory, make_resource: MakeResource, engine: Engine
) -> None:
    rid = make_resource(currency="usd")
    with session_factory() as session:
        assert session.get_one(Resource, rid).currency == "USD"
    for bad in ("EU", "Eur"):
        with pytest.raises(IntegrityError, match="currency"), engine.begin() as conn:
            update = text("UPDATE resources SET currency = :c WHERE id = :id")
            conn.execute(update, {"c": bad, "id": rid})


def test_window_and_booking_must_end_after_they_start(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource()
    for row in (
        CalendarWindow(resource_id=rid, start_at=at(10), end_at=at(8)),
        CalendarWindow(resource_id=rid, start_at=at(10), end_at=at(10)),
        Booking(resource_id=rid, start_at=at(10), end_at=at(9)),
    ):
        with session_factory() as session:
            session.add(row)
            with pytest.raises(IntegrityError, match="end_after_start"):
                session.commit()
    with session_factory() as session:
        assert session.scalars(select(CalendarWindow)).all() == []


def test_negative_unit_and_unknown_status_are_refused(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource()
    for row, constraint in (
        (Booking(resource_id=rid, unit=-1, start_at=at(8), end_at=at(9)), "unit_nonneg"),
        (Booking(resource_id=rid, start_at=at(8), end_at=at(9), status="maybe"), "status"),
    ):
        with session_factory() as session:
            session.add(row)
            with pytest.raises(IntegrityError, match=constraint):
                session.commit()


def test_datetimes_round_trip_as_aware_utc(
    session_factory: Factory, make_resource: MakeResource, engine: Engine
) -> None:
    rid = make_resource()
    local_start = datetime(2026, 3, 2, 8, 0, tzinfo=SHANGHAI)  # 00:00 UTC
    with session_factory() as session, session.begin():
        window = CalendarWindow(
            resource_id=rid, start_at=local_start, end_at=local_start + timedelta(hours=10)
        )
        session.add(window)
    with session_factory() as session:
        stored = session.get_one(CalendarWindow, window.id)
        assert stored.start_at == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
        assert stored.start_at.utcoffset() == timedelta(0)
        assert stored.end_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        found = session.scalars(
            select(CalendarWindow).where(
                CalendarWindow.start_at < datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
            )
        ).all()
        assert [w.id for w in found] == [window.id]
        assert session.get_one(Resource, rid).created_at.tzinfo is not None
    with engine.connect() as conn:  # what is physically stored is the UTC instant
        raw = conn.execute(text("SELECT start_at FROM calendar_windows")).scalar_one()
    raw_text = raw if isinstance(raw, str) else raw.astimezone(UTC).isoformat(" ")
    assert raw_text.startswith("2026-03-02 00:00:00")


def test_naive_datetimes_are_refused(session_factory: Factory, make_resource: MakeResource) -> None:
    rid = make_resource()
    with session_factory() as session:
        session.add(
            CalendarWindow(
                resource_id=rid, start_at=datetime(2026, 3, 2, 8), end_at=datetime(2026, 3, 2, 9)
            )
        )
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_user_email_is_stored_lower_case_and_unique(session_factory: Factory) -> None:
    with session_factory() as session, session.begin():
        org = Organization(name="Suzhou Precision", roles=["provider", "buyer"])
        session.add(User(organization=org, email=" Li.Wei@Example.COM ", password_hash="x"))
    with session_factory() as session:
        user = session.scalars(select(User)).one()
        assert user.email == "li.wei@example.com"
        assert user.role == "viewer"
        assert user.organization.roles == ["provider", "buyer"]
        session.add(User(org_id=user.org_id, email="LI.WEI@example.com", password_hash="y"))
        with pytest.raises(IntegrityError, match="email"):
            session.commit()


def test_capability_codes_are_unique_per_resource(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource()
    code = "separating.machining.milling.5axis"
    with session_factory() as session, session.begin():
        session.add(
            ResourceCapability(resource_id=rid, code=code, attributes={"envelope_mm": [500, 400]})
        )
    with session_factory() as session:
        assert session.scalars(select(ResourceCapability.attributes)).one() == {
            "envelope_mm": [500, 400]
        }
        session.add(ResourceCapability(resource_id=rid, code=code, attributes={}))
        unique = r"uq_resource_capabilities_resource_id_code|resource_capabilities\.code"
        with pytest.raises(IntegrityError, match=unique):
            session.commit()


def test_deleting_a_resource_removes_its_calendar_but_not_its_bookings(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    booked, free = make_resource(), make_resource()
    with session_factory() as session, session.begin():
        for rid in (booked, free):
            rule = CalendarRule(
                resource_id=rid,
                weekdays="mon,tue,wed,thu,fri",
                start_time="18:00",
                end_time="06:00",
                timezone="Asia/Shanghai",
                valid_from=date(2026, 3, 1),
                valid_until=date(2027, 3, 31),
            )
            session.add(rule)
            session.add(CalendarWindow(resource_id=rid, start_at=at(8), end_at=at(9), rule=rule))
            session.add(ResourceCapability(resource_id=rid, code="joining.welding", attributes={}))
        session.add(Booking(resource_id=booked, start_at=at(8), end_at=at(9)))

    with session_factory() as session, session.begin():
        session.delete(session.get_one(Resource, free))
    with session_factory() as session:
        assert {w.resource_id for w in session.scalars(select(CalendarWindow))} == {booked}
        assert {r.resource_id for r in session.scalars(select(CalendarRule))} == {booked}
        assert {c.resource_id for c in session.scalars(select(ResourceCapability))} == {booked}

    with session_factory() as session, pytest.raises(IntegrityError):  # bookings are kept
        session.execute(text("DELETE FROM resources WHERE id = :id"), {"id": booked})
        session.commit()
    with session_factory() as session:
        assert session.get(Resource, booked) is not None


def test_calendar_rule_validity_must_not_end_before_it_starts(
    session_factory: Factory, make_resource: MakeResource
) -> None:
    rid = make_resource()
    with session_factory() as session:
        session.add(
            CalendarRule(
                resource_id=rid,
                weekdays="mon",
                start_time="08:00",
                end_time="17:00",
                valid_from=date(2026, 3, 1),
                valid_until=date(2026, 2, 1),
            )
        )
        with pytest.raises(IntegrityError, match="valid_until_after_from"):
            session.commit()
