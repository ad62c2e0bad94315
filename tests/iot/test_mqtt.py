"""MQTT ingest against the real Mosquitto on 127.0.0.1:1883 into PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import random
import uuid

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.iot.ingest import TelemetryWriter
from sharefab.iot.mqtt import BrokerAddress, MqttIngester, telemetry_topic
from sharefab.iot.simulator import MqttPublisher
from sharefab.storage.telemetry_models import SecurityEvent, Telemetry, TelemetryDeadLetter

from .conftest import MakeResources, telemetry
from .mqtt_helpers import PG_ONLY, wait_for

pytestmark = pytest.mark.mqtt


def _stored(session_factory: sessionmaker[Session], rid: int) -> dict[int, int]:
    with session_factory() as session:
        rows = session.execute(
            select(Telemetry.message_id, Telemetry.cycle_count).where(Telemetry.resource_id == rid)
        ).all()
    return {m: c for m, c in rows}


@PG_ONLY
@pytest.mark.parametrize("direct_ack", [True, False], ids=["direct-ack", "coroutine-ack"])
def test_numbered_messages_over_mqtt_are_stored_exactly_once(
    direct_ack: bool,
    mqtt_broker: tuple[str, int],
    engine: Engine,
    session_factory: sessionmaker[Session],
    make_resources: MakeResources,
) -> None:
    host, port = mqtt_broker
    rids = make_resources(3)
    marker = random.randrange(10**6, 10**9)  # tells our rows from anybody else's
    n_each = 300
    tag = uuid.uuid4().hex[:8]

    async def scenario() -> MqttIngester:
        ingester = MqttIngester(
            TelemetryWriter(engine),
            BrokerAddress(host, port),
            client_id=f"test-ingest-{tag}",
            batch_size=100,
            session_expiry=30,
            direct_ack=direct_ack,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(ingester.run(stop))
        await asyncio.wait_for(ingester.connected.wait(), 10)
        await asyncio.sleep(0.3)  # SUBACK
        pub = MqttPublisher(host, port, client_id=f"test-pub-{tag}", persistent=False)
        await pub.connect()
        for i in range(1, n_each + 1):
            for rid in rids:
                msg = telemetry(rid, i, cycle_count=marker + i)
                await pub.publish(telemetry_topic(rid), json.dumps(msg).encode(), (rid, i))
        # a redelivery: the first 20 messages of the first machine once more
        for i in range(1, 21):
            msg = telemetry(rids[0], i, cycle_count=marker + i)
            await pub.publish(telemetry_topic(rids[0]), json.dumps(msg).encode(), (0, i))
        assert await pub.drain(15)
        await pub.disconnect()
        expected = 3 * n_each + 20
        assert await wait_for(
            lambda: ingester.stats.accepted + ingester.stats.duplicates >= expected
        ), ingester.stats
        stop.set()
        await task
        return ingester

    ingester = asyncio.run(scenario())
    for rid in rids:
        assert _stored(session_factory, rid) == {i: marker + i for i in range(1, n_each + 1)}
    assert ingester.stats.accepted == 3 * n_each
    assert ingester.stats.duplicates == 20


@PG_ONLY
def test_payload_for_another_resource_and_garbage_are_dead_lettered(
    mqtt_broker: tuple[str, int],
    engine: Engine,
    session_factory: sessionmaker[Session],
    make_resources: MakeResources,
) -> None:
    host, port = mqtt_broker
    own, other = make_resources(2)
    tag = uuid.uuid4().hex[:8]

    async def scenario() -> None:
        ingester = MqttIngester(
            TelemetryWriter(engine),
            BrokerAddress(host, port),
            client_id=f"test-ingest-{tag}",
            batch_size=10,
            session_expiry=30,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(ingester.run(stop))
        await asyncio.wait_for(ingester.connected.wait(), 10)
        await asyncio.sleep(0.3)
        pub = MqttPublisher(host, port, client_id=f"test-pub-{tag}", persistent=False)
        await pub.connect()
        spoof = json.dumps(telemetry(other, 1)).encode()
        await pub.publish(telemetry_topic(own), spoof, (other, 1))
        await pub.publish(telemetry_topic(own), b"{not json", (own, 0))
        await pub.publish(telemetry_topic(own), json.dumps(telemetry(own, 1)).encode(), (own, 1))
        assert await pub.drain(10)
        await pub.disconnect()
        assert await wait_for(lambda: ingester.stats.accepted + ingester.stats.rejected >= 3)
        stop.set()
        await task

    asyncio.run(scenario())
    assert set(_stored(session_factory, own)) == {1}
    assert _stored(session_factory, other) == {}
    with session_factory() as session:
        letters = session.scalars(
            select(TelemetryDeadLetter).where(TelemetryDeadLetter.topic == telemetry_topic(own))
        ).all()
        events = session.scalars(select(SecurityEvent)).all()
    reasons = sorted(d.reason for d in letters)
    assert len(reasons) == 2
    assert reasons[0].startswith("payload: not valid JSON")
    assert reasons[1] == (
        f"resource_id: message for resource {other} published on topic '{telemetry_topic(own)}'"
    )
    assert [(e.kind, e.device_resource_id, e.target_resource_id) for e in events] == [
        ("device_wrong_resource", own, other)
    ]
