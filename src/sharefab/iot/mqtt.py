"""MQTT telemetry subscriber (gmqtt, asyncio, MQTT 5, QoS 1, persistent session).

Delivery guarantee
------------------
A QoS 1 message is acknowledged (PUBACK) only after the batch holding it has been
**committed** to the database. By default ("direct mode") the ingester takes QoS 1 PUBLISH
packets from gmqtt's handler with their packet ids and, after the commit, writes all the
batch's PUBACKs in one socket write. Without direct mode it uses gmqtt's documented
mechanism: ``optimistic_acknowledgement=False`` makes gmqtt send the PUBACK only when the
``on_message`` coroutine returns, and ours returns after the commit (one asyncio task per
message, several times slower). Either way a message the broker considers delivered is in
the database; a message received but not yet
committed when the ingester dies is not acknowledged, stays in the broker's persistent
session (``clean_start=False``, fixed client id, long session expiry) and is redelivered
when the ingester reconnects. Redeliveries and duplicates are absorbed by the unique
(resource_id, message_id) constraint, so each message is stored exactly once.

What this does not cover: the broker's own durability. Mosquitto acknowledges a publisher's
QoS 1 message once it is in memory and writes its persistence file only every
``autosave_interval`` seconds and at a clean shutdown; a broker *crash* (SIGKILL, power
loss) can lose messages it had acknowledged to publishers but not yet delivered. A clean
stop/restart (SIGTERM) keeps them (tested in ``tests/iot/test_mqtt_fault.py``).

Flow control: the client asks for ``receive_maximum`` unacknowledged messages at a time
(MQTT 5 Receive Maximum; Mosquitto also caps it at ``max_inflight_messages``). A batch is
written when it holds ``batch_size`` messages, when its oldest message has waited
``max_delay`` seconds, or when no message arrived for ``idle_gap`` seconds (the broker's
window is exhausted, nothing more will come before we acknowledge).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from gmqtt import Client
from gmqtt.mqtt.constants import MQTTv50
from sqlalchemy import exc as sa_exc

from sharefab.iot.ingest import DeadLetter, IngestResult, SecurityEventRow, TelemetryWriter
from sharefab.iot.schema import TelemetryMessage, parse_payload, raw_text

log = logging.getLogger(__name__)

#: errors caused by the data of a batch (retrying cannot help), as opposed to an outage
DATA_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.DataError,
    sa_exc.IntegrityError,
    psycopg.DataError,
    psycopg.IntegrityError,
    sqlite3.DataError,
    sqlite3.IntegrityError,
)

TOPIC_PREFIX = "sharefab/v1/telemetry/"
TOPIC_FILTER = TOPIC_PREFIX + "+"
SESSION_EXPIRY_S = 7 * 24 * 3600


def telemetry_topic(resource_id: int) -> str:
    """The topic a device publishes its telemetry to."""
    return f"{TOPIC_PREFIX}{resource_id}"


def subscription_topic(share_group: str | None) -> str:
    """The topic filter to subscribe to; ``$share/<group>/...`` splits the stream between
    all ingesters of the group."""
    if share_group is None:
        return TOPIC_FILTER
    if not share_group or any(c in share_group for c in "/+#$"):
        raise ValueError(f"share group {share_group!r} must be non-empty without / + # $")
    return f"$share/{share_group}/{TOPIC_FILTER}"


def topic_resource_id(topic: str) -> int | None:
    """The resource id a telemetry topic names, or ``None`` when the topic is malformed."""
    if not topic.startswith(TOPIC_PREFIX):
        return None
    rest = topic[len(TOPIC_PREFIX) :]
    if not rest.isdigit() or len(rest) > 18 or int(rest) < 1:
        return None
    return int(rest)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the broker listens and how to log in."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        """Parse ``mqtt://[user[:password]@]host[:port]``."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"MQTT URL {url!r}: scheme must be mqtt:// (got {parts.scheme!r})")
        if not parts.hostname:
            raise ValueError(f"MQTT URL {url!r}: no host")
        try:
            port = parts.port or 1883
        except ValueError as exc:
            raise ValueError(f"MQTT URL {url!r}: bad port") from exc
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


