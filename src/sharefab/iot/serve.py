"""The MQTT telemetry ingester inside the web server process (``sharefab serve --ingest``).

:func:`install_mqtt_ingest` ties an :class:`~sharefab.iot.mqtt.MqttIngester` to the app's
lifespan: it starts as a task on the server's event loop when the app starts (writing through
the app's own engine; batches are written in a worker thread as in ``sharefab ingest``) and,
when the server shuts down, stops receiving, commits the batch in progress, acknowledges it
and disconnects before the database engine is disposed. A broker that is down does not stop
the server from starting: the ingester keeps retrying in the background.

The guarantee is the one of ``sharefab ingest``: a message is acknowledged to the broker only
after its batch is committed, so a server killed mid-batch loses nothing (the broker
redelivers and the duplicate is ignored). For throughput run ``sharefab ingest`` as its own
process(es) instead: the embedded ingester shares one Python process (and its GIL) with the
HTTP workers. Run one or the other with the same client id, not both: two connections with
one client id take the session from each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sharefab.iot.ingest import TelemetryWriter
from sharefab.iot.mqtt import SESSION_EXPIRY_S, BrokerAddress, IngestStats, MqttIngester

log = logging.getLogger(__name__)

#: default client id of the embedded ingester (its persistent broker session)
SERVE_CLIENT_ID = "sharefab-ingest-serve"


@dataclass(frozen=True, slots=True)
class EmbeddedIngest:
    """How the server's ingester connects: broker URL, client id, optional share group."""

    mqtt_url: str
    client_id: str = SERVE_CLIENT_ID
    share_group: str | None = None
    batch_size: int = 2000
    max_delay: float = 0.2
    session_expiry: int = SESSION_EXPIRY_S
    stop_timeout: float = 30.0


def install_mqtt_ingest(
    app: Any, config: EmbeddedIngest, *, on_stop: Callable[[IngestStats], None] | None = None
) -> MqttIngester:
    """Run an MQTT ingester for the lifetime of ``app`` (a FastAPI app from
    :func:`sharefab.api.app.create_app`); returns it (also ``app.state.mqtt_ingester``).
    ``on_stop`` gets the final totals once it has stopped (the CLI prints them). Raises
    ``ValueError`` for a malformed broker URL or share group before anything starts."""
    broker = BrokerAddress.from_url(config.mqtt_url)
    ingester = MqttIngester(
        TelemetryWriter(app.state.engine),
        broker,
        client_id=config.client_id,
        share_group=config.share_group,
        batch_size=config.batch_size,
        max_delay=config.max_delay,
        session_expiry=config.session_expiry,
    )
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            stop = asyncio.Event()
            task = asyncio.create_task(ingester.run(stop), name="sharefab-mqtt-ingest")
            log.info(
                "MQTT ingest: subscribing to %s on %s:%s", ingester.topic, broker.host, broker.port
            )
            try:
                yield state
            finally:
                # inside the inner lifespan: the last batch is committed before the app's
                # engine is disposed
                stop.set()
                try:
                    await asyncio.wait_for(task, config.stop_timeout)
                except TimeoutError:
                    log.error("MQTT ingest did not stop within %.0f s", config.stop_timeout)
                s = ingester.stats
                log.info(
                    "MQTT ingest stopped: received %d, stored %d, duplicates %d, rejected %d",
                    s.received,
                    s.accepted,
                    s.duplicates,
                    s.rejected,
                )
                if on_stop is not None:
                    on_stop(s)

    app.router.lifespan_context = lifespan
    app.state.mqtt_ingester = ingester
    return ingester
