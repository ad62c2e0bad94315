"""The public entry point of the scheduling engine: :func:`solve`.

Methods:

* ``"heuristic"`` — the constructive insertion heuristic alone (milliseconds);
* ``"cpsat"`` — the CP-SAT model, hinted with the heuristic's plan (or the given ``hint``);
* ``"lns"`` — large-neighbourhood search from the heuristic's plan (or the hint);
* ``"auto"`` — ShareFab's best: the best of the constructive heuristic and randomised list
  scheduling as warm start, then CP-SAT hinted with it (it proves bounds and often
  optimality) for 90% of the time on small (at most :data:`LARGE` operations) or nearly
  rigid problems and half of it on larger flexible ones (:data:`CPSAT_SHARE`), then LNS from
  the best plan for the rest (or, with :data:`PORTFOLIO`, both side by side on a shared
  incumbent). Stops early once the plan reaches a proven lower bound. When building the full
  model would not fit the time limit (large clusters, see :data:`BUILD_RATE`), LNS runs in
  its frozen mode from the warm start.

Infeasibility is a status with a diagnosis, never an exception; bad arguments raise
``ValueError``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace

from sharefab.scheduling.bounds import lower_bound
from sharefab.scheduling.cpsat import CpSatModel, evaluate, objective_key, objective_value
from sharefab.scheduling.cpsat.model import FLEXIBLE
from sharefab.scheduling.cpsat.variables import estimated_size, usable_modes
from sharefab.scheduling.diagnosis import diagnose
from sharefab.scheduling.heuristic import construct
from sharefab.scheduling.lns import lns
from sharefab.scheduling.model import Diagnosis, ProblemData, Result, Solution, SolveStatus
from sharefab.scheduling.portfolio import run_portfolio
from sharefab.scheduling.warmstart import list_schedule

Progress = Callable[[str, float], None]
METHODS = ("auto", "heuristic", "cpsat", "lns")

#: Constraints the CP-SAT model builder creates per second (measured: 30,000-50,000 on the
#: loaded development machine; see :func:`~sharefab.scheduling.cpsat.variables.estimated_size`).
BUILD_RATE = 25_000
#: Skip the full CP-SAT model (and run LNS in its frozen mode from the warm start) when
#: building it would take more than this share of the time limit.
MAX_BUILD_SHARE = 0.25
#: LNS builds a fresh restricted model per round up to this size, else clones the full one.
REBUILD_SIZE = 5_000
#: Whether "auto" runs CP-SAT and LNS side by side (:mod:`sharefab.scheduling.portfolio`,
#: with a warm start, two or more workers and a weighted objective) instead of one after the
#: other. Off: on the FJSP families, measured side by side on a loaded 2-core machine, CP-SAT
#: with all workers first and LNS after did as well or better on most instances.
PORTFOLIO = False
#: Share of the time limit "auto" gives the full CP-SAT model (all workers) before LNS, by
#: problem shape. Measured side by side on the FJSP families: on nearly rigid problems (fewer
#: than :data:`~sharefab.scheduling.cpsat.model.FLEXIBLE` modes per operation) and on problems
#: of up to :data:`LARGE` operations, CP-SAT continuing beats LNS; on larger flexible ones LNS
#: pays off. Measured side by side at 10 s, 2 workers, seeds 0 and 1: with 200 instead of 250,
#: Brandimarte mk10 (240 operations) reached 218-222 instead of 220-225 over three sessions;
#: mk09, mk13 and Hurink vdata la38 were unchanged. With 100, mk10 gained as much but mk06
#: (150 operations) lost (65/63 vs 61/63), so smaller problems keep CP-SAT.
CPSAT_SHARE = 0.9
CPSAT_SHARE_LARGE = 0.5
LARGE = 200
#: Share of the time limit (at most one second) the warm start gets on small problems.
WARM_SHARE = 0.05
#: Share of the time limit the warm start may take on problems of more than :data:`LARGE`
#: operations, so that the constructive heuristic can try all its dispatch rules (with one
#: rule only, "auto" returned worse plans than the heuristic alone at 500-1,000 cluster jobs).
#: The randomised list scheduling after it gets at most :data:`WARM_SHARE` of the limit (up
#: to one second) even then: before, it repeated until the 25% were spent, on FJSP instances
#: of 225-300 operations (mk09, mk10, Hurink la31-la40, Barnes seti5) too.
WARM_SHARE_LARGE = 0.25


def solve(
    data: ProblemData,
    *,
    method: str = "auto",
    time_limit: float,
    seed: int = 0,
    workers: int = 2,
    hint: Solution | None = None,
    progress: Progress | None = None,
) -> Result:
    """Schedule ``data`` within ``time_limit`` seconds; returns a :class:`Result`.

    ``progress(stage, objective)`` is called whenever a better plan is found.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    if not time_limit > 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if hint is not None and len(hint.lots) != len(data.operations):
        raise ValueError(
            f"hint has lots for {len(hint.lots)} operations, problem has {len(data.operations)}"
        )
    started = time.perf_counter()
    if method == "heuristic":
        result = construct(data, seed=seed, time_limit=time_limit)
    else:
        result = _optimise(data, method, time_limit, seed, workers, hint, progress, started)
    runtime = time.perf_counter() - started
    if result.status in (SolveStatus.INFEASIBLE, SolveStatus.UNKNOWN) and not result.diagnosis:
        diagnosis = _diagnose(data)
        status = SolveStatus.INFEASIBLE if diagnosis else result.status
        return Result(
            status, None, None, runtime, None, diagnosis, result.solver, dict(result.stats)
        )
    return Result(
        result.status,
        result.objective,
        result.lower_bound,
        runtime,
        result.solution,
        result.diagnosis,
        result.solver,
        dict(result.stats),
    )


