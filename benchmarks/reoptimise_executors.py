"""Re-optimising several clusters: the inline executor (baseline, one solve after the other)
against the Ray executor (solves side by side), same clusters, same run.

``--clusters`` synthetic backlogs of :mod:`benchmarks.reoptimise` (seeds 1, 2, ...) in one
SQLite database; :func:`sharefab.services.optimize.optimize_clusters` in dry-run mode (so both
executors see the same plans) first inline, then on a local Ray with ``--ray-cpus`` CPUs
(started before the clock, its start-up time printed apart). Prints the wall time of each,
the ratio Ray / inline, and each cluster's lateness and makespan after (the side-by-side
solves share the machine's cores, so quality within the same time limit may differ).

Run: ``flock /tmp/bench.lock .venv/bin/python -m benchmarks.reoptimise_executors
[--clusters 2] [--orders 120] [--time-limit 10] [--ray-cpus 2]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from benchmarks.reoptimise import build


def main(argv: list[str] | None = None) -> None:
    """Build the clusters, re-optimise them with both executors and print the ratio."""
    from sharefab.scheduling.executors import InlineExecutor, RayExecutor
    from sharefab.services.optimize import optimize_clusters
    from sharefab.storage.db import make_engine, make_session_factory, upgrade_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--orders", type=int, default=120)
    parser.add_argument("--providers", type=int, default=4)
    parser.add_argument("--machines", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--ray-cpus", type=int, default=2)
    args = parser.parse_args(argv)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'executors.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        ids = []
        for n in range(args.clusters):
            with factory() as session, session.begin():
                one = argparse.Namespace(**{**vars(args), "seed": n + 1})
                ids.append(build(session, one, now))
                # build() names things as if alone: make the names of this cluster unique.
                session.execute(text("UPDATE clusters SET name = name || :s"), {"s": f" {n}"})
                session.execute(
                    text("UPDATE organizations SET name = :p || name WHERE name NOT LIKE 'c%'"),
                    {"p": f"c{n} "},
                )
                session.execute(
                    text("UPDATE orders SET ref = :p || ref WHERE ref NOT LIKE 'c%'"),
                    {"p": f"c{n}-"},
                )
        runs = {}
        inline = InlineExecutor()
        started = time.perf_counter()
        runs["inline"] = optimize_clusters(
            factory, ids, executor=inline, time_limit_s=args.time_limit, now=now, dry_run=True
        )
        inline_s = time.perf_counter() - started
        ray = RayExecutor(num_cpus=args.ray_cpus)
        started = time.perf_counter()
        ray.start()
        ray_start_s = time.perf_counter() - started
        started = time.perf_counter()
        try:
            runs["ray"] = optimize_clusters(
                factory, ids, executor=ray, time_limit_s=args.time_limit, now=now, dry_run=True
            )
        finally:
            ray_s = time.perf_counter() - started
            ray.close()
        engine.dispose()
    print(
        f"re-optimisation of {args.clusters} clusters x {args.orders} orders, time limit "
        f"{args.time_limit:g} s each, {os.cpu_count()} cores, Ray {args.ray_cpus} CPUs "
        f"(load average {os.getloadavg()[0]:.2f} at the end)"
    )
    print(
        f"{'executor':<8} {'wall s':>8} {'ratio':>6}  "
        "lateness / makespan after (before), per cluster"
    )
    for name, wall in (("inline", inline_s), ("ray", ray_s)):
        kpis = ", ".join(
            f"{r.after.lateness_h} h / {r.after.makespan_h} h "
            f"({r.before.lateness_h} h / {r.before.makespan_h} h) {r.status}"
            if r.after and r.before
            else f"{r.status}: {r.message}"
            for r in runs[name]
        )
        print(f"{name:<8} {wall:>8.1f} {wall / inline_s:>6.2f}  {kpis}")
    print(f"Ray start-up (not in the ray wall time): {ray_start_s:.1f} s")


if __name__ == "__main__":
    main()
