"""Per-device authentication on a real Mosquitto with the generated password file and ACL:
a device publishes only to its own topic, a wrong secret is refused, and a revoked
credential stops working once the broker reloads its configuration."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
from pathlib import Path

import pytest
from gmqtt import Client, MQTTConnectError
from gmqtt.mqtt.constants import MQTTv50
from sqlalchemy.orm import Session, sessionmaker

from sharefab.iot.devices import BrokerConfig, issue_credential, revoke_all, write_broker_files
from sharefab.iot.mqtt import telemetry_topic
from sharefab.iot.simulator import MqttPublisher

from .conftest import MakeResources
from .mqtt_helpers import MosquittoProcess, free_port, wait_for

pytestmark = pytest.mark.mqtt
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_devices_publish_only_to_their_own_topic(
    tmp_path: Path, session_factory: sessionmaker[Session], make_resources: MakeResources
) -> None:
    try:
        broker = MosquittoProcess(tmp_path / "probe")  # only to locate the binary
    except FileNotFoundError:
        if os.environ.get("SHAREFAB_REQUIRE_SERVICES", "") not in ("", "0", "false"):
            pytest.fail("the mosquitto binary is required (SHAREFAB_REQUIRE_SERVICES=1)")
        pytest.skip("mosquitto binary not installed")
    a, b = make_resources(2)
    with session_factory() as session:
        cred_a = issue_credential(session, a, rotate=False)
        issue_credential(session, b, rotate=False)
    port = free_port()
    cfg = BrokerConfig(
        port=port, persistence_dir=str(tmp_path / "data"), user=getpass.getuser(), auth=True
    )
    (tmp_path / "data").mkdir()

    def write_config() -> Path:
        with session_factory() as session:
            files = write_broker_files(
                tmp_path / "conf", cfg, session=session, ingest_password="ingest-secret"
            )
        return files["conf"]

    broker.conf = write_config()
    broker.port = port
    broker.start()
    received: list[str] = []

    async def scenario() -> None:
        sub = Client("auth-test-ingest")
        sub.set_auth_credentials("sharefab-ingest", "ingest-secret")
        sub.on_message = lambda _c, topic, *_: received.append(topic) or 0
        await sub.connect("127.0.0.1", port, version=MQTTv50)
        sub.subscribe("sharefab/v1/telemetry/+", qos=1)
        await asyncio.sleep(0.3)

        device = MqttPublisher(
            "127.0.0.1",
            port,
            client_id="device-a",
            username=str(a),
            password=cred_a.secret,
            persistent=False,
        )
        await device.connect()
        await device.publish(telemetry_topic(a), b"{}", (a, 1))
        await device.publish(telemetry_topic(b), b"{}", (b, 1))  # not its topic
        await device.drain(5)
        assert await wait_for(lambda: telemetry_topic(a) in received, timeout=5)
        await asyncio.sleep(0.3)
        await device.disconnect()
        assert received == [telemetry_topic(a)]

        impostor = Client("device-a-impostor")
        impostor.set_auth_credentials(str(a), "wrong-secret")
        with pytest.raises(MQTTConnectError):
            await impostor.connect("127.0.0.1", port, version=MQTTv50)
        with contextlib.suppress(Exception):
            await impostor.disconnect()

        with session_factory() as session:
            revoke_all(session, a)
        write_config()
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGHUP)  # mosquitto reloads password file and ACL
        await asyncio.sleep(0.5)
        revoked = Client("device-a-revoked")
        revoked.set_auth_credentials(str(a), cred_a.secret)
        with pytest.raises(MQTTConnectError):
            await revoked.connect("127.0.0.1", port, version=MQTTv50)
        with contextlib.suppress(Exception):
            await revoked.disconnect()
        await sub.disconnect()

    try:
        asyncio.run(scenario())
    finally:
        broker.stop()