def _optimise(
    data: ProblemData,
    method: str,
    time_limit: float,
    seed: int,
    workers: int,
    hint: Solution | None,
    progress: Progress | None,
    started: float,
) -> Result:
    def left() -> float:
        return time_limit - (time.perf_counter() - started)

    start = hint
    stats: dict[str, float] = {}
    if start is None:
        start = _warm_start(
            data, seed, _warm_budget(data, time_limit), min(1.0, WARM_SHARE * time_limit)
        )
        if start is not None:
            value = objective_value(data, evaluate(data, start))
            stats["warm_start"] = value
            if progress is not None:
                progress("heuristic", value)
    if any(not usable_modes(data, op) for op in data.operations):
        return Result(SolveStatus.INFEASIBLE, None, None, 0.0, None, solver=method)
    size = estimated_size(data)
    stats["model_size"] = float(size)
    static_bound = _static_lower_bound(data)
    if start is not None and static_bound is not None:
        value = objective_value(data, evaluate(data, start))
        if value <= static_bound:
            return Result(
                SolveStatus.OPTIMAL, value, value, 0.0, start, solver="heuristic", stats=stats
            )
    if size / BUILD_RATE > MAX_BUILD_SHARE * time_limit:
        # Building the full model alone would eat the time limit: improve the warm start by
        # LNS on sub-models of the freed operations only (the rest frozen in place).
        stats["model_too_large"] = 1.0
        if start is None:
            return Result(SolveStatus.UNKNOWN, None, static_bound, 0.0, None, method, stats=stats)
        if method == "cpsat":
            value = objective_value(data, evaluate(data, start))
            return Result(SolveStatus.FEASIBLE, value, static_bound, 0.0, start, stats=stats)
        result = lns(
            data,
            start,
            time_limit=max(0.0, left()),
            seed=seed,
            workers=workers,
            lower_bound=static_bound,
            progress=progress,
            frozen=True,
        )
        stats.update(result.stats)
        return replace(result, solver=method, stats=stats)
    model = CpSatModel(data)
    if method == "cpsat":
        result = model.solve(
            time_limit=left(), seed=seed, workers=workers, hint=start, progress=progress
        )
        return _best_of(data, result, start, stats)
    portfolio = PORTFOLIO and not data.objective.lexicographic
    if method == "auto" and portfolio and workers >= 2 and start is not None:
        result = run_portfolio(
            data,
            start,
            time_limit=left(),
            seed=seed,
            workers=workers,
            lower_bound=static_bound,
            progress=progress,
        )
        stats.update(result.stats)
        return replace(result, stats=stats)
    share = _cpsat_share(data, model) if method == "auto" else (0.0 if start is not None else 0.2)
    lower: float | None = None
    best = start
    if share > 0:
        first = model.solve(
            time_limit=left() * share, seed=seed, workers=workers, hint=start, progress=progress
        )
        if first.status in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE):
            return _best_of(data, first, start, stats)
        lower = _max(first.lower_bound, static_bound)
        best = _better(data, first.solution, best)
    else:
        lower = static_bound
    if best is None:
        return Result(SolveStatus.UNKNOWN, None, lower, 0.0, None, solver=method, stats=stats)
    result = lns(
        data,
        best,
        time_limit=max(0.0, left()),
        seed=seed,
        workers=workers,
        lower_bound=lower,
        model=model,
        progress=progress,
        rebuild=size <= REBUILD_SIZE,
    )
    stats.update(result.stats)
    return Result(
        result.status,
        result.objective,
        lower,
        result.runtime,
        result.solution,
        solver=method,
        stats=stats,
    )


