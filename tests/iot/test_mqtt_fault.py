"""Fault test: a private Mosquitto is stopped and restarted, then the ingester is killed and
restarted, while numbered messages stream in. Every message the broker acknowledged to the
publisher must end up stored exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.iot.mqtt import telemetry_topic
from sharefab.iot.simulator import MqttPublisher
from sharefab.storage.telemetry_models import Telemetry, TelemetryDeadLetter

from .conftest import MakeResources, telemetry
from .mqtt_helpers import PG_ONLY, MosquittoProcess, wait_for

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
REQUIRE_SERVICES = os.environ.get("SHAREFAB_REQUIRE_SERVICES", "") not in ("", "0", "false")


def _mosquitto(tmp_path: Path) -> MosquittoProcess:
    if shutil.which("mosquitto") is None and not os.path.exists("/usr/sbin/mosquitto"):
        if REQUIRE_SERVICES:
            pytest.fail("the mosquitto binary is required (SHAREFAB_REQUIRE_SERVICES=1)")
        pytest.skip("mosquitto binary not installed")
    return MosquittoProcess(tmp_path / "broker", autosave_interval=1)


def _start_ingester(db_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "sharefab",
        "ingest",
        "--db",
        db_url,
        "--mqtt-url",
        f"mqtt://127.0.0.1:{port}",
        "--client-id",
        "fault-test-ingest",
        "--batch-size",
        "50",
        "--max-delay",
        "0.05",
        "--stats-every",
        "1",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


@PG_ONLY
def test_acknowledged_messages_survive_broker_restart_and_ingester_crash(
    tmp_path: Path,
    db_url: str,
    engine: Engine,
    session_factory: sessionmaker[Session],
    make_resources: MakeResources,
) -> None:
    broker = _mosquitto(tmp_path)
    broker.start()
    (rid,) = make_resources(1)
    log = tmp_path / "ingest.log"
    ingester = _start_ingester(db_url, broker.port, log)

    def stored() -> int:
        with session_factory() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(Telemetry).where(Telemetry.resource_id == rid)
                )
                or 0
            )

    async def stream(pub: MqttPublisher, first: int, last: int, rate: float) -> None:
        for i in range(first, last + 1):
            payload = json.dumps(telemetry(rid, i, cycle_count=i)).encode()
            await pub.publish(telemetry_topic(rid), payload, (rid, i))
            await asyncio.sleep(1 / rate)

    async def scenario() -> set[tuple[int, int]]:
        nonlocal ingester
        pub = MqttPublisher("127.0.0.1", broker.port, client_id="fault-test-pub", persistent=True)
        await pub.connect()
        # message 1, repeated until stored, proves the ingester is subscribed
        for _ in range(60):
            await stream(pub, 1, 1, 1000)
            if await wait_for(lambda: stored() == 1, timeout=0.5):
                break
        assert stored() == 1, log.read_text()
        await stream(pub, 2, 300, 1000)
        broker.stop(signal.SIGTERM)  # clean stop: the broker saves sessions and queues
        await asyncio.sleep(0.3)
        broker.start()
        await stream(pub, 301, 600, 1000)
        ingester.kill()  # a crash: whatever it had not committed was not acknowledged
        ingester.wait()
        await stream(pub, 601, 800, 1000)
        ingester = _start_ingester(db_url, broker.port, log)
        await stream(pub, 801, 1000, 1000)
        assert await pub.drain(20), f"{pub.in_flight} messages never acknowledged"
        acked = set(pub.acked)
        await pub.disconnect()
        assert await wait_for(lambda: stored() >= len(acked), timeout=30), log.read_text()
        return acked

    try:
        acked = asyncio.run(scenario())
    finally:
        ingester.send_signal(signal.SIGTERM)
        try:
            ingester.wait(timeout=10)
        except subprocess.TimeoutExpired:
            ingester.kill()
        broker.stop()

    assert len(acked) == 1000  # the publisher resent what the outage left unacknowledged
    with session_factory() as session:
        rows = session.execute(
            select(Telemetry.message_id, Telemetry.cycle_count).where(Telemetry.resource_id == rid)
        ).all()
        dead = session.scalar(select(func.count()).select_from(TelemetryDeadLetter))
    ids = [m for m, _ in rows]
    assert len(ids) == len(set(ids))  # exactly once
    assert {(rid, m) for m in ids} >= acked  # every acknowledged message is stored
    assert all(c == m for m, c in rows)
    assert dead == 0
