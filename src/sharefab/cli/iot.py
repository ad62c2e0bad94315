"""``sharefab ingest`` (MQTT telemetry subscriber) and ``sharefab devices ...`` (device
credentials, Mosquitto configuration, simulator)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sharefab.cli.common import fail, friendly_errors, migrate

console = Console()
err = Console(stderr=True)
devices_app = typer.Typer(help="Connected machines: credentials, broker config, simulator.")
credentials_app = typer.Typer(help="Device credentials (operator tool working on the database).")
devices_app.add_typer(credentials_app, name="credentials")

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: SHAREFAB_DATABASE_URL or ./var/sharefab.db)."
    ),
]
MqttOption = Annotated[
    str | None,
    typer.Option("--mqtt-url", help="Broker URL mqtt://[user:password@]host:port"),
]


def _db(db: str | None) -> str:
    from sharefab.storage.db import database_url_from_env

    return db or database_url_from_env()


def _mqtt(url: str | None) -> str:
    from sharefab.config import Settings

    return url or Settings().mqtt_url


def ingest(
    db: DbOption = None,
    mqtt_url: MqttOption = None,
    share_group: Annotated[
        str | None,
        typer.Option(help="Join $share/<group>/... so several ingesters split the stream."),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(help="Fixed MQTT client id (persistent session); default per group."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Messages per database batch.")] = 5000,
    max_delay: Annotated[
        float, typer.Option(min=0.001, help="Longest wait (s) before a batch is written.")
    ] = 0.2,
    receive_maximum: Annotated[
        int, typer.Option(min=2, max=65535, help="Unacknowledged messages allowed in flight.")
    ] = 65535,
    method: Annotated[
        str, typer.Option(help="PostgreSQL write path: copy | unnest (SQLite: rows).")
    ] = "auto",
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (benchmarks).")
    ] = None,
    session_expiry: Annotated[
        int, typer.Option(min=0, help="Seconds the broker keeps our session while away.")
    ] = 7 * 24 * 3600,
    stats_every: Annotated[float, typer.Option(help="Print totals every S seconds.")] = 5.0,
    quiet: Annotated[bool, typer.Option(help="Print only the final totals.")] = False,
) -> None:
    """Subscribe to sharefab/v1/telemetry/+ (QoS 1, persistent session) and store telemetry,
    acknowledging each message only after its batch is committed. Stops on Ctrl-C/SIGTERM
    after committing the batch in progress."""
    from sharefab.iot.ingest import TelemetryWriter
    from sharefab.iot.mqtt import BrokerAddress, MqttIngester
    from sharefab.storage.db import make_engine

    if method not in ("auto", "copy", "unnest", "rows"):
        fail(f"--method must be auto, copy, unnest or rows (got {method!r})")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    with friendly_errors():
        url = _db(db)
        migrate(url)
        broker = BrokerAddress.from_url(_mqtt(mqtt_url))
        engine = make_engine(url)
        writer = TelemetryWriter(engine, method=method)  # type: ignore[arg-type]
        ingester = MqttIngester(
            writer,
            broker,
            client_id=client_id or f"sharefab-ingest-{share_group or 'main'}",
            share_group=share_group,
            batch_size=batch_size,
            max_delay=max_delay,
            receive_maximum=receive_maximum,
            session_expiry=session_expiry,
        )

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            if duration is not None:
                loop.call_later(duration, stop.set)
            task = asyncio.create_task(ingester.run(stop))
            last = ingester.stats.accepted
            while not task.done():
                await asyncio.wait({task}, timeout=stats_every)
                s = ingester.stats
                if not quiet and not task.done():
                    rate = (s.accepted - last) / stats_every
                    last = s.accepted
                    err.print(
                        f"received {s.received} stored {s.accepted} duplicates {s.duplicates} "
                        f"rejected {s.rejected} batches {s.batches} ({rate:,.0f} msg/s)",
                        highlight=False,
                    )
            await task

        asyncio.run(main())
        engine.dispose()
        s = ingester.stats
        typer.echo(
            json.dumps(
                {
                    "received": s.received,
                    "stored": s.accepted,
                    "duplicates": s.duplicates,
                    "rejected": s.rejected,
                    "batches": s.batches,
                    "seconds": round(time.monotonic() - s.started, 3),
                }
            ),
        )


@devices_app.command("simulate")
def simulate(
    resources: Annotated[int, typer.Option(min=1, help="Number of simulated machines.")] = 10,
    offset: Annotated[int, typer.Option(min=0, help="Skip the first K resources.")] = 0,
    rate: Annotated[float, typer.Option(help="Messages per second in total (0 = max).")] = 100.0,
    transport: Annotated[str, typer.Option(help="mqtt | http")] = "mqtt",
    duration: Annotated[float | None, typer.Option(help="Seconds to run.")] = None,
    count: Annotated[int | None, typer.Option(help="Messages to send in total.")] = None,
    db: DbOption = None,
    mqtt_url: MqttOption = None,
    api_url: Annotated[str, typer.Option(help="Base URL for --transport http.")] = (
        "http://127.0.0.1:8000"
    ),
    tokens: Annotated[
        Path | None,
        typer.Option(help="JSON {resource_id: 'key.secret'} for http (default: rotate)."),
    ] = None,
    start_message_id: Annotated[int, typer.Option(help="First message id per machine.")] = 0,
    max_inflight: Annotated[int, typer.Option(min=1, help="MQTT in-flight window.")] = 1000,
    per_publish: Annotated[
        int, typer.Option(min=1, max=1000, help="Readings per MQTT message (JSON array).")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Publish realistic telemetry for the first N resources of the database, following their
    bookings (running inside, idle outside). Message ids continue from the newest stored id
    of each resource unless --start-message-id is given."""
    from sharefab.iot.simulator import Fleet, MqttPublisher, publish_http, publish_mqtt

    if transport not in ("mqtt", "http"):
        fail(f"--transport must be mqtt or http (got {transport!r})")
    if duration is None and count is None:
        duration = 10.0
    with friendly_errors():
        url = _db(db)
        migrate(url)
        machines = _machines(url, resources, start_message_id, offset)
        fleet = Fleet(machines, seed=seed)
        ids = [m.resource_id for m in machines]
        if transport == "mqtt":
            from sharefab.iot.mqtt import BrokerAddress

            broker = BrokerAddress.from_url(_mqtt(mqtt_url))

            async def run_mqtt() -> tuple[int, int, float]:
                pub = MqttPublisher(
                    broker.host,
                    broker.port,
                    client_id=f"sharefab-sim-{seed}-{offset}",
                    username=broker.username,
                    password=broker.password,
                    max_inflight=max_inflight,
                    persistent=False,
                )
                await pub.connect()
                rep = await publish_mqtt(
                    fleet, pub, rate=rate, count=count, duration=duration, per_publish=per_publish
                )
                await pub.drain()
                await pub.disconnect()
                return rep.sent, len(pub.acked), rep.seconds

            sent, acked, seconds = asyncio.run(run_mqtt())
        else:
            token_map = _tokens(url, ids, tokens)
            rep = asyncio.run(
                publish_http(fleet, api_url, token_map, rate=rate, count=count, duration=duration)
            )
            sent, acked, seconds = rep.sent, rep.acked, rep.seconds
        typer.echo(
            json.dumps(
                {
                    "transport": transport,
                    "resources": len(ids),
                    "sent": sent,
                    "acknowledged": acked,
                    "seconds": round(seconds, 3),
                    "rate": round(sent / seconds, 1) if seconds else 0.0,
                }
            ),
        )


