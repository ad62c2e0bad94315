"""Synthetic cluster benchmark: plans for 200 to 20,000 jobs x 5 operations on 500 resources in
20 sites (calendars, existing bookings, k-capacity stations, transport, due dates; objective:
total weighted tardiness), every plan checked by the validator, with its gap to the computed
lower bound (``sharefab.scheduling.generator.lower_bound``; the makespan gap is shown too,
because the tardiness bound, each job alone, is weak under load).

Sizes up to ``--solver-max-jobs`` (default 2,000, the headline row) use
``sharefab.scheduling.solve.solve`` with ``--method`` (default ``auto``: heuristic warm start,
CP-SAT, LNS) on ``--workers`` workers; larger sizes use the constructive heuristic alone. The
table says which; the last columns show the heuristic alone (the warm start) on every size.

Run: ``.venv/bin/python -m benchmarks.cluster_scale [--sizes 200,2000,20000] [--time-limit 60]``
"""

from __future__ import annotations

import argparse
import sys
import time

from sharefab.scheduling.bounds import term_bounds
from sharefab.scheduling.generator import lower_bound, synthetic_cluster
from sharefab.scheduling.heuristic import construct
from sharefab.scheduling.model import ProblemData, Result
from sharefab.scheduling.validator import validate

DEFAULT_SIZES = "200,500,1000,2000,5000,10000,20000"


def _solve(data: ProblemData, method: str, time_limit: float, workers: int) -> Result:
    if method == "heuristic":
        return construct(data, time_limit=time_limit, bound=False)
    from sharefab.scheduling.solve import solve

    return solve(data, method=method, time_limit=time_limit, workers=workers)


def gap(value: float, bound: float) -> float:
    return 100.0 * (value - bound) / max(bound, 1.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated job counts")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--method", default="auto", help="solve() method for small sizes")
    parser.add_argument("--solver-max-jobs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv if argv is not None else [])
    sizes = [int(x) for x in args.sizes.split(",") if x]
    print(
        f"cluster scale: 5 ops/job, 500 resources, 20 sites, objective weighted tardiness, "
        f"time limit {args.time_limit:g} s, {args.workers} workers"
    )
    header = (
        f"{'jobs':>6} {'method':<10} {'gen s':>6} {'solve s':>8} {'valid':>5} "
        f"{'objective':>12} {'bound':>11} {'gap %':>8} {'makespan':>9} {'ms gap %':>8} "
        f"{'heur s':>7} {'heur obj':>12} {'heur gap %':>10}"
    )
    print(header)
    for n in sizes:
        t = time.perf_counter()
        data = synthetic_cluster(n, seed=args.seed)
        gen = time.perf_counter() - t
        method = args.method if n <= args.solver_max_jobs else "heuristic"
        t = time.perf_counter()
        result = _solve(data, method, args.time_limit, args.workers)
        run = time.perf_counter() - t
        if result.solution is None:
            print(f"{n:>6} {method:<10} {gen:>6.1f} {run:>8.1f} no plan: {result.status}")
            continue
        report = validate(data, result.solution)
        bound = max(lower_bound(data), result.lower_bound or 0.0)
        ms_bound = term_bounds(data)["makespan"]
        # the constructive heuristic alone (the warm start), for comparison
        if method == "heuristic":
            heur, heur_s = result, run
        else:
            t = time.perf_counter()
            heur = construct(data, time_limit=args.time_limit, bound=False)
            heur_s = time.perf_counter() - t
        heur_obj = validate(data, heur.solution).objective if heur.solution else float("nan")
        print(
            f"{n:>6} {method:<10} {gen:>6.1f} {run:>8.1f} {'yes' if report.ok else 'NO':>5} "
            f"{report.objective:>12.0f} {bound:>11.0f} {gap(report.objective, bound):>8.1f} "
            f"{report.makespan:>9} {gap(report.makespan, ms_bound):>8.1f} "
            f"{heur_s:>7.1f} {heur_obj:>12.0f} {gap(heur_obj, bound):>10.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
