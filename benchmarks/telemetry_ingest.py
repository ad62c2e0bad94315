"""Telemetry ingest: simulator -> Mosquitto (QoS 1) -> ``sharefab ingest`` -> PostgreSQL.

Everything runs as real processes on this machine: a private ``mosquitto`` with the config
``sharefab devices broker-config`` writes (persistence on, no QoS 1 drops), one or two
``sharefab ingest`` processes (PUBACK held until the batch is committed), and
``sharefab devices simulate`` publishers. Measured in the same run:

* **baseline** - raw batched ``COPY`` of the same rows into the same ``telemetry`` table
  (5,000 rows per COPY, one transaction each): the ceiling of this database here;
* **sustained** - simulator(s) publishing as fast as they can while one ingester runs:
  readings committed per second between the first committed batch and the N-th row;
* **drain** - the same number of messages queued in the broker while the ingester is
  stopped, then drained by it (the ingester alone, without publishers competing for CPU);
* **scale-out** - two ingesters sharing ``$share/<group>/sharefab/v1/telemetry/+``, sustained
  and draining a backlog queued for the (offline) group;
* **client** - the gmqtt subscriber alone (optimistic acknowledgement, no database) against
  paho-mqtt, if paho is installed.

Every measurement starts from an empty ``telemetry`` table with fresh MQTT client ids (no
broker session of an earlier measurement survives: a left-over persistent session kept
queueing every later run's messages and replayed them into the next run, which once made a
run "store" 60,000 rows in a few milliseconds) and ends by checking in PostgreSQL that exactly
the expected rows were stored: the right count, message ids 1..k without gaps on every
machine, all received after the run started, and every publish acknowledged. With each rate
the share of the two cores each process group used in the measured window is printed
(``/proc``), which is what limits the sustained runs on this machine.

Every rate is printed with its ratio to the COPY baseline. ``SHAREFAB_BENCH_TELEMETRY_N``
sets the readings per run (default 60,000); ``SHAREFAB_BENCH_POSTGRES_URL`` the server.
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

PG_URL = os.environ.get(
    "SHAREFAB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
N = int(os.environ.get("SHAREFAB_BENCH_TELEMETRY_N", "60000"))
RESOURCES = 100
GATEWAY_BATCH = 10
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
        _close_counters()
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


_COUNTERS: dict[str, object] = {}


def _count(url: str) -> int:
    """Rows in ``telemetry`` (one kept autocommit connection: polled every 20 ms)."""
    import psycopg

    conn = _COUNTERS.get(url)
    if conn is None:
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
        conn = _COUNTERS[url] = psycopg.connect(conninfo, autocommit=True)
    row = conn.execute("SELECT count(*) FROM telemetry").fetchone()  # type: ignore[attr-defined]
    return int(row[0])


def _close_counters() -> None:
    for conn in _COUNTERS.values():
        conn.close()  # type: ignore[attr-defined]
    _COUNTERS.clear()


def _truncate(url: str) -> datetime:
    """Empty the table; returns the database's clock (rows stored later are this run's)."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE telemetry"))
        now = conn.execute(text("SELECT now()")).scalar_one()
    engine.dispose()
    return now  # type: ignore[no-any-return]


