"""A plain textbook CP-SAT model of the flexible job shop: the side-by-side baseline.

One optional interval per (operation, eligible machine), exactly one chosen per operation, a
no-overlap per machine, precedences between operations, minimise the makespan. No hint, no
redundant constraints, no search tuning, no neighbourhood search: what a reader of the OR-Tools
examples would write. It ignores calendars, bookings, sites, lots and other objectives, so it is
meant for classic FJSP data only (one site, no calendars, makespan).
"""

from __future__ import annotations

import time

from ortools.sat.python import cp_model

from sharefab.scheduling.model import Lot, ProblemData, Result, Solution, SolveStatus


def solve_baseline(
    data: ProblemData, *, time_limit: float, seed: int = 0, workers: int = 2
) -> Result:
    """Minimise the makespan of ``data`` with the textbook model; ``Result`` like the others."""
    started = time.perf_counter()
    model = cp_model.CpModel()
    horizon = sum(max((m.duration for m in op.modes), default=0) for op in data.operations)
    starts, ends, choices = [], [], []
    per_machine: list[list[cp_model.IntervalVar]] = [[] for _ in data.resources]
    for i, op in enumerate(data.operations):
        start = model.new_int_var(0, horizon, f"s{i}")
        end = model.new_int_var(0, horizon, f"e{i}")
        lits = []
        for mode in op.modes:
            lit = model.new_bool_var(f"x{i}_{mode.resource}")
            interval = model.new_optional_interval_var(
                start, mode.duration, end, lit, f"iv{i}_{mode.resource}"
            )
            per_machine[mode.resource].append(interval)
            lits.append(lit)
        model.add_exactly_one(lits)
        starts.append(start)
        ends.append(end)
        choices.append(lits)
    for intervals in per_machine:
        model.add_no_overlap(intervals)
    for a, b in data.precedences:
        model.add(starts[b] >= ends[a])
    makespan = model.new_int_var(0, horizon, "makespan")
    model.add_max_equality(makespan, ends)
    model.minimize(makespan)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, time_limit)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    code = solver.solve(model)
    runtime = time.perf_counter() - started
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        lots = []
        for i, op in enumerate(data.operations):
            mode = next(m for m, lit in zip(op.modes, choices[i], strict=True) if solver.value(lit))
            s = solver.value(starts[i])
            lots.append((Lot(mode.resource, s, s + mode.duration, op.quantity),))
        status = SolveStatus.OPTIMAL if code == cp_model.OPTIMAL else SolveStatus.FEASIBLE
        return Result(
            status,
            float(solver.objective_value),
            float(solver.best_objective_bound),
            runtime,
            Solution(tuple(lots)),
            solver="baseline",
        )
    status = SolveStatus.INFEASIBLE if code == cp_model.INFEASIBLE else SolveStatus.UNKNOWN
    return Result(status, None, None, runtime, None, solver="baseline")
