"""``sharefab optimize``: re-plan one or several clusters' not-yet-started work (platform
operator tool working directly on the database; see :mod:`sharefab.services.optimize`).
Several clusters' solves run side by side with ``--executor ray`` / ``SHAREFAB_EXECUTOR=ray``
(:mod:`sharefab.scheduling.executors`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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


def _all_cluster_ids(url: str) -> list[int]:
    """Every cluster's id, in id order."""
    from sqlalchemy import select

    from sharefab.storage.db import make_engine, make_session_factory
    from sharefab.storage.models import Cluster

    engine = make_engine(url, null_pool=True)
    try:
        with make_session_factory(engine)() as session:
            ids = [int(i) for i in session.scalars(select(Cluster.id).order_by(Cluster.id))]
    finally:
        engine.dispose()
    if not ids:
        fail("there are no clusters; run 'sharefab seed' first")
    return ids


def _table(result: object, title: str = "Cluster re-optimisation") -> Table:
    before, after = result.before, result.after  # type: ignore[attr-defined]
    table = Table(title=f"{title}: {result.status}")  # type: ignore[attr-defined]
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


def _print(result: object, title: str = "Cluster re-optimisation") -> None:
    console.print(_table(result, title))
    for move in result.moves[:20]:  # type: ignore[attr-defined]
        console.print(
            f"  {move.order_ref} work order {move.work_order_id}: resource "
            f"{move.from_resource_id} {move.from_start:%m-%d %H:%M} -> resource "
            f"{move.to_resource_id} {move.to_start:%m-%d %H:%M}"
        )
    if result.message:  # type: ignore[attr-defined]
        console.print(result.message)  # type: ignore[attr-defined]
    console.print(f"run {result.run_id} ({result.runtime_s:.1f} s)")  # type: ignore[attr-defined]


def _with_progress(
    work: Callable[[Callable[[str, str], None]], object], total: float | None
) -> object:
    """Run ``work(progress)`` in a thread under a progress bar (elapsed against ``total``
    seconds, or pulsing without one); its error is raised here."""
    outcome: dict[str, object] = {}
    stage = {"text": "loading"}

    def target() -> None:
        try:
            outcome["result"] = work(lambda name, text: stage.update(text=f"{name}: {text}"))
        except BaseException as exc:  # handed to the main thread, reported there
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="sharefab-optimize", daemon=True)
    started = time.monotonic()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("loading", total=total)
        thread.start()
        while thread.is_alive():
            thread.join(0.1)
            elapsed = time.monotonic() - started
            done = min(total, elapsed) if total is not None else None
            progress.update(task, completed=done, description=stage["text"][:70])
        if total is not None:
            progress.update(task, completed=total)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]


def optimize(
    cluster: Annotated[
        list[str],
        typer.Option(
            "--cluster",
            help="Cluster name or id; repeat it for several, or 'all' for every cluster.",
        ),
    ],
    time_limit: Annotated[
        float,
        typer.Option("--time-limit", min=0.1, max=600, help="Solver seconds (per cluster)."),
    ] = 10.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report the improvement, change nothing.")
    ] = False,
    executor: Annotated[
        str | None,
        typer.Option(
            "--executor",
            help="Where the solves run: inline or ray (default: SHAREFAB_EXECUTOR, inline).",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Re-plan the clusters' movable work with CP-SAT/LNS; print KPIs before and after."""
    from sharefab.config import get_settings
    from sharefab.scheduling.executors import make_executor
    from sharefab.services.optimize import optimize_cluster, optimize_clusters
    from sharefab.storage.db import database_url_from_env, make_engine, make_session_factory

    with friendly_errors():
        settings = get_settings()
        name = executor or settings.executor
        runner = make_executor(name, address=settings.ray_address, num_cpus=settings.ray_num_cpus)
        url = db or database_url_from_env()
        migrate(url)
        if "all" in cluster:
            ids = _all_cluster_ids(url)
        else:
            ids = list(dict.fromkeys(_cluster_id(url, c) for c in cluster))
        engine = make_engine(url)
        try:
            if len(ids) == 1 and runner.name == "inline":
                result = _with_progress(
                    lambda progress: optimize_cluster(
                        make_session_factory(engine),
                        ids[0],
                        time_limit_s=time_limit,
                        dry_run=dry_run,
                        progress=progress,
                    ),
                    time_limit,
                )
                _print(result)
                return
            results = _with_progress(
                lambda progress: optimize_clusters(
                    make_session_factory(engine),
                    ids,
                    executor=runner,
                    time_limit_s=time_limit,
                    dry_run=dry_run,
                    progress=progress,
                ),
                None,
            )
        finally:
            engine.dispose()
            runner.close()
        for result in results:  # type: ignore[attr-defined]
            _print(result, f"Cluster {result.cluster_id} re-optimisation")
        failed = [r for r in results if r.status == "failed"]  # type: ignore[attr-defined]
        if failed:
            fail(
                "; ".join(f"cluster {r.cluster_id}: {r.message}" for r in failed)
                + f" ({len(failed)} of {len(ids)} cluster(s) failed; the others are above)"
            )


def register(app: typer.Typer) -> None:
    """Add ``optimize`` to the top-level app."""
    app.command("optimize")(optimize)