def _machines(url: str, n: int, start_message_id: int, offset: int = 0) -> list:  # type: ignore[type-arg]
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from sharefab.iot.simulator import SimulatedMachine
    from sharefab.storage.db import make_engine, make_session_factory
    from sharefab.storage.models import ACTIVE_BOOKING_STATUSES, Booking, Resource
    from sharefab.storage.telemetry_models import Telemetry

    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        with make_session_factory(engine)() as session:
            ids = list(
                session.scalars(select(Resource.id).order_by(Resource.id).offset(offset).limit(n))
            )
            if not ids:
                raise ValueError("the database has no resources; run 'sharefab seed' first")
            machines = []
            for rid in ids:
                bookings = session.execute(
                    select(Booking.start_at, Booking.end_at)
                    .where(Booking.resource_id == rid)
                    .where(Booking.status.in_(ACTIVE_BOOKING_STATUSES))
                    .where(Booking.end_at > now - timedelta(days=1))
                ).all()
                last = session.scalar(
                    select(func.max(Telemetry.message_id)).where(Telemetry.resource_id == rid)
                )
                first = start_message_id or (int(last or 0) + 1)
                machines.append(
                    SimulatedMachine(
                        rid, bookings=[(b[0], b[1]) for b in bookings], next_message_id=first
                    )
                )
            return machines
    finally:
        engine.dispose()


