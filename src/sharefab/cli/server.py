"""``sharefab serve``, ``seed`` and ``demo``."""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sharefab.cli.common import DEFAULT_DB_URL, friendly_errors, migrate

if TYPE_CHECKING:
    from sharefab.iot.mqtt import IngestStats
    from sharefab.iot.serve import EmbeddedIngest
    from sharefab.services.seed import SeedSummary

console = Console()

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: SHAREFAB_DATABASE_URL or ./var/sharefab.db)."
    ),
]


def _resolve_db(db: str | None) -> str:
    from sharefab.storage.db import database_url_from_env

    return db or database_url_from_env()


def _run_server(
    url: str,
    host: str,
    port: int,
    webhooks: bool = True,
    ingest: EmbeddedIngest | None = None,
    *,
    workers: int = 1,
    access_log: bool = True,
) -> None:
    migrate(url)
    console.print(
        f"ShareFab on [bold]http://{host}:{port}/[/bold]  (database {_shown(url)}"
        + (f", {workers} worker processes)" if workers > 1 else ")"),
        soft_wrap=True,  # one line, whatever the terminal width (URLs stay whole)
    )
    serve_one = partial(
        _serve_worker, url, host, port, webhooks, ingest, access_log=access_log, workers=workers
    )
    if workers == 1:
        serve_one(0)
        return
    from sharefab.cli.workers import check_port_free, run_workers

    check_port_free(host, port)
    code = run_workers(workers, serve_one)
    if code:  # a worker failed (or was killed: a negative signal number): all were stopped
        console.print(f"[red]a worker process exited with {code}; stopped the others[/red]")
        raise typer.Exit(code if code > 0 else 1)


def _serve_worker(
    url: str,
    host: str,
    port: int,
    webhooks: bool,
    ingest: EmbeddedIngest | None,
    index: int,
    *,
    access_log: bool,
    workers: int,
) -> None:
    """One server process: the site, plus (in the first process only) the webhook dispatcher
    and the MQTT ingester. With several workers, each listens on its own ``SO_REUSEPORT``
    socket (see :mod:`sharefab.cli.workers`)."""
    import uvicorn

    from sharefab.config import Settings
    from sharefab.web import create_site

    settings = Settings(database_url=url, host=host, port=port)
    app = create_site(settings)
    if webhooks and index == 0:  # deliver the webhook outbox in a background thread
        from sharefab.services.webhook_delivery import install_webhook_dispatcher

        install_webhook_dispatcher(app)
    if ingest is not None and index == 0:  # the MQTT telemetry ingester in this lifespan
        from sharefab.iot.serve import install_mqtt_ingest

        def stopped(s: IngestStats) -> None:
            console.print(
                f"MQTT ingest stopped: received {s.received}, stored {s.accepted}, "
                f"duplicates {s.duplicates}, rejected {s.rejected}",
                highlight=False,
            )

        ingester = install_mqtt_ingest(app, ingest, on_stop=stopped)
        console.print(
            f"MQTT ingest: {ingester.topic} on {_shown_mqtt(ingest.mqtt_url)} "
            f"(client id {ingest.client_id})"
        )
    config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=access_log)
    server = uvicorn.Server(config)
    if workers == 1:
        server.run()
        return
    from sharefab.cli.workers import listening_socket

    # Ctrl-C reaches every worker; uvicorn stops cleanly, then re-raises it
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listening_socket(host, port)])


def _shown_mqtt(url: str) -> str:
    from sharefab.iot.mqtt import BrokerAddress

    broker = BrokerAddress.from_url(url)
    return f"{broker.host}:{broker.port}" + (f" as {broker.username}" if broker.username else "")


def _shown(url: str) -> str:
    from sharefab.storage.db import normalize_url

    return normalize_url(url).render_as_string(hide_password=True)


def _seed_with_progress(url: str, factories: int, seed: int, reset: bool):
    from sharefab.services.seed import seed_database

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=max(total, 1))
            progress.update(tasks[stage], completed=done, total=max(total, 1))

        return seed_database(url, factories=factories, seed=seed, reset=reset, progress=report)


def _summary_table(summary: SeedSummary) -> Table:
    table = Table(title="Seeded demo cluster", show_header=True)
    table.add_column("what")
    table.add_column("rows", justify="right")
    for name, value in summary.counts().items():
        table.add_row(name, f"{value:,}")
    return table


