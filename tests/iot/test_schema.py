"""The telemetry message schema: what is accepted, and the reasons given for what is not."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sharefab.iot.schema import MachineState, Rejection, TelemetryMessage, parse_payload


def _msg(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "schema_version": 1,
        "resource_id": 7,
        "message_id": 42,
        "ts": "2026-11-21T08:00:00+08:00",
        "state": "running",
        "cycle_count": 10,
        "run_seconds": 3600.0,
        "spindle_seconds": 3000.5,
        "energy_wh": 1250.0,
    }
    base.update(over)
    return base


def test_valid_message_is_parsed_with_aware_utc_time() -> None:
    good, bad = parse_payload(json.dumps(_msg(alarms=[{"code": "E17"}])).encode())
    assert bad == []
    (m,) = good
    assert isinstance(m, TelemetryMessage)
    assert m.state is MachineState.RUNNING
    assert m.ts.astimezone(UTC) == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert m.alarms[0].code == "E17" and m.alarms[0].severity == "warning"


def test_array_payload_keeps_good_messages_and_rejects_bad_ones() -> None:
    payload = json.dumps([_msg(message_id=1), _msg(message_id=2, state="exploded"), 5])
    good, bad = parse_payload(payload)
    assert [m.message_id for m in good] == [1]
    assert len(bad) == 2
    assert "state" in bad[0].reason and bad[0].message_id == 2 and bad[0].resource_id == 7
    assert "expected a JSON object" in bad[1].reason


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"cycle_count": -1}, "cycle_count"),
        ({"energy_wh": -0.5}, "energy_wh"),
        ({"ts": "2026-11-21T08:00:00"}, "ts"),
        ({"state": "sleeping"}, "state"),
        ({"message_id": "12"}, "message_id"),
        ({"resource_id": 0}, "resource_id"),
        ({"extra_field": 1}, "extra_field"),
        ({"alarms": [{"severity": "critical"}]}, "alarms.0.code"),
        ({"alarms": [{"code": "E1", "message": "nul\u0000byte"}]}, "alarms.0.message"),
    ],
)
def test_bad_field_is_named_in_the_reason(override: dict[str, object], field: str) -> None:
    raw = json.dumps(_msg(**override))
    good, bad = parse_payload(raw)
    assert good == []
    (rej,) = bad
    assert isinstance(rej, Rejection)
    assert rej.reason.startswith(f"{field}:") or f"; {field}:" in rej.reason
    assert rej.raw == raw


def test_missing_counters_are_all_listed() -> None:
    msg = _msg()
    del msg["run_seconds"], msg["energy_wh"]
    _, (rej,) = parse_payload(json.dumps(msg))
    assert "run_seconds: Field required" in rej.reason
    assert "energy_wh: Field required" in rej.reason


def test_unsupported_schema_version_and_garbage_are_rejected_with_reason() -> None:
    _, (rej,) = parse_payload(json.dumps(_msg(schema_version=2)))
    assert rej.reason == "schema_version: unsupported version 2 (expected 1)"
    _, (garbage,) = parse_payload(b"\xff\xfenot json")
    assert garbage.reason.startswith("payload: not valid JSON")
    _, (empty,) = parse_payload(b"[]")
    assert empty.reason == "payload: empty array"
