"""The MQTT ingester inside the web server (``sharefab serve --ingest`` or
``SHAREFAB_MQTT_INGEST=1``), against the real Mosquitto on 127.0.0.1:1883: it starts with the
server, stores what devices publish while the API keeps answering, and stops cleanly with the
server (last batch committed and acknowledged); its persistent session keeps what is
published while the server is down."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.api.app import create_app
from sharefab.config import Settings
from sharefab.iot.mqtt import TOPIC_FILTER, telemetry_topic
from sharefab.iot.serve import EmbeddedIngest, install_mqtt_ingest
from sharefab.iot.simulator import MqttPublisher
from sharefab.storage.telemetry_models import Telemetry

from .conftest import MakeResources, telemetry
from .mqtt_helpers import PG_ONLY, free_port

pytestmark = pytest.mark.mqtt


def _stored(session_factory: sessionmaker[Session], rid: int) -> list[int]:
    with session_factory() as session:
        return sorted(
            session.scalars(select(Telemetry.message_id).where(Telemetry.resource_id == rid))
        )


def _until(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


async def _publish(host: str, port: int, rid: int, ids: range) -> None:
    pub = MqttPublisher(host, port, client_id=f"test-pub-{uuid.uuid4().hex[:8]}", persistent=False)
    await pub.connect()
    for i in ids:
        payload = json.dumps(telemetry(rid, i, cycle_count=i)).encode()
        await pub.publish(telemetry_topic(rid), payload, (rid, i))
    assert await pub.drain(15)
    await pub.disconnect()


async def _session(host: str, port: int, client_id: str, *, keep: bool) -> None:
    """Create the client's persistent subscription (``keep``) or end its session."""
    client = Client(client_id, clean_session=not keep, session_expiry_interval=60 if keep else 0)
    await client.connect(host, port, version=MQTTv50)
    if keep:
        client.subscribe(TOPIC_FILTER, qos=1)
        await asyncio.sleep(0.3)  # SUBACK
    await client.disconnect()


@pytest.fixture
def client_id(mqtt_broker: tuple[str, int]) -> Iterator[str]:
    """A fresh ingester client id whose broker session is ended after the test."""
    cid = f"test-serve-{uuid.uuid4().hex[:8]}"
    yield cid
    asyncio.run(_session(*mqtt_broker, cid, keep=False))


def test_ingester_runs_in_the_app_lifespan_and_stops_cleanly(
    db_url: str,
    mqtt_broker: tuple[str, int],
    session_factory: sessionmaker[Session],
    make_resources: MakeResources,
    client_id: str,
) -> None:
    host, port = mqtt_broker
    (rid,) = make_resources(1)
    settings = Settings(env="test", database_url=db_url, secret_key="serve-ingest-" + "k" * 32)
    app = create_app(settings)
    ingester = install_mqtt_ingest(
        app,
        EmbeddedIngest(f"mqtt://{host}:{port}", client_id=client_id, session_expiry=60),
    )
    assert app.state.mqtt_ingester is ingester
    with TestClient(app) as http:
        assert _until(ingester.connected.is_set), "the ingester did not connect"
        time.sleep(0.3)  # SUBACK
        asyncio.run(_publish(host, port, rid, range(1, 201)))
        assert _until(lambda: len(_stored(session_factory, rid)) == 200), ingester.stats
        # the API keeps answering while the ingester runs in the same process
        assert http.get("/api/v1/health").status_code == 200
    # the lifespan stopped it: disconnected, every received message committed
    assert not ingester.connected.is_set()
    assert ingester.stats.received == ingester.stats.accepted == 200
    assert _stored(session_factory, rid) == list(range(1, 201))


def _serve(db_url: str, http_port: int, mqtt_url: str, client_id: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SHAREFAB_MQTT_INGEST": "1", "SHAREFAB_MQTT_URL": mqtt_url}
    cmd = [sys.executable, "-m", "sharefab", "serve", "--db", db_url, "--port", str(http_port)]
    cmd += ["--ingest-client-id", client_id, "--no-webhooks"]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _healthy(http_port: int) -> bool:
    try:
        return (
            httpx.get(f"http://127.0.0.1:{http_port}/api/v1/health", timeout=1).status_code == 200
        )
    except httpx.HTTPError:
        return False


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM and wait; the shutdown must be clean (uvicorn finishes the lifespan, then
    exits by the signal it caught, so the status is 0 or -SIGTERM, never a crash)."""
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out and "Traceback" not in out, out
    return out


@PG_ONLY
def test_sharefab_serve_with_mqtt_ingest_setting_stores_telemetry_across_restarts(
    db_url: str,
    mqtt_broker: tuple[str, int],
    session_factory: sessionmaker[Session],
    make_resources: MakeResources,
    client_id: str,
) -> None:
    host, port = mqtt_broker
    mqtt_url = f"mqtt://{host}:{port}"
    (rid,) = make_resources(1)
    # The server's session exists before it starts (as after an earlier run): what devices
    # publish while the server is down waits in the broker.
    asyncio.run(_session(host, port, client_id, keep=True))
    asyncio.run(_publish(host, port, rid, range(1, 101)))

    http_port = free_port()
    proc = _serve(db_url, http_port, mqtt_url, client_id)
    try:
        assert _until(lambda: _healthy(http_port) or proc.poll() is not None, 60)
        assert proc.poll() is None, proc.communicate()[0]
        assert _until(lambda: len(_stored(session_factory, rid)) == 100)
        asyncio.run(_publish(host, port, rid, range(101, 201)))  # while it runs
        assert _until(lambda: len(_stored(session_factory, rid)) == 200)
    finally:
        out = _stop(proc)
    assert f"MQTT ingest: {TOPIC_FILTER}" in out
    assert "MQTT ingest stopped: received 200, stored 200, duplicates 0, rejected 0" in out, out

    # Published while the server is stopped: stored after it starts again.
    asyncio.run(_publish(host, port, rid, range(201, 301)))
    proc = _serve(db_url, http_port, mqtt_url, client_id)
    try:
        assert _until(lambda: len(_stored(session_factory, rid)) == 300, 60)
    finally:
        out = _stop(proc)
    assert "MQTT ingest stopped: received 100, stored 100" in out, out
    assert _stored(session_factory, rid) == list(range(1, 301))