@dataclass(slots=True)
class IngestStats:
    """Running totals of one ingester."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    write_failures: int = 0
    connects: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, result: IngestResult) -> None:
        """Count one committed batch."""
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.rejected += result.rejected
        self.batches += 1


@dataclass(slots=True)
class _Batch:
    items: list[tuple[str, bytes]] = field(default_factory=list)
    # packet ids to acknowledge after the commit (direct mode), with their broker session
    mids: list[tuple[int, int]] = field(default_factory=list)
    done: asyncio.Future[int] | None = None
    first_at: float = 0.0


class MqttIngester:
    """Subscribes to device telemetry and writes it through a :class:`TelemetryWriter`."""

    def __init__(
        self,
        writer: TelemetryWriter,
        broker: BrokerAddress,
        *,
        client_id: str = "sharefab-ingest",
        share_group: str | None = None,
        batch_size: int = 2000,
        max_delay: float = 0.2,
        idle_gap: float = 0.005,
        receive_maximum: int = 65535,
        on_batch: Callable[[IngestResult], None] | None = None,
        direct_ack: bool = True,
        session_expiry: int = SESSION_EXPIRY_S,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not 2 <= receive_maximum <= 65535:
            raise ValueError("receive_maximum must be between 2 and 65535")
        if max_delay <= 0 or idle_gap <= 0:
            raise ValueError("max_delay and idle_gap must be > 0 seconds")
        self.writer = writer
        self.broker = broker
        self.client_id = client_id
        self.topic = subscription_topic(share_group)
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.idle_gap = idle_gap
        self.receive_maximum = receive_maximum
        self.on_batch = on_batch
        self.direct_ack = direct_ack
        self.session_expiry = session_expiry
        self.stats = IngestStats()
        self.connected = asyncio.Event()
        self._batch = _Batch()
        self._last_arrival = 0.0
        self._wake = asyncio.Event()
        self._session = 0  # bumped when the broker did not keep our session
        self._client: Client | None = None
        self._closing = False  # our own disconnect at the end of run()
        self._gmqtt_publish: Callable[[int, bytes], None] = lambda cmd, raw: None

    # -- gmqtt callbacks ------------------------------------------------------------------
    def _on_connect(self, client: Client, flags: int, rc: int, properties: Any) -> None:
        self.stats.connects += 1
        if not flags:
            # new session: earlier un-acked packet ids mean nothing to the broker any more
            self._session += 1
        client.subscribe(self.topic, qos=1)
        self.connected.set()
        log.info("connected to %s:%s (session present: %s)", *self._addr(), bool(flags))

    def _on_disconnect(self, client: Client, packet: Any, exc: Any = None) -> None:
        self.connected.clear()
        if self._closing:
            log.info("disconnected from %s:%s", *self._addr())
        else:
            log.warning("disconnected from %s:%s; gmqtt reconnects", *self._addr())

    async def _on_message(
        self, client: Client, topic: str, payload: bytes, qos: int, properties: Any
    ) -> int:
        batch = self._batch
        if batch.done is None:
            batch.done = asyncio.get_running_loop().create_future()
            batch.first_at = time.monotonic()
        batch.items.append((topic, payload))
        self.stats.received += 1
        self._last_arrival = time.monotonic()
        if len(batch.items) >= self.batch_size:
            self._wake.set()
        session = self._session
        await batch.done  # raises if the batch could not be committed: no PUBACK then
        if session != self._session:
            raise _StaleDelivery(topic)
        return 0  # PUBACK reason code "success"

    def _on_publish_qos1(self, mid: int, packet: bytes, topic: str, properties: Any) -> None:
        """Direct mode: gmqtt hands us the packet id; we PUBACK it after the commit."""
        batch = self._batch
        if batch.done is None:
            batch.done = asyncio.get_running_loop().create_future()
            batch.first_at = time.monotonic()
        batch.items.append((topic, packet))
        batch.mids.append((mid, self._session))
        self.stats.received += 1
        self._last_arrival = time.monotonic()
        if len(batch.items) >= self.batch_size:
            self._wake.set()

    def _fast_publish(self, cmd: int, raw: bytes) -> None:
        """Direct mode's PUBLISH parser for QoS 1 (topic, packet id, MQTT 5 properties
        skipped, payload); anything else goes to gmqtt's own handler."""
        if (cmd & 0x06) >> 1 != 1 or len(raw) < 5:
            self._gmqtt_publish(cmd, raw)
            return
        end = 2 + int.from_bytes(raw[:2], "big")
        pos = end + 2
        # MQTT 5 property length (variable byte integer); aliases are never used (we do not
        # allow any), so the properties carry nothing the ingester needs
        plen, shift = 0, 0
        while pos < len(raw):
            byte = raw[pos]
            pos += 1
            plen |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if end <= 2 or pos + plen > len(raw):
            self._gmqtt_publish(cmd, raw)
            return
        self._on_publish_qos1(
            int.from_bytes(raw[end : end + 2], "big"),
            raw[pos + plen :],
            raw[2:end].decode("utf-8", errors="replace"),
            None,
        )

    def _acknowledge(self, batch: _Batch) -> None:
        client = self._client
        if client is None or not batch.mids or not client.is_connected:
            return  # not acknowledged now: the broker redelivers, the duplicate is ignored
        # one write of all PUBACKs (MQTT 5: success with no properties = 2-byte body)
        acks = b"".join(
            b"\x40\x02" + mid.to_bytes(2, "big")
            for mid, session in batch.mids
            if session == self._session
        )
        if acks:
            client._connection.send_package(acks)

    def _addr(self) -> tuple[str, int]:
        return self.broker.host, self.broker.port

    # -- batch processing -----------------------------------------------------------------
    def _process(self, items: list[tuple[str, bytes]]) -> IngestResult:
        """Validate a batch and write it (runs in a worker thread). A batch the database
        refuses for its *data* (not for being unreachable) is split in halves until the
        offending message is alone; that one goes to the dead-letter table with the database's
        reason, so one poison message cannot stall the stream."""
        try:
            return self._validate_and_write(items)
        except DATA_ERRORS as exc:
            if len(items) > 1:
                half = len(items) // 2
                result = self._process(items[:half])
                result.add(self._process(items[half:]))
                return result
            topic, payload = items[0]
            reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
            letter = DeadLetter(
                raw=raw_text(payload),
                reason=f"database refused the message: {reason}"[:2000],
                source="mqtt",
                topic=topic,
                resource_id=topic_resource_id(topic),
            )
            return self.writer.write([], [letter], source="mqtt")

    def _validate_and_write(self, items: list[tuple[str, bytes]]) -> IngestResult:
        messages: list[TelemetryMessage] = []
        topics: list[str | None] = []
        letters: list[DeadLetter] = []
        events: list[SecurityEventRow] = []
        topic_ids: dict[str, int | None] = {}
        for topic, payload in items:
            good, bad = parse_payload(payload)
            if bad:
                letters.extend(DeadLetter.of(r, "mqtt", topic) for r in bad)
            expected = topic_ids.get(topic, 0)
            if expected == 0:
                expected = topic_ids[topic] = topic_resource_id(topic)
            for m in good:
                if expected is not None and m.resource_id == expected:
                    messages.append(m)
                    topics.append(topic)
                    continue
                reason = (
                    f"resource_id: message for resource {m.resource_id} "
                    f"published on topic {topic!r}"
                )
                letters.append(
                    DeadLetter(
                        raw=m.model_dump_json(),
                        reason=reason,
                        source="mqtt",
                        topic=topic,
                        resource_id=m.resource_id,
                        message_id=m.message_id,
                    )
                )
                events.append(
                    SecurityEventRow(
                        kind="device_wrong_resource",
                        source="mqtt",
                        detail=reason,
                        device_resource_id=expected,
                        target_resource_id=m.resource_id,
                    )
                )
        return self.writer.write(
            messages, letters, source="mqtt", topics=topics, security_events=events
        )

    async def _flush(self, stopping: asyncio.Event) -> None:
        batch, self._batch = self._batch, _Batch()
        self._wake.clear()
        if batch.done is None:
            return
        delay = 0.2
        while True:
            try:
                result = await asyncio.to_thread(self._process, batch.items)
                break
            except Exception as exc:  # database unreachable etc.: keep the batch, retry
                self.stats.write_failures += 1
                log.error("writing a batch of %d failed (%s); retrying", len(batch.items), exc)
                if stopping.is_set():
                    batch.done.set_exception(_NotCommitted(str(exc)))
                    batch.done.exception()  # retrieved: nobody may be waiting (direct mode)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.stats.add(result)
        if self.on_batch is not None:
            self.on_batch(result)
        self._acknowledge(batch)
        batch.done.set_result(len(batch.items))

    def _due(self, now: float) -> bool:
        batch = self._batch
        if batch.done is None:
            return False
        return (
            len(batch.items) >= self.batch_size
            or now - batch.first_at >= self.max_delay
            or now - self._last_arrival >= self.idle_gap
        )

    async def _flusher(self, stopping: asyncio.Event) -> None:
        tick = min(self.idle_gap, self.max_delay)
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), tick)
            if self._due(time.monotonic()):
                await self._flush(stopping)

    # -- lifecycle ------------------------------------------------------------------------
    def _make_client(self) -> Client:
        client = Client(
            self.client_id,
            clean_session=False,
            optimistic_acknowledgement=False,
            session_expiry_interval=self.session_expiry,
            receive_maximum=self.receive_maximum,
        )
        client.set_config({"reconnect_retries": -1, "reconnect_delay": 1})
        if self.broker.username:
            client.set_auth_credentials(self.broker.username, self.broker.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        handler = client._package_handler
        if self.direct_ack and hasattr(handler, "_handle_publish_packet"):
            # Direct mode (default): take QoS 1 PUBLISH packets with their packet id instead
            # of one asyncio task per message, and acknowledge a committed batch with one
            # socket write; same guarantee, several times cheaper per message. It relies on
            # gmqtt's handler layout (checked: gmqtt 0.6-0.8); without it the documented
            # coroutine mode is used.
            self._gmqtt_publish = handler._handle_publish_packet
            handler._handle_publish_packet = self._fast_publish
            handler._handler_cache.clear()
        return client

    async def _connect(self, client: Client, stopping: asyncio.Event) -> None:
        delay = 0.2
        while not stopping.is_set():
            try:
                await client.connect(self.broker.host, self.broker.port, version=MQTTv50)
                return
            except OSError as exc:
                log.warning("broker %s:%s not reachable (%s); retrying", *self._addr(), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def run(self, stopping: asyncio.Event) -> IngestStats:
        """Connect, ingest until ``stopping`` is set, then commit the last batch (so its
        messages are acknowledged) and disconnect. Reconnects after broker outages."""
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()
        loop.set_exception_handler(_quiet_stale_handler(previous))
        client = self._make_client()
        self._client = client
        flusher = asyncio.create_task(self._flusher(stopping))
        try:
            await self._connect(client, stopping)
            await stopping.wait()
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await self._flush(stopping)  # acknowledge what was committed in the last batch
            await asyncio.sleep(0)  # let gmqtt send the PUBACKs of that batch
            self._closing = True
            with contextlib.suppress(Exception):
                await client.disconnect()
            loop.set_exception_handler(previous)
        return self.stats


class _NotCommitted(Exception):
    """The batch was not committed; its messages must not be acknowledged."""


class _StaleDelivery(Exception):
    """Committed, but received on a broker session that no longer exists: not acknowledged
    (the broker redelivers it and the duplicate is ignored)."""


def _quiet_stale_handler(previous: Any) -> Callable[[asyncio.AbstractEventLoop, dict], None]:
    """An event-loop exception handler that drops the expected "no PUBACK" signals raised
    through gmqtt's acknowledgement callback and passes everything else on."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, _NotCommitted | _StaleDelivery):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    return handler