def verify_stored(url: str, expected: int, since: datetime, what: str) -> str:
    """Check in PostgreSQL that exactly ``expected`` rows of this run are stored: the count,
    all received after ``since``, and on every machine the message ids 1..k without a gap
    (the simulators number from 1 on an empty table). Raises when anything is off."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        rows, machines, lowest, span, early = conn.execute(
            text(
                "SELECT coalesce(sum(n), 0), count(*), min(lo), coalesce(sum(hi), 0), "
                "coalesce(sum(early), 0) FROM (SELECT count(*) AS n, min(message_id) AS lo, "
                "max(message_id) AS hi, count(*) FILTER (WHERE received_at < :since) AS early "
                "FROM telemetry GROUP BY resource_id) m"
            ),
            {"since": since},
        ).one()
    engine.dispose()
    problems = []
    if rows != expected:
        problems.append(f"{rows} rows stored, expected {expected}")
    if rows and lowest != 1:
        problems.append(f"lowest message id {lowest}, expected 1")
    if span != rows:
        problems.append(f"message ids span {span} but {rows} rows: gaps or stale rows")
    if early:
        problems.append(f"{early} rows received before the run started")
    if problems:
        raise RuntimeError(f"{what}: " + "; ".join(problems))
    return f"verified in PostgreSQL: {rows:,} rows, ids 1..k without gaps on {machines} machines"


class Cpu:
    """CPU time (clock ticks) of process groups and of the whole machine, from ``/proc``.

    Processes that exit inside the window keep the last value seen (:meth:`poll` is called
    while waiting for rows, every 20 ms)."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.seen: dict[int, int] = {}

    @staticmethod
    def _ticks(pid: int) -> int | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return int(fields[11]) + int(fields[12])  # utime + stime

    @staticmethod
    def _postgres() -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "postgres":
                        pids.append(int(entry))
        return pids

    @staticmethod
    def _machine() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    def poll(self) -> None:
        for pids in self.groups.values():
            for pid in pids:
                ticks = self._ticks(pid)
                if ticks is not None:
                    self.seen[pid] = ticks

    def snapshot(self) -> dict[str, float]:
        self.poll()
        out = {
            name: float(sum(self.seen.get(p, 0) for p in pids))
            for name, pids in self.groups.items()
        }
        out["postgres"] = float(sum(self._ticks(p) or 0 for p in self._postgres()))
        busy, total = self._machine()
        out["machine busy"], out["machine total"] = float(busy), float(total)
        out["wall"] = time.monotonic()
        return out

    @staticmethod
    def report(a: dict[str, float], b: dict[str, float], rows: int) -> str:
        """Cores used by each group between two snapshots (of os.cpu_count()) and its CPU
        time per reading stored in the window."""
        wall = b["wall"] - a["wall"]
        cores = os.cpu_count() or 1
        total = (b["machine total"] - a["machine total"]) or 1.0
        busy = (b["machine busy"] - a["machine busy"]) / total * cores
        parts = []
        ours = 0.0
        for name in a:
            if name in ("machine busy", "machine total", "wall"):
                continue
            seconds = (b[name] - a[name]) / Cpu.TICK
            ours += seconds / wall
            parts.append(f"{name} {seconds / wall:.2f} ({seconds / rows * 1e6:.0f} us/reading)")
        parts.append(f"everything else {max(0.0, busy - ours):.2f}")
        return f"cores used in the window ({busy:.2f} of {cores} busy): " + ", ".join(parts)


def _ingester(
    url: str, port: int, client_id: str, group: str | None, *, keep_session: bool = False
) -> subprocess.Popen[bytes]:
    cmd = [PY, "-m", "sharefab", "ingest", "--db", url, "--mqtt-url", f"mqtt://127.0.0.1:{port}"]
    cmd += ["--client-id", client_id, "--batch-size", "5000", "--quiet"]
    # a session that outlives the measurement would queue every later run's messages
    cmd += ["--session-expiry", str(600 if keep_session else 0)]
    if group:
        cmd += ["--share-group", group]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _forget_sessions(port: int, client_ids: list[str]) -> None:
    """End the broker sessions of ``client_ids`` (clean start, expiry 0)."""
    from gmqtt import Client
    from gmqtt.mqtt.constants import MQTTv50

    for cid in client_ids:
        c = Client(cid, clean_session=True, session_expiry_interval=0)
        await c.connect("127.0.0.1", port, version=MQTTv50)
        await c.disconnect()


