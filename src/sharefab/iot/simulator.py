"""Device simulator: N machines reporting realistic telemetry that follows their bookings.

Each simulated machine runs inside its bookings (a setup phase first, then running, with an
occasional short stop carrying an alarm) and is idle outside them, with rare maintenance or
breakdowns. Counters (cycles, run and spindle seconds, energy) grow with the state, and
messages are numbered 1, 2, 3, ... per machine (continuing from ``start_message_id``), so a
consumer can check that every message arrived exactly once.

Transports: MQTT (gmqtt, QoS 1, one topic per machine; :class:`MqttPublisher` records which
messages the broker acknowledged) and HTTP batches to ``POST /api/v1/telemetry`` with each
machine's device token (see :func:`publish_http`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.storage import PersistentStorage

from sharefab.iot.schema import SCHEMA_VERSION

# Electrical power drawn in each state (kW) and the cycle time while running (s).
POWER_KW = {"running": 11.0, "setup": 3.0, "idle": 1.2, "down": 0.3, "maintenance": 0.8}
SETUP_S = 900.0


@dataclass(slots=True)
class SimulatedMachine:
    """One machine: its bookings, counters and the id of the next message."""

    resource_id: int
    bookings: list[tuple[datetime, datetime]] = field(default_factory=list)
    cycle_time_s: float = 45.0
    next_message_id: int = 1
    cycle_count: int = 0
    run_seconds: float = 0.0
    spindle_seconds: float = 0.0
    energy_wh: float = 0.0
    last_ts: datetime | None = None
    _cycle_frac: float = 0.0
    _fault_until: datetime | None = None
    _fault_state: str = "down"

    def state_at(self, ts: datetime, rng: random.Random) -> tuple[str, list[dict[str, Any]]]:
        """The state at ``ts`` and any active alarms."""
        if self._fault_until is not None and ts < self._fault_until:
            alarms = [{"code": "E-STOP", "severity": "critical"}]
            return self._fault_state, alarms if self._fault_state == "down" else []
        self._fault_until = None
        booked = next((b for b in self.bookings if b[0] <= ts < b[1]), None)
        if booked is not None:
            if (ts - booked[0]).total_seconds() < SETUP_S:
                return "setup", []
            if rng.random() < 0.002:  # a short stop with an alarm
                self._fault_state = "down"
                self._fault_until = ts + (booked[1] - booked[0]) / 50
                return "down", [{"code": "E-TOOL-WEAR", "severity": "warning"}]
            return "running", []
        if rng.random() < 0.0005:
            self._fault_state = "maintenance"
            self._fault_until = ts + timedelta(minutes=30)
            return "maintenance", []
        return "idle", []

    def advance(self, ts: datetime, rng: random.Random) -> dict[str, Any]:
        """The next message at ``ts``: counters advanced by the time since the last one."""
        state, alarms = self.state_at(ts, rng)
        dt = 0.0 if self.last_ts is None else max(0.0, (ts - self.last_ts).total_seconds())
        self.last_ts = ts
        if state == "running":
            self.run_seconds += dt
            self.spindle_seconds += dt * 0.85
            self._cycle_frac += dt / self.cycle_time_s
            whole = int(self._cycle_frac)
            self.cycle_count += whole
            self._cycle_frac -= whole
        self.energy_wh += POWER_KW[state] * dt / 3.6
        msg: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "resource_id": self.resource_id,
            "message_id": self.next_message_id,
            "ts": ts.isoformat(),
            "state": state,
            "cycle_count": self.cycle_count,
            "run_seconds": round(self.run_seconds, 3),
            "spindle_seconds": round(self.spindle_seconds, 3),
            "energy_wh": round(self.energy_wh, 3),
        }
        if alarms:
            msg["alarms"] = alarms
        self.next_message_id += 1
        return msg


class Fleet:
    """The simulated machines, producing messages round-robin."""

    def __init__(self, machines: Sequence[SimulatedMachine], *, seed: int = 1) -> None:
        if not machines:
            raise ValueError("the fleet needs at least one machine")
        self.machines = list(machines)
        self.rng = random.Random(seed)
        self._next = 0

    @classmethod
    def of(cls, resource_ids: Sequence[int], *, seed: int = 1, start_message_id: int = 1) -> Fleet:
        """A fleet of unbooked machines with the given resource ids."""
        return cls(
            [SimulatedMachine(r, next_message_id=start_message_id) for r in resource_ids],
            seed=seed,
        )

    def next(self, ts: datetime | None = None) -> tuple[SimulatedMachine, dict[str, Any]]:
        """The next machine in turn and its next message (at ``ts``, default now)."""
        machine = self.machines[self._next]
        self._next = (self._next + 1) % len(self.machines)
        return machine, machine.advance(ts or datetime.now(UTC), self.rng)


class _AckTracking(PersistentStorage):
    """gmqtt's in-flight store, also recording which packets the broker acknowledged."""

    def __init__(self, publisher: MqttPublisher) -> None:
        super().__init__()
        self._publisher = publisher

    def push_message(self, mid: int, raw_package: bytes) -> None:
        pending = self._publisher._pending_key
        if pending is not None:
            self._publisher._mid_keys[mid] = pending
        super().push_message(mid, raw_package)

    def remove_message_by_mid(self, mid: int) -> None:
        keys = self._publisher._mid_keys.pop(mid, None)
        if keys is not None:
            self._publisher.acked.update(keys)
            self._publisher._room.set()
        super().remove_message_by_mid(mid)

    def clear(self) -> None:
        # the broker lost our session: these will never be acknowledged
        self._publisher._mid_keys.clear()
        self._publisher._room.set()
        super().clear()


