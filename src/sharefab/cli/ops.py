"""``sharefab optimize``: re-plan a cluster's not-yet-started work (platform operator tool
working directly on the database; see :mod:`sharefab.services.optimize`)."""

from __future__ import annotations

import threading
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sharefab.cli.common import fail, friendly_errors, migrate

console = Console()

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: SHAREFAB_DATABASE_URL or ./var/sharefab.db)."
    ),
]


def _cluster_id(url: str, cluster: str) -> int:
    """The id of the cluster named or numbered ``cluster``."""
    from sqlalchemy import or_, select

    from sharefab.storage.db import make_engine, make_session_factory
    from sharefab.storage.models import Cluster

    engine = make_engine(url, null_pool=True)
    try:
        with make_session_factory(engine)() as session:
            condition = Cluster.name == cluster
            if cluster.isdigit():
                condition = or_(condition, Cluster.id == int(cluster))
            found = session.scalars(select(Cluster.id).where(condition)).first()
            if found is None:
                names = session.scalars(select(Cluster.name).order_by(Cluster.id).limit(10)).all()
                known = ", ".join(names) or "none; run 'sharefab seed' first"
                fail(f"unknown cluster {cluster!r} (known: {known})")
            return int(found)
    finally:
        engine.dispose()


def _table(result: object) -> Table:
    before, after = result.before, result.after  # type: ignore[attr-defined]
    table = Table(title=f"Cluster re-optimisation: {result.status}")  # type: ignore[attr-defined]
    table.add_column("KPI")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    rows = (
        ("utilisation", lambda k: f"{100 * k.utilisation:.1f} %"),
        ("lateness vs due (h)", lambda k: f"{k.lateness_h:,.2f}"),
        ("late orders", lambda k: f"{k.late_orders}"),
        ("makespan (h)", lambda k: f"{k.makespan_h:,.2f}"),
        ("moved operations", lambda k: f"{k.moved}"),
    )
    for name, show in rows:
        table.add_row(name, show(before) if before else "-", show(after) if after else "-")
    return table


def optimize(
    cluster: Annotated[str, typer.Option("--cluster", help="Cluster name or id.")],
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.1, max=600, help="Solver seconds.")
    ] = 10.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report the improvement, change nothing.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Re-plan the cluster's movable work with CP-SAT/LNS; print KPIs before and after."""
    from sharefab.services.optimize import optimize_cluster
    from sharefab.storage.db import database_url_from_env, make_engine, make_session_factory

    with friendly_errors():
        url = db or database_url_from_env()
        migrate(url)
        cluster_id = _cluster_id(url, cluster)
        engine = make_engine(url)
        outcome: dict[str, object] = {}
        stage = {"text": "loading"}

        def work() -> None:
            try:
                outcome["result"] = optimize_cluster(
                    make_session_factory(engine),
                    cluster_id,
                    time_limit_s=time_limit,
                    dry_run=dry_run,
                    progress=lambda name, text: stage.update(text=f"{name}: {text}"),
                )
            except BaseException as exc:  # handed to the main thread, reported there
                outcome["error"] = exc

        thread = threading.Thread(target=work, name="sharefab-optimize", daemon=True)
        started = time.monotonic()
        try:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task("loading", total=time_limit)
                thread.start()
                while thread.is_alive():
                    thread.join(0.1)
                    elapsed = min(time_limit, time.monotonic() - started)
                    progress.update(task, completed=elapsed, description=stage["text"][:70])
                progress.update(task, completed=time_limit)
        finally:
            engine.dispose()
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        result = outcome["result"]
        console.print(_table(result))
        for move in result.moves[:20]:  # type: ignore[attr-defined]
            console.print(
                f"  {move.order_ref} work order {move.work_order_id}: resource "
                f"{move.from_resource_id} {move.from_start:%m-%d %H:%M} -> resource "
                f"{move.to_resource_id} {move.to_start:%m-%d %H:%M}"
            )
        if result.message:  # type: ignore[attr-defined]
            console.print(result.message)  # type: ignore[attr-defined]
        console.print(f"run {result.run_id} ({result.runtime_s:.1f} s)")  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    """Add ``optimize`` to the top-level app."""
    app.command("optimize")(optimize)
