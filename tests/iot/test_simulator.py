"""The device simulator: numbered messages, valid schema, states that follow the bookings."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta

from sharefab.iot.schema import parse_payload
from sharefab.iot.simulator import SETUP_S, Fleet, SimulatedMachine

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
