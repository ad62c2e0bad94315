"""Telemetry ingest: simulator -> Mosquitto (QoS 1) -> ``sharefab ingest`` -> PostgreSQL.

Everything runs as real processes on this machine: a private ``mosquitto`` with the config
``sharefab devices broker-config`` writes (persistence on, no QoS 1 drops), one or two
``sharefab ingest`` processes (PUBACK held until the batch is committed), and
``sharefab devices simulate`` publishers. Measured in the same run:

* **baseline** - raw batched ``COPY`` of the same rows into the same ``telemetry`` table
  (5,000 rows per COPY, one transaction each): the ceiling of this database here;
* **sustained** - simulator(s) publishing as fast as they can while one ingester runs:
  stored messages per second from the first publish until the last row is committed;
* **drain** - the same number of messages queued in the broker while the ingester is
  stopped, then drained by it (the ingester alone, without publishers competing for CPU);
* **scale-out** - two ingesters sharing ``$share/bench/sharefab/v1/telemetry/+``, sustained
  (a backlog queued for an offline shared group is not measured: Mosquitto 2.0.11 delivered
  only half of such a backlog to the reconnecting group members here);
* **client** - the gmqtt subscriber alone (optimistic acknowledgement, no database) against
  paho-mqtt, if paho is installed.

Every rate is printed with its ratio to the COPY baseline. ``SHAREFAB_BENCH_TELEMETRY_N``
sets the messages per run (default 60,000); ``SHAREFAB_BENCH_POSTGRES_URL`` the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

PG_URL = os.environ.get(
    "SHAREFAB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
N = int(os.environ.get("SHAREFAB_BENCH_TELEMETRY_N", "60000"))
RESOURCES = 100
PY = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"broker did not start on port {port}")


@contextlib.contextmanager
def _database() -> Iterator[str]:
    """A fresh database at Alembic head with RESOURCES resources; dropped afterwards."""
    from sharefab.storage.db import make_engine, make_session_factory, upgrade_database
    from sharefab.storage.models import Organization, Resource, Site

    name = f"sfbench_telemetry_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_database(url)
        engine = make_engine(url)
        with make_session_factory(engine)() as session, session.begin():
            org = Organization(name="Bench Co", roles=["provider"])
            session.add(org)
            session.flush()
            site = Site(org_id=org.id, name="bench plant")
            session.add(site)
            session.flush()
            session.add_all(
                Resource(org_id=org.id, site_id=site.id, name=f"m{i}") for i in range(RESOURCES)
            )
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Broker:
    """A private Mosquitto from the shipped config template."""

    def __init__(self, directory: Path) -> None:
        from sharefab.iot.devices import BrokerConfig, write_broker_files

        self.port = _free_port()
        data = directory / "data"
        data.mkdir(parents=True)
        cfg = BrokerConfig(
            port=self.port, persistence_dir=str(data), auth=False, user=getpass.getuser()
        )
        self.conf = write_broker_files(directory, cfg, session=None, ingest_password=None)["conf"]
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_port(self.port)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def _count(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        value = conn.execute(text("SELECT count(*) FROM telemetry")).scalar_one()
    engine.dispose()
    return int(value)


def _truncate(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE telemetry"))
    engine.dispose()


def _ingester(url: str, port: int, client_id: str, group: str | None) -> subprocess.Popen[bytes]:
    cmd = [PY, "-m", "sharefab", "ingest", "--db", url, "--mqtt-url", f"mqtt://127.0.0.1:{port}"]
    cmd += ["--client-id", client_id, "--batch-size", "5000", "--quiet"]
    if group:
        cmd += ["--share-group", group]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _simulators(
    url: str, port: int, count: int, parts: int, per_publish: int = 1
) -> list[subprocess.Popen[bytes]]:
    per = RESOURCES // parts
    procs = []
    for k in range(parts):
        cmd = [PY, "-m", "sharefab", "devices", "simulate", "--db", url]
        cmd += ["--mqtt-url", f"mqtt://127.0.0.1:{port}", "--rate", "0"]
        cmd += ["--resources", str(per), "--offset", str(k * per), "--count", str(count // parts)]
        cmd += ["--max-inflight", "5000", "--seed", str(k + 1), "--per-publish", str(per_publish)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def _wait_rows(url: str, target: int, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _count(url) >= target:
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"only {_count(url)} of {target} rows stored")


def _rate(url: str, target: int) -> float:
    """Rows/s between the first stored row and the ``target``-th (process start-up of the
    simulators and ingesters is excluded: it is not ingest throughput)."""
    first = _wait_rows(url, 1)
    return (target - 1) / (_wait_rows(url, target) - first)


def _subscribed(url: str, port: int, ingesters: int) -> None:
    """Publish probe messages until each ingester has stored some (so all are subscribed)."""
    probes = _simulators(url, port, 200 * ingesters, 1)
    for p in probes:
        p.communicate()
    _wait_rows(url, 1, timeout=60)
    time.sleep(1.0)


def sustained(url: str, port: int, ingesters: int, publishers: int, per_publish: int = 1) -> float:
    """Stored messages/s with publishers and ingesters running together."""
    group = "bench" if ingesters > 1 else None
    procs = [_ingester(url, port, f"bench-ingest-{i}", group) for i in range(ingesters)]
    try:
        _subscribed(url, port, ingesters)
        _truncate(url)
        sims = _simulators(url, port, N, publishers, per_publish)
        rate = _rate(url, N)
        for p in sims:
            p.communicate()
        return rate
    finally:
        _stop(procs)


def drain(url: str, port: int, ingesters: int) -> float:
    """Stored messages/s when the ingesters drain a backlog queued in the broker."""
    group = "bench" if ingesters > 1 else None
    ids = [f"bench-drain-{ingesters}-{i}" for i in range(ingesters)]
    procs = [_ingester(url, port, cid, group) for cid in ids]
    _subscribed(url, port, ingesters)
    _stop(procs)  # sessions and subscriptions stay in the broker
    _truncate(url)
    for p in _simulators(url, port, N, 2):
        p.communicate()
    procs = [_ingester(url, port, cid, group) for cid in ids]
    try:
        return _rate(url, N)
    finally:
        _stop(procs)


def publishers_only(url: str, port: int, publishers: int) -> float:
    """Messages/s the simulator processes publish with nobody subscribed (their own report):
    the ceiling the publishing side puts on the sustained runs on this machine."""
    sims = _simulators(url, port, N, publishers)
    total = 0.0
    for p in sims:
        out, _ = p.communicate()
        total += float(json.loads(out.decode().strip().splitlines()[-1])["rate"])
    return total


def copy_baseline(url: str) -> float:
    """Rows/s of a raw batched COPY (5,000 rows per COPY) of the stored rows."""
    import psycopg

    from sharefab.iot.ingest import _COLS

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(f"SELECT {_COLS} FROM telemetry").fetchall()
        conn.execute("TRUNCATE telemetry")
        conn.commit()
        start = time.perf_counter()
        for i in range(0, len(rows), 5000):
            with conn.cursor() as cur, cur.copy(f"COPY telemetry ({_COLS}) FROM STDIN") as cp:
                for row in rows[i : i + 5000]:
                    cp.write_row(row)
            conn.commit()
        seconds = time.perf_counter() - start
    return len(rows) / seconds


async def _gmqtt_receive(port: int, count: int) -> float:
    from gmqtt import Client
    from gmqtt.mqtt.constants import MQTTv50

    from sharefab.iot.simulator import Fleet, MqttPublisher, publish_mqtt

    got = 0
    done = asyncio.Event()

    def on_message(*_: object) -> int:
        nonlocal got
        got += 1
        if got >= count:
            done.set()
        return 0

    sub = Client(
        f"bench-gmqtt-{uuid.uuid4().hex[:6]}", clean_session=False, session_expiry_interval=600
    )
    sub.on_message = on_message
    await sub.connect("127.0.0.1", port, version=MQTTv50)
    sub.subscribe("sharefab/v1/telemetry/+", qos=1)
    await asyncio.sleep(0.3)
    await sub.disconnect()  # queue the stream in the broker, then measure receiving only
    pub = MqttPublisher(
        "127.0.0.1", port, client_id="bench-client-pub", persistent=False, max_inflight=5000
    )
    await pub.connect()
    await publish_mqtt(Fleet.of(list(range(1, 11))), pub, rate=0, count=count)
    await pub.drain(60)
    await pub.disconnect()
    start = time.perf_counter()
    await sub.connect("127.0.0.1", port, version=MQTTv50)
    await asyncio.wait_for(done.wait(), 120)
    seconds = time.perf_counter() - start
    await sub.disconnect()
    return count / seconds


def main() -> None:
    """Run every measurement and print the table."""
    if shutil.which("mosquitto") is None and not os.path.exists("/usr/sbin/mosquitto"):
        print("mosquitto not installed: telemetry benchmark skipped")
        return
    load = os.getloadavg()[0]
    print(
        f"{N} messages per run, {RESOURCES} simulated machines, load average {load:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    results: list[tuple[str, float]] = []

    def record(name: str, rate: float) -> None:
        results.append((name, rate))
        print(f"  {name}: {rate:,.0f} msg/s", flush=True)

    with tempfile.TemporaryDirectory() as tmp, _database() as url:
        broker = Broker(Path(tmp) / "broker")
        try:
            record("sustained, 1 ingester, 2 simulators", sustained(url, broker.port, 1, 2))
            baseline = copy_baseline(url)
            print(f"  baseline COPY: {baseline:,.0f} rows/s", flush=True)
            record("drain of a queued backlog, 1 ingester", drain(url, broker.port, 1))
            record(
                "publishers only: 2 simulators, no ingester running",
                publishers_only(url, broker.port, 2),
            )
            record(
                "sustained, 1 ingester, 2 gateways x 10 readings/publish",
                sustained(url, broker.port, 1, 2, per_publish=10),
            )
            record(
                "sustained, 2 ingesters ($share), 2 simulators", sustained(url, broker.port, 2, 2)
            )
            record(
                "client: gmqtt receive only (no database)",
                asyncio.run(_gmqtt_receive(broker.port, N)),
            )
        finally:
            broker.stop()
    try:
        import paho.mqtt  # noqa: F401

        print("paho-mqtt is installed but not compared here (see docs/benchmarks.md)")
    except ImportError:
        print("paho-mqtt not installed: client comparison limited to gmqtt")
    print(f"{'measurement':56} {'msg/s':>10} {'vs COPY':>8}")
    print(f"{'baseline: raw batched COPY of the same rows':56} {baseline:>10,.0f} {1:>8.2f}")
    for name, rate in results:
        print(f"{name:56} {rate:>10,.0f} {rate / baseline:>8.2f}")
    print(f"load average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