def _print_logins(summary: SeedSummary) -> None:
    logins = summary.logins
    if not logins:
        return
    table = Table(title="Demo logins (password for all: see below)")
    table.add_column("organization", overflow="fold")
    table.add_column("e-mail", no_wrap=True)
    for org, email in logins[:8]:
        table.add_row(org, email)
    console.print(table)
    console.print(f"Password: [bold]{summary.password}[/bold]")


def register(app: typer.Typer) -> None:
    """Add the server commands to the top-level app."""

    @app.command()
    def serve(
        db: DbOption = None,
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
        webhooks: Annotated[
            bool,
            typer.Option(
                envvar="SHAREFAB_WEBHOOK_DISPATCH",
                help="Deliver queued webhooks from a background thread of this process.",
            ),
        ] = True,
        ingest: Annotated[
            bool,
            typer.Option(
                envvar="SHAREFAB_MQTT_INGEST",
                help="Also run the MQTT telemetry ingester in this process (stopped cleanly "
                "with the server); 'sharefab ingest' runs it as its own process instead.",
            ),
        ] = False,
        mqtt_url: Annotated[
            str | None,
            typer.Option(
                "--mqtt-url",
                help="Broker for --ingest: mqtt://host:port or mqtt://user:password@host:port "
                "(default: SHAREFAB_MQTT_URL or mqtt://127.0.0.1:1883).",
            ),
        ] = None,
        ingest_client_id: Annotated[
            str, typer.Option(help="MQTT client id (persistent session) of --ingest.")
        ] = "sharefab-ingest-serve",
        ingest_share_group: Annotated[
            str | None,
            typer.Option(help="Join $share/<group>/... with other ingesters (--ingest)."),
        ] = None,
        workers: Annotated[
            int,
            typer.Option(
                envvar="SHAREFAB_WORKERS",
                min=1,
                max=64,
                help="Server processes on the port (one per core is a good start); the "
                "kernel spreads connections over them (SO_REUSEPORT). Webhooks and --ingest "
                "run in the first one only.",
            ),
        ] = 1,
        access_log: Annotated[
            bool, typer.Option(help="Log every request (uvicorn's access log).")
        ] = True,
    ) -> None:
        """Run the API and the web pages (migrates the database first)."""
        with friendly_errors():
            embedded = None
            if ingest:
                from sharefab.config import Settings
                from sharefab.iot.mqtt import BrokerAddress, subscription_topic
                from sharefab.iot.serve import EmbeddedIngest

                embedded = EmbeddedIngest(
                    mqtt_url=mqtt_url or Settings().mqtt_url,
                    client_id=ingest_client_id,
                    share_group=ingest_share_group,
                )
                # refuse a malformed URL or group before the server starts
                BrokerAddress.from_url(embedded.mqtt_url)
                subscription_topic(embedded.share_group)
            _run_server(
                _resolve_db(db),
                host,
                port,
                webhooks,
                embedded,
                workers=workers,
                access_log=access_log,
            )

    @app.command()
    def seed(
        db: DbOption = None,
        factories: Annotated[
            int, typer.Option(help="Number of provider factories.", min=1, max=20000)
        ] = 40,
        seed: Annotated[
            int, typer.Option("--seed", help="Random seed (same seed, same data).")
        ] = 7,
        reset: Annotated[bool, typer.Option("--reset", help="Delete existing data first.")] = False,
    ) -> None:
        """Create the schema and load a realistic, deterministic demo cluster."""
        with friendly_errors():
            summary = _seed_with_progress(_resolve_db(db), factories, seed, reset)
            console.print(_summary_table(summary))
            console.print(f"Took {summary.seconds:.1f} s.")
            _print_logins(summary)

    @app.command()
    def demo(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    ) -> None:
        """Seed ./var/sharefab.db if it is empty, print the demo logins, then serve."""
        from sharefab.services.seed import database_is_empty, demo_logins

        with friendly_errors():
            url = DEFAULT_DB_URL
            Path("var").mkdir(exist_ok=True)
            migrate(url)
            if database_is_empty(url):
                summary = _seed_with_progress(url, 40, 7, False)
                console.print(_summary_table(summary))
                _print_logins(summary)
            else:
                console.print("Database ./var/sharefab.db already holds data; not seeding again.")
                _print_logins(demo_logins(url))
            _run_server(url, host, port)