def _simulators(
    url: str, port: int, count: int, parts: int, per_publish: int = 1
) -> list[subprocess.Popen[bytes]]:
    """``count`` readings in total from ``parts`` simulator processes (``per_publish``
    readings per MQTT message)."""
    per = RESOURCES // parts
    procs = []
    for k in range(parts):
        cmd = [PY, "-m", "sharefab", "devices", "simulate", "--db", url]
        cmd += ["--mqtt-url", f"mqtt://127.0.0.1:{port}", "--rate", "0"]
        cmd += ["--resources", str(per), "--offset", str(k * per), "--count", str(count // parts)]
        cmd += ["--max-inflight", "5000", "--seed", str(k + 1), "--per-publish", str(per_publish)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
    return procs


def _finish(sims: list[subprocess.Popen[bytes]]) -> list[dict[str, float]]:
    """Wait for the simulators; their reports, each checked: everything sent was acked."""
    reports = []
    for p in sims:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"simulator exited with {p.returncode}")
        rep = json.loads(out.decode().strip().splitlines()[-1])
        if rep["acknowledged"] != rep["sent"]:
            raise RuntimeError(f"simulator: {rep['acknowledged']} of {rep['sent']} acknowledged")
        reports.append(rep)
    return reports


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def _wait_rows(
    url: str, target: int, timeout: float = 180.0, cpu: Cpu | None = None
) -> tuple[float, int]:
    """Wait until at least ``target`` rows are stored; (when, how many were seen then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = _count(url)
        if n >= target:
            return time.monotonic(), n
        if cpu is not None:
            cpu.poll()
        time.sleep(0.02)
    raise TimeoutError(f"only {_count(url)} of {target} rows stored")


@dataclass
class Measured:
    """One measurement: rows/s, what was verified, where the CPU went."""

    rate: float
    verified: str = ""
    cpu: str = ""


def _rate(url: str, target: int, cpu: Cpu) -> tuple[float, str]:
    """Rows/s from the first committed batch seen to the ``target``-th row, counting only
    the rows committed inside that window (process start-up of the simulators and ingesters
    is excluded: it is not ingest throughput), with the CPU each process group used in it."""
    first, seen = _wait_rows(url, 1, cpu=cpu)
    a = cpu.snapshot()
    last, _ = _wait_rows(url, target, cpu=cpu)
    b = cpu.snapshot()
    if seen >= target:
        raise RuntimeError(f"all {target} rows arrived in one batch: raise N to measure a rate")
    return (target - seen) / (last - first), Cpu.report(a, b, target - seen)


def _subscribed(url: str, port: int, ingesters: int) -> None:
    """Publish probe readings until all of a round are stored (the ingesters' subscriptions
    are new, so probes published before an ingester subscribed are not delivered to it)."""
    probes = 200 * ingesters
    for _ in range(20):
        stored = _count(url)
        _finish(_simulators(url, port, probes, 1))
        with contextlib.suppress(TimeoutError):
            _wait_rows(url, stored + probes, timeout=3)
            time.sleep(1.0)  # the other ingesters of a group started at the same time
            return
    raise TimeoutError("the ingesters did not store the probe readings")


def _tag() -> str:
    return uuid.uuid4().hex[:6]


def sustained(
    url: str, broker: Broker, ingesters: int, publishers: int, per_publish: int = 1
) -> Measured:
    """Stored readings/s with publishers and ingesters running together."""
    port = broker.port
    group = f"bench{_tag()}" if ingesters > 1 else None
    tag = _tag()
    procs = [_ingester(url, port, f"bench-ingest-{tag}-{i}", group) for i in range(ingesters)]
    try:
        _subscribed(url, port, ingesters)
        since = _truncate(url)
        sims = _simulators(url, port, N, publishers, per_publish)
        cpu = Cpu(
            {
                "broker": [broker.proc.pid],
                "ingesters": [p.pid for p in procs],
                "publishers": [p.pid for p in sims],
                "this harness": [os.getpid()],
            }
        )
        rate, usage = _rate(url, N, cpu)
        _finish(sims)
    finally:
        _stop(procs)
    time.sleep(0.5)
    return Measured(rate, verify_stored(url, N, since, "sustained"), usage)


def drain(url: str, broker: Broker, ingesters: int) -> Measured:
    """Stored messages/s when the ingesters drain a backlog queued in the broker."""
    port = broker.port
    group = f"bench{_tag()}" if ingesters > 1 else None
    ids = [f"bench-drain-{_tag()}-{i}" for i in range(ingesters)]
    procs = [_ingester(url, port, cid, group, keep_session=True) for cid in ids]
    _subscribed(url, port, ingesters)
    _stop(procs)  # sessions and subscriptions stay in the broker
    since = _truncate(url)
    _finish(_simulators(url, port, N, 2))
    procs = [_ingester(url, port, cid, group, keep_session=True) for cid in ids]
    try:
        cpu = Cpu(
            {
                "broker": [broker.proc.pid],
                "ingesters": [p.pid for p in procs],
                "this harness": [os.getpid()],
            }
        )
        rate, usage = _rate(url, N, cpu)
    finally:
        _stop(procs)
        asyncio.run(_forget_sessions(port, ids))
    time.sleep(0.5)
    return Measured(rate, verify_stored(url, N, since, "drain"), usage)


def publishers_only(url: str, port: int, publishers: int) -> Measured:
    """Messages/s the simulator processes publish with nobody subscribed (their own report):
    the ceiling the publishing side puts on the sustained runs on this machine. Nothing may
    be stored (no ingester and no left-over session)."""
    since = _truncate(url)
    reports = _finish(_simulators(url, port, N, publishers))
    time.sleep(1.0)
    stored = _count(url)
    if stored:
        raise RuntimeError(f"publishers only: {stored} rows stored with no ingester running")
    sent = sum(int(r["sent"]) for r in reports)
    note = f"all {sent:,} acknowledged by the broker; 0 rows stored after {since:%H:%M:%S}"
    return Measured(sum(float(r["rate"]) for r in reports), note)


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
    await _forget_sessions(port, [sub._client_id])
    return count / seconds


def main() -> None:
    """Run every measurement and print the table."""
    if shutil.which("mosquitto") is None and not os.path.exists("/usr/sbin/mosquitto"):
        print("mosquitto not installed: telemetry benchmark skipped")
        return
    print(
        f"{N} readings per run, {RESOURCES} simulated machines, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average "
        + " ".join(f"{v:.2f}" for v in os.getloadavg())
        + f" on {os.cpu_count()} CPUs"
    )
    results: list[tuple[str, float]] = []

    def record(name: str, m: Measured) -> None:
        results.append((name, m.rate))
        print(f"  {name}: {m.rate:,.0f}/s", flush=True)
        for note in (m.verified, m.cpu):
            if note:
                print(f"      {note}", flush=True)

    with tempfile.TemporaryDirectory() as tmp, _database() as url:
        broker = Broker(Path(tmp) / "broker")
        try:
            record("sustained, 1 ingester, 2 simulators", sustained(url, broker, 1, 2))
            baseline = copy_baseline(url)
            print(f"  baseline COPY: {baseline:,.0f} rows/s", flush=True)
            record("drain of a queued backlog, 1 ingester", drain(url, broker, 1))
            record("drain of a queued backlog, 2 ingesters ($share)", drain(url, broker, 2))
            record(
                "publishers only: 2 simulators, no ingester running",
                publishers_only(url, broker.port, 2),
            )
            record(
                f"sustained, 1 ingester, 2 gateways x {GATEWAY_BATCH} readings/publish",
                sustained(url, broker, 1, 2, per_publish=GATEWAY_BATCH),
            )
            record("sustained, 2 ingesters ($share), 2 simulators", sustained(url, broker, 2, 2))
            record(
                "client: gmqtt receive only (no database)",
                Measured(asyncio.run(_gmqtt_receive(broker.port, N)), "received, not stored"),
            )
        finally:
            broker.stop()
    try:
        import paho.mqtt  # noqa: F401

        print("paho-mqtt is installed but not compared here (see docs/benchmarks.md)")
    except ImportError:
        print("paho-mqtt not installed: client comparison limited to gmqtt")
    print(f"{'measurement (readings stored per second)':60} {'rate':>10} {'vs COPY':>8}")
    print(f"{'baseline: raw batched COPY of the same rows':60} {baseline:>10,.0f} {1:>8.2f}")
    for name, rate in results:
        print(f"{name:60} {rate:>10,.0f} {rate / baseline:>8.2f}")
    print(
        f"  (the gateway run's MQTT messages per second are its readings / {GATEWAY_BATCH}; "
        "publishers-only is messages published, gmqtt-only messages received)"
    )
    print("load average after the run: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
