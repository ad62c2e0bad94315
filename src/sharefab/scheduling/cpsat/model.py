"""The CP-SAT model composed of :class:`Variables`, :class:`Constraints` and :class:`Objective`."""

from __future__ import annotations

import time
from collections.abc import Callable

from ortools.sat.python import cp_model

from sharefab.scheduling.cpsat.constraints import Constraints
from sharefab.scheduling.cpsat.objective import Objective, evaluate, objective_value
from sharefab.scheduling.cpsat.variables import Variables
from sharefab.scheduling.model import (
    Lot,
    ObjectiveKind,
    ProblemData,
    Result,
    Solution,
    SolveStatus,
)

Progress = Callable[[str, float], None]
#: Which linear load bounds to add: "auto" (per resource when the mean number of usable modes
#: per operation is at least :data:`FLEXIBLE`), "machine", "total", "both" or "none".
REDUNDANT = "auto"
#: Measured on the FJSP families: per-resource load bounds help a lot on flexible instances
#: (Brandimarte, Hurink vdata: ~3 modes per operation) and slow down nearly rigid ones (Barnes,
#: Hurink edata: ~1.2 modes per operation).
FLEXIBLE = 1.5
#: Also state each operation's length as a linear sum over its modes (``_link_durations``);
#: off: neutral within the noise of side-by-side runs on the FJSP families.
LINK_DURATIONS = False
#: Add the linear job-path bounds (``_job_path_bounds``).
JOB_PATHS = False


