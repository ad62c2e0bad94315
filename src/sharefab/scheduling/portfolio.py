"""CP-SAT and LNS side by side, sharing one incumbent (the ``"auto"`` method's engine).

With ``W`` workers, the full CP-SAT model runs in a background thread with ``W - 1`` workers
(hinted with the warm start; it proves bounds and often optimality), while the
large-neighbourhood search runs in the foreground with one worker. Every plan CP-SAT finds is
offered to the shared :class:`Incumbent`, from which the LNS takes its next starting point;
CP-SAT's proven bound stops the LNS as soon as the incumbent reaches it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ortools.sat.python import cp_model

from sharefab.scheduling.cpsat import CpSatModel, evaluate, objective_key, objective_value
from sharefab.scheduling.lns import lns
from sharefab.scheduling.model import ProblemData, Result, Solution, SolveStatus

Progress = Callable[[str, float], None]


class Incumbent:
    """The best plan found so far by any solver thread, and the best proven lower bound."""

    def __init__(self, data: ProblemData, solution: Solution, lower_bound: float | None = None):
        self._data = data
        self._lock = threading.Lock()
        self.solution = solution
        self.key = objective_key(data, evaluate(data, solution))
        self.lower_bound = lower_bound
        self.stop = threading.Event()

    def offer(self, solution: Solution, progress: Progress | None = None, stage: str = "") -> bool:
        """Keep ``solution`` if strictly better (then report it); returns whether it was kept."""
        terms = evaluate(self._data, solution)
        key = objective_key(self._data, terms)
        with self._lock:
            if key >= self.key:
                return False
            self.solution, self.key = solution, key
            if progress is not None:
                progress(stage, objective_value(self._data, terms))
        return True

    def raise_bound(self, bound: float) -> None:
        with self._lock:
            if self.lower_bound is None or bound > self.lower_bound:
                self.lower_bound = bound

    def snapshot(self) -> tuple[Solution, tuple[float, ...]]:
        with self._lock:
            return self.solution, self.key


class _Callback(cp_model.CpSolverSolutionCallback):
    def __init__(self, model: CpSatModel, incumbent: Incumbent, progress: Progress | None):
        super().__init__()
        self._model = model
        self._incumbent = incumbent
        self._progress = progress

    def on_solution_callback(self) -> None:
        solution = self._model.extract(self)  # type: ignore[arg-type]
        self._incumbent.offer(solution, self._progress, "cpsat")


def run_portfolio(
    data: ProblemData,
    start: Solution,
    *,
    time_limit: float,
    seed: int,
    workers: int,
    lower_bound: float | None = None,
    progress: Progress | None = None,
) -> Result:
    """CP-SAT (``workers - 1`` workers) and LNS (one worker) until the limit or a proof."""
    started = time.perf_counter()
    incumbent = Incumbent(data, start, lower_bound)
    model = CpSatModel(data)
    model.add_hint(start)
    model.model.minimize(model.objective.combined(list(data.objective.weights)))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, time_limit)
    solver.parameters.num_workers = max(1, workers - 1)
    solver.parameters.random_seed = seed
    solver.best_bound_callback = incumbent.raise_bound
    outcome: list[cp_model.CpSolverStatus] = []

    def run_cpsat() -> None:
        code = solver.solve(model.model, _Callback(model, incumbent, progress))
        outcome.append(code)
        if code == cp_model.OPTIMAL:
            incumbent.raise_bound(float(solver.objective_value))
            incumbent.stop.set()

    thread = threading.Thread(target=run_cpsat, name="cpsat", daemon=True)
    thread.start()
    result = lns(
        data,
        start,
        time_limit=max(0.0, time_limit - (time.perf_counter() - started)),
        seed=seed,
        workers=1,
        parallel=False,
        progress=progress,
        incumbent=incumbent,
    )
    solver.stop_search()
    thread.join()
    best, _ = incumbent.snapshot()
    if result.solution is not None:
        incumbent.offer(result.solution)
        best, _ = incumbent.snapshot()
    value = objective_value(data, evaluate(data, best))
    bound = incumbent.lower_bound
    proved = bool(outcome) and outcome[0] == cp_model.OPTIMAL and value <= solver.objective_value
    if bound is not None and value <= bound:
        proved = True
    status = SolveStatus.OPTIMAL if proved else SolveStatus.FEASIBLE
    if proved:
        bound = value
    stats = dict(result.stats)
    stats["cpsat_bound"] = float(bound) if bound is not None else float("nan")
    return Result(
        status, value, bound, time.perf_counter() - started, best, solver="auto", stats=stats
    )
