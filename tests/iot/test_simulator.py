"""The device simulator: numbered messages, valid schema, states that follow the bookings."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.api.app import create_app
from sharefab.config import Settings
from sharefab.iot.devices import issue_credential
from sharefab.iot.schema import parse_payload
from sharefab.iot.simulator import SETUP_S, Fleet, SimulatedMachine, publish_http
from sharefab.storage.telemetry_models import Telemetry

from .conftest import MakeResources

T0 = datetime(2026, 11, 2, 6, tzinfo=UTC)


def test_messages_are_numbered_valid_and_counters_only_grow() -> None:
    fleet = Fleet.of([1, 2, 3], seed=7, start_message_id=100)
    msgs = [fleet.next(T0 + timedelta(seconds=i))[1] for i in range(300)]
    good, bad = parse_payload(json.dumps(msgs))
    assert bad == [] and len(good) == 300
    for rid in (1, 2, 3):
        mine = [m for m in good if m.resource_id == rid]
        assert [m.message_id for m in mine] == list(range(100, 200))
        for a, b in itertools.pairwise(mine):
            assert b.cycle_count >= a.cycle_count and b.energy_wh >= a.energy_wh
            assert b.run_seconds >= a.run_seconds


def test_states_follow_the_bookings() -> None:
    booking = (T0 + timedelta(hours=2), T0 + timedelta(hours=6))
    machine = SimulatedMachine(5, bookings=[booking])
    rng = random.Random(3)
    states = {}
    for minute in range(0, 8 * 60, 5):
        ts = T0 + timedelta(minutes=minute)
        states[ts] = machine.advance(ts, rng)["state"]
    before = [s for ts, s in states.items() if ts < booking[0]]
    setup = [
        s for ts, s in states.items() if booking[0] <= ts < booking[0] + timedelta(seconds=SETUP_S)
    ]
    inside = [
        s for ts, s in states.items() if booking[0] + timedelta(seconds=SETUP_S) <= ts < booking[1]
    ]
    after = [s for ts, s in states.items() if ts >= booking[1]]
    assert set(before) <= {"idle", "maintenance"} and before.count("idle") >= len(before) - 1
    assert setup and set(setup) == {"setup"}
    assert inside.count("running") >= len(inside) - 6  # rare short stops are allowed
    assert set(after) <= {"idle", "maintenance", "down"}
    # run time accrues only while running: at most the booked time after setup
    assert machine.run_seconds <= (booking[1] - booking[0]).total_seconds() - SETUP_S + 300
    assert machine.run_seconds > 0


def test_http_transport_posts_batches_with_each_device_token(
    db_url: str, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    rids = make_resources(2)
    with session_factory() as session:
        tokens = {r: issue_credential(session, r, rotate=False).token for r in rids}
    settings = Settings(env="test", database_url=db_url, secret_key="sim-tests-" + "k" * 32)
    app = create_app(settings)
    fleet = Fleet.of(rids, seed=2)
    report = asyncio.run(
        publish_http(
            fleet,
            "http://sharefab.test",
            tokens,
            rate=0,
            count=250,
            batch=100,
            transport=httpx.ASGITransport(app=app),
        )
    )
    app.state.engine.dispose()
    assert (report.sent, report.acked) == (250, 250)
    with session_factory() as session:
        stored = session.execute(
            select(Telemetry.resource_id, func.count()).group_by(Telemetry.resource_id)
        ).all()
    assert sorted(n for _, n in stored) == [100, 150]  # batches alternate between machines