class CpSatModel:
    """CP-SAT formulation of a :class:`ProblemData` (PyJobShop shape).

    The objective is *not* set at construction: :meth:`solve` sets it (a weighted sum, or one
    stage per term for a lexicographic objective), and :mod:`sharefab.scheduling.lns` sets its
    own on clones of :attr:`model`.
    """

    def __init__(
        self,
        data: ProblemData,
        model: cp_model.CpModel | None = None,
        horizon: int | None = None,
        redundant: bool | str = True,
    ):
        self.data = data
        self.model = model if model is not None else cp_model.CpModel()
        self.variables = Variables(self.model, data, horizon)
        self.constraints = Constraints(self.model, data, self.variables)
        self.objective = Objective(self.model, data, self.variables, self.constraints)
        #: The load bounds actually added ("machine", "total", "both" or "none").
        self.load_bounds = "none"
        if redundant:
            self._redundant_load_bounds(REDUNDANT if redundant is True else str(redundant))

    @property
    def trivially_infeasible(self) -> bool:
        """Some operation has no usable mode at all."""
        return any(not modes for modes in self.variables.modes_of)

    def _redundant_load_bounds(self, mode: str) -> None:
        """Makespan >= the load of every resource (over its capacity), and the mean load.

        Implied by the resource constraints, but stated linearly they give the LP relaxation
        the classic machine-load lower bounds (see :data:`REDUNDANT`).
        """
        cmax = getattr(self.objective, "makespan_var", None)
        if cmax is None:
            return
        per_res: dict[int, list[cp_model.LinearExprT]] = {}
        total: list[cp_model.LinearExprT] = []
        for lots in self.variables.lots:
            for lot in lots:
                for mv in lot.modes:
                    if mv.resumable_on_calendar or not isinstance(mv.work, int):
                        continue
                    per_res.setdefault(mv.resource, []).append(mv.work * mv.present)
                    total.append(mv.work * mv.present)
        if mode == "auto":
            n_modes = sum(len(m) for m in self.variables.modes_of)
            flexible = n_modes >= FLEXIBLE * max(1, len(self.data.operations))
            mode = "machine" if flexible else "none"
        self.load_bounds = mode
        if LINK_DURATIONS and mode != "none":
            self._link_durations()
        if JOB_PATHS and mode != "none":
            self._job_path_bounds(cmax)
        if mode in ("machine", "both"):
            for r, loads in per_res.items():
                self.model.add(sum(loads) <= self.data.resources[r].capacity * cmax)
        if total and len(per_res) > 1 and mode in ("total", "both"):
            all_cap = sum(res.capacity for res in self.data.resources)
            self.model.add(sum(total) <= all_cap * cmax)

    def _job_path_bounds(self, cmax: cp_model.IntVar) -> None:
        """Makespan >= release + the chosen processing times of every chain job (linear)."""
        succ = self.data.successors()
        for j, ops in enumerate(self.data.job_operations()):
            if any(len(succ[i]) > 1 for i in ops) or any(
                len(self.variables.lots[i]) != 1 for i in ops
            ):
                continue
            terms = [
                mv.work * mv.present
                for i in ops
                for mv in self.variables.lots[i][0].modes
                if isinstance(mv.work, int) and not mv.resumable_on_calendar
            ]
            if terms:
                self.model.add(cmax >= self.data.jobs[j].release + sum(terms))

    def _link_durations(self) -> None:
        """``end - start == sum(duration * chosen)`` for lots with a fixed-time mode choice.

        Implied by the optional intervals, but linear: with the precedences it gives the LP
        relaxation the job-path lower bounds.
        """
        for lots in self.variables.lots:
            if len(lots) != 1:
                continue
            lot = lots[0]
            if any(mv.resumable_on_calendar or not isinstance(mv.work, int) for mv in lot.modes):
                continue
            if lot.modes:
                self.model.add(lot.end - lot.start == sum(mv.work * mv.present for mv in lot.modes))

    # -- hints and solutions ---------------------------------------------------------------

    def add_hint(self, solution: Solution, model: cp_model.CpModel | None = None) -> None:
        """Hint every lot's mode, times and quantity from ``solution`` (``AddHint``)."""
        m = model if model is not None else self.model
        for i, lots in enumerate(self.variables.lots):
            given = sorted(solution.lots[i], key=lambda lot: lot.resource)
            for slot_no, slot in enumerate(lots):
                lot = given[slot_no] if slot_no < len(given) else None
                if slot.present is not None:
                    m.add_hint(slot.present, lot is not None)
                if lot is None:
                    for mv in slot.modes:
                        m.add_hint(mv.present, False)
                    continue
                m.add_hint(slot.start, lot.start)
                m.add_hint(slot.end, lot.end)
                if not isinstance(slot.quantity, int):
                    m.add_hint(slot.quantity, lot.quantity)
                for mv in slot.modes:
                    m.add_hint(mv.present, mv.resource == lot.resource)
        cmax = getattr(self.objective, "makespan_var", None)
        if cmax is not None:
            m.add_hint(cmax, solution.makespan())

    def extract(self, solver: cp_model.CpSolver) -> Solution:
        """The :class:`Solution` held by ``solver``'s last feasible assignment."""
        out: list[tuple[Lot, ...]] = []
        for lots in self.variables.lots:
            found: list[Lot] = []
            for slot in lots:
                if slot.present is not None and not solver.boolean_value(slot.present):
                    continue
                mv = next(mv for mv in slot.modes if solver.boolean_value(mv.present))
                q = slot.quantity if isinstance(slot.quantity, int) else solver.value(slot.quantity)
                found.append(Lot(mv.resource, solver.value(slot.start), solver.value(slot.end), q))
            out.append(tuple(found))
        return Solution(tuple(out))

    # -- solving ---------------------------------------------------------------------------

    def solve(
        self,
        *,
        time_limit: float,
        seed: int = 0,
        workers: int = 2,
        hint: Solution | None = None,
        progress: Progress | None = None,
    ) -> Result:
        """Solve to the time limit: one weighted-sum solve, or staged lexicographic solves."""
        started = time.perf_counter()
        if self.trivially_infeasible:
            return Result(SolveStatus.INFEASIBLE, None, None, 0.0, None, solver="cpsat")
        if hint is not None:
            self.add_hint(hint)
        weights = list(self.data.objective.weights)
        stages = [[w] for w in weights] if self.data.objective.lexicographic else [weights]
        best: Solution | None = None
        status = SolveStatus.UNKNOWN
        bound: float | None = None
        for n, stage in enumerate(stages):
            remaining = time_limit - (time.perf_counter() - started)
            budget = remaining / (len(stages) - n)
            model = self.model if len(stages) == 1 else self.model.clone()
            if n > 0 and best is not None:
                values = evaluate(self.data, best)
                for kind, _ in weights[:n]:
                    model.add(self.objective.terms[kind] <= values[kind])
                model.clear_hints()
                self.add_hint(best, model)
            model.minimize(self.objective.combined([(k, max(w, 1)) for k, w in stage]))
            solver = _solver(budget, seed, workers)
            code = solver.solve(model)
            if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                best = self.extract(solver)
                optimal = code == cp_model.OPTIMAL
                status = (
                    SolveStatus.OPTIMAL
                    if optimal and status != SolveStatus.FEASIBLE
                    else (SolveStatus.FEASIBLE)
                )
                if n == 0 and len(stages) == 1:
                    bound = float(solver.best_objective_bound)
                if progress is not None:
                    progress("cpsat", float(solver.objective_value))
            elif code == cp_model.INFEASIBLE:
                status = SolveStatus.INFEASIBLE
                break
            else:
                break
        runtime = time.perf_counter() - started
        if best is None:
            return Result(status, None, None, runtime, None, solver="cpsat")
        value = objective_value(self.data, evaluate(self.data, best))
        if status == SolveStatus.OPTIMAL:
            bound = value
        return Result(status, value, bound, runtime, best, solver="cpsat")


def _solver(time_limit: float, seed: int, workers: int) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, time_limit)
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = max(1, workers)
    return solver


def solve_cpsat(
    data: ProblemData,
    *,
    time_limit: float,
    seed: int = 0,
    workers: int = 2,
    hint: Solution | None = None,
    progress: Progress | None = None,
) -> Result:
    """Build :class:`CpSatModel` for ``data`` and solve it (infeasible is a status)."""
    return CpSatModel(data).solve(
        time_limit=time_limit, seed=seed, workers=workers, hint=hint, progress=progress
    )


__all__ = ["CpSatModel", "ObjectiveKind", "solve_cpsat"]
