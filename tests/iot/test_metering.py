"""Metering on a hand-made telemetry stream: counter deltas inside a booking (with a counter
reset), pay-per-use lines at the lease terms, the usage statement and its ledger transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.iot.ingest import TelemetryWriter
from sharefab.iot.metering import (
    counter_usage,
    ledger_transaction,
    meter_booking,
    usage_statement,
)
from sharefab.iot.schema import parse_payload
from sharefab.services.errors import NotFound
from sharefab.storage.bookings import insert_booking
from sharefab.storage.models import Resource, User
from sharefab.storage.telemetry_models import UsageRecord

from .conftest import MakeResources, telemetry

TERMS = {"model": "pay_per_use", "run_hour_minor": 12000, "cycle_minor": 5, "kwh_minor": 90}


def at(h: int, m: int = 0) -> datetime:
    return datetime(2026, 11, 2, h, m, tzinfo=UTC)


# (time, state, run_seconds, cycles, energy_wh, spindle_seconds)
STREAM = [
    (at(9), "idle", 1000.0, 100, 50000.0, 900.0),
    (at(9, 59), "idle", 1000.0, 100, 50000.0, 900.0),  # baseline: last sample before 10:00
    (at(10, 30), "running", 2800.0, 140, 56000.0, 2400.0),
    (at(11), "running", 600.0, 20, 3000.0, 500.0),  # controller replaced: counters reset
    (at(11, 59), "running", 4140.0, 100, 12000.0, 3500.0),
    (at(12, 30), "running", 6000.0, 150, 20000.0, 5000.0),  # after the booking
]


def _load(engine: Engine, rid: int) -> None:
    msgs = [
        telemetry(
            rid,
            i,
            ts=ts,
            state=st,
            run_seconds=run,
            cycle_count=cyc,
            energy_wh=wh,
            spindle_seconds=sp,
        )
        for i, (ts, st, run, cyc, wh, sp) in enumerate(STREAM, start=1)
    ]
    good, bad = parse_payload(json.dumps(msgs))
    assert bad == []
    assert TelemetryWriter(engine).write(good).accepted == len(STREAM)


@pytest.fixture
def metered(
    engine: Engine, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> tuple[int, int]:
    (rid,) = make_resources(1, lease_terms=TERMS, currency="CNY")
    _load(engine, rid)
    with session_factory() as session, session.begin():
        booking = insert_booking(session, rid, at(10), at(12), order_ref="PO-42")
        return rid, booking.id


def test_usage_inside_booking_sums_counter_deltas_across_a_reset(
    metered: tuple[int, int], session_factory: sessionmaker[Session]
) -> None:
    rid, _ = metered
    with session_factory() as session:
        usage = counter_usage(session, rid, at(10), at(12))
    assert usage.run_seconds == pytest.approx(1800 + 600 + 3140 + 400)
    assert usage.cycles == 40 + 20 + 80
    assert usage.energy_wh == pytest.approx(6000 + 3000 + 9000)
    assert usage.spindle_seconds == pytest.approx(1500 + 500 + 3000)
    assert usage.run_hours == Decimal("1.650000")
    assert usage.kwh == Decimal("18.000")


def test_pay_per_use_lines_statement_and_ledger_transaction(
    metered: tuple[int, int], session_factory: sessionmaker[Session]
) -> None:
    rid, booking_id = metered
    with session_factory() as session:
        record = meter_booking(session, None, booking_id)
        lines = {line["metric"]: line for line in record.lines}
        assert lines["run_hours"]["amount_minor"] == 19800  # 1.65 h x 120.00 CNY
        assert lines["cycles"]["amount_minor"] == 700  # 140 x 0.05
        assert lines["kwh"]["amount_minor"] == 1620  # 18 kWh x 0.90
        assert record.amount_minor == 22120 and record.currency == "CNY"
        # metering again refreshes the one record instead of adding another
        meter_booking(session, None, booking_id)
        assert len(session.scalars(select(UsageRecord)).all()) == 1

        owner = session.scalars(select(Resource).where(Resource.id == rid)).one()
        provider = User(org_id=owner.org_id, email="p@x.example", password_hash="x", role="admin")
        statement = usage_statement(session, provider, "PO-42")
        assert statement.totals_minor == {"CNY": 22120}
        tx = ledger_transaction(
            statement, buyer_org=999, provider_org=owner.org_id, platform_fee_bps=300
        )
        assert tx is not None and tx.amount("CNY").amount_minor == 22120
        assert sum(p.amount_minor for p in tx.postings) == 0  # balanced

        stranger = User(org_id=owner.org_id + 1000, email="s@x.example", password_hash="x")
        with pytest.raises(NotFound):
            usage_statement(session, stranger, "PO-42")
        with pytest.raises(NotFound):
            meter_booking(session, stranger, booking_id)


def test_hourly_resource_is_metered_without_charge(
    engine: Engine, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    (rid,) = make_resources(1, lease_terms={"model": "hourly"})
    _load(engine, rid)
    with session_factory() as session, session.begin():
        booking_id = insert_booking(session, rid, at(10), at(12)).id
    with session_factory() as session:
        record = meter_booking(session, None, booking_id)
    assert record.cycles == 140 and record.lines == [] and record.amount_minor == 0