def _tokens(url: str, ids: list[int], path: Path | None) -> dict[int, str]:
    if path is not None:
        raw = json.loads(path.read_text())
        return {int(k): str(v) for k, v in raw.items()}
    from sharefab.iot.devices import issue_credential
    from sharefab.storage.db import make_engine, make_session_factory

    err.print("no --tokens file: rotating the device credentials of the simulated resources")
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return {
                rid: issue_credential(session, rid, rotate=True, label="simulator").token
                for rid in ids
            }
    finally:
        engine.dispose()


def _credential_command(resource_id: int, db: str | None, *, rotate: bool, label: str) -> None:
    from sharefab.iot.devices import issue_credential
    from sharefab.storage.db import make_engine, make_session_factory

    with friendly_errors():
        url = _db(db)
        migrate(url)
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            cred = issue_credential(session, resource_id, rotate=rotate, label=label)
        engine.dispose()
    typer.echo(
        json.dumps(
            {
                "resource_id": cred.resource_id,
                "key_id": cred.key_id,
                "secret": cred.secret,
                "http_authorization": f"Device {cred.token}",
                "mqtt_username": str(cred.resource_id),
                "mqtt_password": cred.secret,
            }
        ),
    )
    err.print("the secret is shown only now; store it on the device")


@credentials_app.command("create")
def credentials_create(
    resource_id: int, db: DbOption = None, label: Annotated[str, typer.Option()] = ""
) -> None:
    """Issue the first credential of a resource (refused while one is active)."""
    _credential_command(resource_id, db, rotate=False, label=label)


@credentials_app.command("rotate")
def credentials_rotate(
    resource_id: int, db: DbOption = None, label: Annotated[str, typer.Option()] = ""
) -> None:
    """Revoke the active credential of a resource and issue a new one."""
    _credential_command(resource_id, db, rotate=True, label=label)


@credentials_app.command("revoke")
def credentials_revoke(resource_id: int, db: DbOption = None) -> None:
    """Revoke the active credential of a resource."""
    from sharefab.iot.devices import revoke_all
    from sharefab.storage.db import make_engine, make_session_factory

    with friendly_errors():
        url = _db(db)
        migrate(url)
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            n = revoke_all(session, resource_id)
        engine.dispose()
    console.print(f"revoked {n} credential(s) of resource {resource_id}")


@devices_app.command("broker-config")
def broker_config(
    out: Annotated[Path, typer.Option(help="Directory for mosquitto.conf, passwords, acl.")],
    db: DbOption = None,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 1883,
    bind: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    persistence_dir: Annotated[str, typer.Option(help="Where Mosquitto keeps its state.")] = (
        "/var/lib/mosquitto"
    ),
    max_queued_messages: Annotated[int, typer.Option(min=0)] = 1_000_000,
    max_inflight_messages: Annotated[int, typer.Option(min=0)] = 0,
    autosave_interval: Annotated[int, typer.Option(min=0)] = 10,
    auth: Annotated[bool, typer.Option(help="Per-device passwords and ACL.")] = True,
    ingest_password: Annotated[
        str | None, typer.Option(help="Password of the 'sharefab-ingest' broker account.")
    ] = None,
) -> None:
    """Write a Mosquitto configuration: persistence on, QoS 1 queues that do not drop,
    per-device passwords from the active device credentials and an ACL that lets each device
    publish only to sharefab/v1/telemetry/<its resource id>."""
    from sharefab.iot.devices import BrokerConfig, write_broker_files
    from sharefab.storage.db import make_engine, make_session_factory

    cfg = BrokerConfig(
        port=port,
        bind=bind,
        persistence_dir=persistence_dir,
        autosave_interval=autosave_interval,
        max_queued_messages=max_queued_messages,
        max_inflight_messages=max_inflight_messages,
        auth=auth,
    )
    with friendly_errors():
        if auth and not ingest_password:
            fail("--ingest-password is required with per-device auth (or pass --no-auth)")
        session = None
        engine = None
        if auth:
            url = _db(db)
            migrate(url)
            engine = make_engine(url)
            session = make_session_factory(engine)()
        try:
            paths = write_broker_files(out, cfg, session=session, ingest_password=ingest_password)
        finally:
            if session is not None:
                session.close()
            if engine is not None:
                engine.dispose()
    for kind, path in paths.items():
        console.print(f"{kind}: {path}")
    console.print(f"run: mosquitto -c {paths['conf']}")


def register(app: typer.Typer) -> None:
    """Add ``ingest`` and ``devices`` to the top-level app."""
    app.command("ingest")(ingest)
    app.add_typer(devices_app, name="devices")