class MqttPublisher:
    """A QoS 1 publisher with a bounded in-flight window that records acknowledged
    (resource_id, message_id) pairs in :attr:`acked`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str,
        username: str | None = None,
        password: str | None = None,
        max_inflight: int = 1000,
        persistent: bool = True,
    ) -> None:
        self.host, self.port = host, port
        self.acked: set[tuple[int, int]] = set()
        self._mid_keys: dict[int, tuple[tuple[int, int], ...]] = {}
        self._pending_key: tuple[tuple[int, int], ...] | None = None
        self.max_inflight = max_inflight
        self._buffer: list[bytes] = []
        self._write: Any = None
        self._broker_window = 65535
        self._room = asyncio.Event()
        self._room.set()
        kwargs: dict[str, Any] = {}
        if persistent:
            kwargs["session_expiry_interval"] = 3600
        self.client = Client(
            client_id,
            clean_session=not persistent,
            persistent_storage=_AckTracking(self),
            **kwargs,
        )
        self.client.set_config({"reconnect_retries": -1, "reconnect_delay": 0.5})
        if username:
            self.client.set_auth_credentials(username, password)
        self.client.on_connect = self._on_connect

    def _on_connect(self, client: Client, flags: int, rc: int, properties: Any) -> None:
        # the broker's Receive Maximum bounds how many QoS 1 messages may be unacknowledged
        value = properties.get("receive_maximum") if isinstance(properties, dict) else None
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        self._broker_window = int(value) if value else 65535
        self._room.set()

    @property
    def window(self) -> int:
        """How many messages may be unacknowledged at once."""
        return max(1, min(self.max_inflight, self._broker_window - 2))

    async def connect(self) -> None:
        """Connect (MQTT 5)."""
        await self.client.connect(self.host, self.port, version=MQTTv50)

    async def publish(
        self, topic: str, payload: bytes, key: tuple[int, int], *more: tuple[int, int]
    ) -> None:
        """Publish at QoS 1; waits while ``max_inflight`` messages are unacknowledged or
        the connection is down. ``key`` (and ``more`` for a batch payload) are the
        (resource_id, message_id) pairs recorded in :attr:`acked` once the broker acks."""
        while len(self._mid_keys) >= self.window or not self.client.is_connected:
            self._flush()
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), 0.05)
        self._pending_key = (key, *more)
        try:
            self.client.publish(topic, payload, qos=1)
        finally:
            self._pending_key = None

    def _flush(self) -> None:
        if self._buffer and self._write is not None:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._write(data)

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """Publish a burst with one socket write instead of one per message (a ``send``
        system call per message was the simulator's largest cost)."""
        protocol = self.client._connection._protocol
        self._write = protocol.write_data
        protocol.write_data = self._buffer.append
        try:
            yield
        finally:
            del protocol.write_data  # back to the class's method
            self._flush()
            self._write = None

    @property
    def in_flight(self) -> int:
        """Messages published but not yet acknowledged."""
        return len(self._mid_keys)

    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every published message is acknowledged (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self._mid_keys and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return not self._mid_keys

    async def disconnect(self) -> None:
        """Disconnect cleanly."""
        await self.client.disconnect()


@dataclass(slots=True)
class PublishReport:
    """What a simulator run published."""

    sent: int = 0
    acked: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Messages sent per second."""
        return self.sent / self.seconds if self.seconds > 0 else 0.0


async def publish_mqtt(
    fleet: Fleet,
    publisher: MqttPublisher,
    *,
    rate: float,
    count: int | None = None,
    duration: float | None = None,
    stop: asyncio.Event | None = None,
    per_publish: int = 1,
) -> PublishReport:
    """Publish ``count`` messages (or for ``duration`` seconds) at about ``rate`` msg/s in
    total; ``rate <= 0`` publishes as fast as the in-flight window allows. With
    ``per_publish > 1`` each MQTT message carries a JSON array of that many consecutive
    readings of one machine (an edge gateway batching); counts are telemetry messages."""
    if count is None and duration is None and stop is None:
        raise ValueError("give count, duration or a stop event")
    report = PublishReport()
    start = time.monotonic()
    finished = False
    while not finished:
        with publisher.corked():
            for _ in range(64):
                now = time.monotonic()
                if (
                    (count is not None and report.sent >= count)
                    or (duration is not None and now - start >= duration)
                    or (stop is not None and stop.is_set())
                ):
                    finished = True
                    break
                if rate > 0 and report.sent / rate - (now - start) > 0.002:
                    break  # ahead of schedule: flush, then sleep below
                await _publish_next(fleet, publisher, report, count, per_publish)
        if rate > 0:
            ahead = report.sent / rate - (time.monotonic() - start)
            if ahead > 0.002:
                await asyncio.sleep(ahead)
                continue
        await asyncio.sleep(0)  # let acknowledgements in
    report.seconds = time.monotonic() - start
    report.acked = len(publisher.acked)
    return report


async def _publish_next(
    fleet: Fleet,
    publisher: MqttPublisher,
    report: PublishReport,
    count: int | None,
    per_publish: int,
) -> None:
    from sharefab.iot.mqtt import telemetry_topic

    machine, msg = fleet.next()
    rid = machine.resource_id
    if per_publish == 1:
        payload = json.dumps(msg, separators=(",", ":")).encode()
        await publisher.publish(telemetry_topic(rid), payload, (rid, msg["message_id"]))
        report.sent += 1
        return
    k = per_publish if count is None else min(per_publish, count - report.sent)
    now = datetime.now(UTC)
    msgs = [msg, *(machine.advance(now, fleet.rng) for _ in range(k - 1))]
    payload = json.dumps(msgs, separators=(",", ":")).encode()
    keys = [(rid, m["message_id"]) for m in msgs]
    await publisher.publish(telemetry_topic(rid), payload, *keys)
    report.sent += len(msgs)


async def publish_http(
    fleet: Fleet,
    base_url: str,
    tokens: dict[int, str],
    *,
    rate: float,
    count: int | None = None,
    duration: float | None = None,
    batch: int = 100,
    transport: Any = None,
) -> PublishReport:
    """Post messages in per-machine batches to ``{base_url}/api/v1/telemetry`` with each
    machine's device token (``tokens[resource_id] = "<key_id>.<secret>"``). ``transport``
    is an optional ``httpx`` transport (e.g. ``httpx.ASGITransport(app)`` in tests)."""
    import httpx

    if count is None and duration is None:
        raise ValueError("give count or duration")
    missing = [m.resource_id for m in fleet.machines if m.resource_id not in tokens]
    if missing:
        raise ValueError(f"no device token for resources {missing}")
    report = PublishReport()
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, transport=transport) as http:
        while True:
            now = time.monotonic()
            if (count is not None and report.sent >= count) or (
                duration is not None and now - start >= duration
            ):
                break
            if rate > 0:
                ahead = report.sent / rate - (now - start)
                if ahead > 0.002:
                    await asyncio.sleep(ahead)
            machine = fleet.machines[fleet._next]
            fleet._next = (fleet._next + 1) % len(fleet.machines)
            n = batch if count is None else min(batch, count - report.sent)
            msgs = [machine.advance(datetime.now(UTC), fleet.rng) for _ in range(n)]
            resp = await http.post(
                "/api/v1/telemetry",
                json=msgs,
                headers={"Authorization": f"Device {tokens[machine.resource_id]}"},
            )
            resp.raise_for_status()
            report.sent += n
            report.acked += int(resp.json().get("accepted", 0))
    report.seconds = time.monotonic() - start
    return report