def _cpsat_share(data: ProblemData, model: CpSatModel) -> float:
    """How much of the time "auto" gives CP-SAT before LNS (see :data:`CPSAT_SHARE`)."""
    n_ops = len(data.operations)
    n_modes = sum(len(modes) for modes in model.variables.modes_of)
    rigid = n_modes < FLEXIBLE * max(1, n_ops)
    return CPSAT_SHARE if rigid or n_ops <= LARGE else CPSAT_SHARE_LARGE


def _better(data: ProblemData, a: Solution | None, b: Solution | None) -> Solution | None:
    if a is None or b is None:
        return a if b is None else b
    ka = objective_key(data, evaluate(data, a))
    kb = objective_key(data, evaluate(data, b))
    return a if ka <= kb else b


def _best_of(
    data: ProblemData, result: Result, start: Solution | None, stats: dict[str, float]
) -> Result:
    """``result``, or the warm start when the solver found nothing better in time."""
    best = _better(data, result.solution, start)
    if best is None or best is result.solution:
        return Result(
            result.status,
            result.objective,
            result.lower_bound,
            result.runtime,
            result.solution,
            solver=result.solver,
            stats=stats,
        )
    value = objective_value(data, evaluate(data, best))
    return Result(
        SolveStatus.FEASIBLE, value, result.lower_bound, result.runtime, best, stats=stats
    )


def _warm_budget(data: ProblemData, time_limit: float) -> float:
    """Seconds for the warm start (see :data:`WARM_SHARE` and :data:`WARM_SHARE_LARGE`)."""
    if len(data.operations) > LARGE:
        return WARM_SHARE_LARGE * time_limit
    return min(1.0, WARM_SHARE * time_limit)


def _warm_start(
    data: ProblemData, seed: int, budget: float, list_budget: float | None = None
) -> Solution | None:
    """The best of the constructive heuristic and randomised list scheduling within ``budget``.

    The randomised list scheduling repeats until ``budget`` is spent, or ``list_budget`` (if
    given) after the heuristic: its repeats improve little (mk10: 236 after 5 tries, then no
    better in 100; Hurink edata la35: 2069 to 2007 in 100 tries, where CP-SAT reaches about
    1740), so on FJSP-sized problems the time is better spent by CP-SAT and LNS.
    """
    started = time.perf_counter()
    best: Solution | None = None
    warm = construct(data, seed=seed, time_limit=budget / 2)
    if warm.feasible:
        best = warm.solution
    rng = random.Random(seed)
    deadline = started + budget
    if list_budget is not None:
        deadline = min(deadline, time.perf_counter() + list_budget)
    plan = list_schedule(data, deadline=deadline)
    while plan is not None:
        best = _better(data, plan, best)
        plan = list_schedule(data, rng, deadline)
    return best


def _max(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return max(a, b)


def _static_lower_bound(data: ProblemData) -> float:
    """The cheap lower bound of :mod:`sharefab.scheduling.bounds`."""
    return float(lower_bound(data))


def _diagnose(data: ProblemData) -> tuple[Diagnosis, ...]:
    return tuple(diagnose(data))
