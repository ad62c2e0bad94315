"""The batching writer on SQLite and PostgreSQL: exactly-once storage, dead letters."""

from __future__ import annotations

import json

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from sharefab.iot.ingest import DeadLetter, TelemetryWriter
from sharefab.iot.mqtt import BrokerAddress, MqttIngester, telemetry_topic
from sharefab.iot.schema import parse_payload
from sharefab.storage.telemetry_models import Telemetry, TelemetryDeadLetter

from .conftest import MakeResources, telemetry


def _parse(*msgs: dict[str, object]) -> list:  # type: ignore[type-arg]
    good, bad = parse_payload(json.dumps(list(msgs)))
    assert bad == []
    return good


def test_same_message_twice_is_stored_once(
    engine: Engine, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    (rid,) = make_resources(1)
    writer = TelemetryWriter(engine)
    first = writer.write(_parse(*(telemetry(rid, i, cycle_count=i) for i in range(1, 51))))
    assert (first.accepted, first.duplicates, first.rejected) == (50, 0, 0)
    # a redelivery of 10 old messages plus 5 new ones, one of them twice in the same batch
    again = [telemetry(rid, i, cycle_count=i) for i in (*range(41, 51), 51, 52, 53, 54, 55, 55)]
    second = writer.write(_parse(*again))
    assert (second.accepted, second.duplicates) == (5, 11)
    with session_factory() as session:
        rows = session.scalars(
            select(Telemetry.message_id).where(Telemetry.resource_id == rid)
        ).all()
    assert sorted(rows) == list(range(1, 56))


def test_two_writers_racing_store_each_message_once(
    engine: Engine, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    rids = make_resources(2)
    msgs = _parse(*(telemetry(r, i) for r in rids for i in range(1, 201)))
    a, b = TelemetryWriter(engine), TelemetryWriter(engine)
    ra, rb = a.write(msgs[:300]), b.write(msgs[100:])
    assert ra.accepted + rb.accepted == 400
    assert ra.duplicates + rb.duplicates == 200
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Telemetry)) == 400


def test_bad_and_unknown_resource_messages_go_to_dead_letter_with_reason(
    engine: Engine, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    (rid,) = make_resources(1)
    raw = json.dumps(telemetry(rid, 1, cycle_count=-5))
    good, bad = parse_payload(raw)
    unknown = _parse(telemetry(rid + 1000, 1))
    result = TelemetryWriter(engine).write(
        [*good, *unknown, *_parse(telemetry(rid, 2))],
        [DeadLetter.of(r, "mqtt", f"sharefab/v1/telemetry/{rid}") for r in bad],
    )
    assert (result.accepted, result.rejected) == (1, 2)
    with session_factory() as session:
        letters = session.scalars(
            select(TelemetryDeadLetter).order_by(TelemetryDeadLetter.id)
        ).all()
    assert [d.source for d in letters] == ["mqtt", "mqtt"]
    assert letters[0].raw == raw and letters[0].reason.startswith("cycle_count:")
    assert letters[0].resource_id == rid and letters[0].message_id == 1
    assert letters[1].reason == f"resource_id: unknown resource {rid + 1000}"


def test_alarms_and_timestamps_round_trip(
    engine: Engine, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    (rid,) = make_resources(1)
    text = 'spindle \\ overload\tat 主轴 "A"\n'
    alarms = [{"code": "E-STOP", "severity": "critical", "message": text}]
    (parsed,) = _parse(telemetry(rid, 7, ts=None, alarms=alarms))
    TelemetryWriter(engine).write([parsed])
    with session_factory() as session:
        row = session.scalars(select(Telemetry)).one()
    assert row.ts == parsed.ts and row.ts.tzinfo is not None
    assert row.alarms == alarms


def test_every_postgres_write_path_deduplicates(
    engine: Engine, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    methods = ("copy", "unnest", "rows") if engine.dialect.name == "postgresql" else ("rows",)
    for method in methods:
        if method == "rows" and engine.dialect.name == "postgresql":
            continue  # the portable path is SQLite's
        (rid,) = make_resources(1, org_name=f"org {method}")
        writer = TelemetryWriter(engine, method=method)  # type: ignore[arg-type]
        msgs = _parse(*(telemetry(rid, i) for i in range(1, 21)))
        assert writer.write(msgs).accepted == 20
        again = writer.write(msgs[5:] + _parse(telemetry(rid, 21)))
        assert (again.accepted, again.duplicates) == (1, 15)
        with session_factory() as session:
            stored = session.scalar(
                select(func.count()).select_from(Telemetry).where(Telemetry.resource_id == rid)
            )
        assert stored == 21


class _PickyWriter(TelemetryWriter):
    """A writer whose database refuses message 13 (as a CHECK or type error would)."""

    def write(self, messages, dead_letters=(), **kwargs):  # type: ignore[no-untyped-def]
        if any(m.message_id == 13 for m in messages):
            raise DataError("INSERT", {}, ValueError("value out of range for message 13"))
        return super().write(messages, dead_letters, **kwargs)


def test_a_message_the_database_refuses_is_isolated_and_dead_lettered(
    engine: Engine, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    (rid,) = make_resources(1)
    ingester = MqttIngester(_PickyWriter(engine), BrokerAddress())
    topic = telemetry_topic(rid)
    items = [(topic, json.dumps(telemetry(rid, i)).encode()) for i in range(1, 41)]
    result = ingester._process(items)
    assert (result.accepted, result.rejected) == (39, 1)
    with session_factory() as session:
        stored = session.scalar(select(func.count()).select_from(Telemetry))
        (letter,) = session.scalars(select(TelemetryDeadLetter)).all()
    assert stored == 39
    assert letter.reason == "database refused the message: value out of range for message 13"
    assert json.loads(letter.raw)["message_id"] == 13 and letter.topic == topic
