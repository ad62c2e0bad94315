"""Large-neighbourhood search over the CP-SAT model.

Start from a feasible plan, then repeatedly: pick a neighbourhood (random jobs, jobs related
to a seed job by shared resources, a time window, a group of resources, the critical path or the
tardy jobs), *free* its operations, and re-solve with CP-SAT for a short sub-limit while every
other operation keeps its resource, lot sizes and its order on unary resources (its times may
still move, so freed work can be packed tighter). The "sequence" neighbourhood frees only the
order of a larger time window: every operation keeps its resources (a job-shop sub-problem).
A plan no worse than the incumbent replaces it (plateau moves help on makespan). The choice of
neighbourhood is adaptive (a score per kind, rewarded when it improves), and the neighbourhood
size grows when sub-problems are solved to optimality without gain and shrinks when they time
out. Works on any :class:`ProblemData`:
calendars, bookings, transport, lots and every objective.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ortools.sat.python import cp_model

from sharefab.scheduling.cpsat import CpSatModel, evaluate, objective_key, objective_value
from sharefab.scheduling.cpsat.variables import default_horizon
from sharefab.scheduling.lns_frozen import solve_frozen
from sharefab.scheduling.model import ObjectiveKind, ProblemData, Result, Solution, SolveStatus
from sharefab.scheduling.validator import validate

if TYPE_CHECKING:
    from sharefab.scheduling.portfolio import Incumbent

Progress = Callable[[str, float], None]
#: Run ``workers`` one-worker sub-problems at once (else one ``workers``-worker sub-problem).
PARALLEL = True
#: Break objective ties by the total completion time of the jobs.
SECONDARY = False
#: Extra CP-SAT parameters for the sub-problems (name -> value).
SUB_PARAMETERS: dict[str, object] = {}
#: ... and for those of pure makespan problems. Without the LP relaxation, a sub-problem round
#: is refuted or improved sooner: LNS from the same mk10 plan (225) for 5 s, 2 workers,
#: seeds 0-6, reached 216.3 on average instead of about 219.
MAKESPAN_SUB_PARAMETERS: dict[str, object] = {"linearization_level": 0}
#: Initial neighbourhood size (operations) of the frozen mode.
FROZEN_START_SIZE = 40
KINDS = ("random_jobs", "related_jobs", "time_window", "resources", "critical", "sequence")
#: The "sequence" neighbourhood keeps every operation on its resources and frees the order of
#: this many times the current neighbourhood size (a job-shop sub-problem, which CP-SAT solves
#: far more easily than the same operations with their machine choice free).
SEQUENCE_FACTOR = 3.0


@dataclass(slots=True)
class LnsStats:
    """What the search did; returned in ``Result.stats``."""

    iterations: int = 0
    improvements: int = 0
    sub_optimal: int = 0


def lns(
    data: ProblemData,
    start: Solution,
    *,
    time_limit: float,
    seed: int = 0,
    workers: int = 1,
    sub_limit: float = 0.5,
    lower_bound: float | None = None,
    model: CpSatModel | None = None,
    progress: Progress | None = None,
    parallel: bool | None = None,
    rebuild: bool = True,
    incumbent: Incumbent | None = None,
    frozen: bool = False,
) -> Result:
    """Improve ``start`` (a feasible plan) by large-neighbourhood search until ``time_limit``.

    ``lower_bound`` (if known) stops the search once the incumbent reaches it. With
    ``parallel`` (the default), ``workers`` sub-problems run at once in threads, one CP-SAT
    worker each; otherwise one sub-problem at a time uses ``workers`` CP-SAT workers. A shared
    ``incumbent`` (see :mod:`sharefab.scheduling.portfolio`) exchanges plans and bounds with
    another solver running at the same time. With ``frozen``, the full model is never built:
    each round models only the freed operations around the frozen rest
    (:mod:`sharefab.scheduling.lns_frozen`), for plans too large to model whole; its plans are
    checked by the validator before they are accepted.
    """
    started = time.perf_counter()
    deadline = started + time_limit
    base = None if frozen else (model if model is not None else CpSatModel(data))
    parallel = PARALLEL if parallel is None else parallel
    search = _Search(data, base, random.Random(seed), seed, workers, rebuild)
    search.frozen = frozen
    best = start
    best_terms = evaluate(data, best)
    best_key = search.key(best, best_terms)
    stats = LnsStats()
    n_ops = len(data.operations)
    size = max(2.0, min(n_ops, 6 + n_ops * 0.08, FROZEN_START_SIZE if frozen else n_ops))
    threads = max(1, workers) if parallel else 1
    sub_workers = 1 if parallel else workers
    pending: dict[Future[tuple[Solution | None, bool]], tuple[str, int]] = {}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        done_all = False
        while True:
            remaining = deadline - time.perf_counter()
            stop = remaining < 0.05 or n_ops == 0 or done_all
            if incumbent is not None:
                stop = stop or incumbent.stop.is_set()
                lower_bound = incumbent.lower_bound
                shared, shared_key = incumbent.snapshot()
                if shared_key < best_key[:-1]:
                    best, best_terms = shared, evaluate(data, shared)
                    best_key = search.key(best, best_terms)
            if lower_bound is not None and objective_value(data, best_terms) <= lower_bound:
                stop = True
            while not stop and len(pending) < threads:
                kind = search.pick_kind()
                keep = kind == "sequence"
                n_free = int(min(n_ops, size * SEQUENCE_FACTOR)) if keep else int(size)
                free = search.neighbourhood(kind, best, n_free)
                if len(free) >= n_ops:
                    free = set(range(n_ops))
                limit = min(sub_limit, remaining)
                job = pool.submit(
                    search.solve_sub, best, best_terms, free, limit, sub_workers, keep
                )
                pending[job] = (kind, -1 if keep else len(free))
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for job in finished:
                kind, n_free = pending.pop(job)
                solution, optimal = job.result()
                stats.iterations += 1
                improved = False
                if solution is not None:
                    terms = evaluate(data, solution)
                    key = search.key(solution, terms)
                    if key[:-1] < best_key[:-1]:
                        improved = True
                        stats.improvements += 1
                        if incumbent is not None:
                            incumbent.offer(solution, progress, "lns")
                        elif progress is not None:
                            progress("lns", objective_value(data, terms))
                    if key <= best_key:
                        best, best_terms, best_key = solution, terms, key
                search.reward(kind, improved)
                if optimal:
                    stats.sub_optimal += 1
                    if not improved:
                        size = min(float(n_ops), size * 1.1 + 0.5)
                    if n_free >= n_ops:  # (-1 for "sequence": machines were kept)
                        done_all = True  # the whole problem was solved to optimality
                else:
                    size = max(2.0, size * 0.9)
    value = objective_value(data, best_terms)
    status = SolveStatus.FEASIBLE
    if lower_bound is not None and value <= lower_bound:
        status = SolveStatus.OPTIMAL
    return Result(
        status,
        value,
        lower_bound,
        time.perf_counter() - started,
        best,
        solver="lns",
        stats={
            "iterations": float(stats.iterations),
            "improvements": float(stats.improvements),
            "sub_optimal": float(stats.sub_optimal),
            "final_size": size,
            "rejected": float(search.rejected),
        },
    )


class _Search:
    """Neighbourhood choice and sub-problem solving for :func:`lns`."""

    def __init__(
        self,
        data: ProblemData,
        base: CpSatModel | None,
        rng: random.Random,
        seed: int,
        workers: int,
        rebuild: bool = True,
    ):
        self.data = data
        self.base = base
        self.rng = rng
        self.seed = seed
        self.workers = workers
        self.rebuild = rebuild
        self.frozen = False
        self.rejected = 0
        self.horizon = base.variables.horizon if base is not None else default_horizon(data)
        self.secondary = SECONDARY
        succ = data.successors()
        self.sinks = {
            i for i, op in enumerate(data.operations) if not succ[i] and not op.splittable
        }
        self.scores = dict.fromkeys(KINDS, 1.0)
        if ObjectiveKind.MAKESPAN not in dict(data.objective.weights) and not any(
            j.due is not None for j in data.jobs
        ):
            self.scores["critical"] = 0.0
        rigid = all(len(op.modes) <= 1 for op in data.operations)
        if "sequence" in self.scores and (rigid or base is None):
            self.scores["sequence"] = 0.0  # nothing to keep: same as "time_window"
        self.job_ops = data.job_operations()
        self.preds = data.predecessors()
        self.calls = 0
        self.makespan_only = {k for k, w in data.objective.weights if w} == {ObjectiveKind.MAKESPAN}

    def key(self, sol: Solution, terms: dict[ObjectiveKind, int]) -> tuple[float, ...]:
        """Objective key, then the total completion time of the jobs (the tie-breaker)."""
        flow = sum(sol.lots[i][0].end for i in self.sinks) if self.secondary else 0
        return (*objective_key(self.data, terms), float(flow))

    # -- adaptive choice -------------------------------------------------------------------

    def pick_kind(self) -> str:
        kinds = [k for k in KINDS if self.scores[k] > 0]
        return self.rng.choices(kinds, weights=[self.scores[k] for k in kinds])[0]

    def reward(self, kind: str, improved: bool) -> None:
        if self.scores[kind] <= 0:
            return
        self.scores[kind] = max(0.1, 0.9 * self.scores[kind] + (1.0 if improved else 0.05))

    # -- neighbourhoods --------------------------------------------------------------------

    def neighbourhood(self, kind: str, sol: Solution, size: int) -> set[int]:
        """Operation indices to free (about ``size`` of them)."""
        builder = {
            "random_jobs": self._random_jobs,
            "related_jobs": self._related_jobs,
            "time_window": self._time_window,
            "resources": self._resources,
            "critical": self._critical,
            "sequence": self._time_window,
        }[kind]
        free = builder(sol, size)
        if not free:
            free = self._random_jobs(sol, size)
        return free

    def _add_jobs(self, jobs: list[int], size: int, free: set[int]) -> set[int]:
        for j in jobs:
            if len(free) >= size:
                break
            free.update(self.job_ops[j])
        return free

    def _random_jobs(self, sol: Solution, size: int) -> set[int]:
        jobs = list(range(len(self.data.jobs)))
        self.rng.shuffle(jobs)
        return self._add_jobs(jobs, size, set())

    def _related_jobs(self, sol: Solution, size: int) -> set[int]:
        """A seed job plus the jobs whose operations run on the same resources around then."""
        ops = self.data.operations
        seed_job = self.rng.randrange(len(self.data.jobs))
        resources: dict[int, list[tuple[int, int]]] = {}
        for i in self.job_ops[seed_job]:
            for lot in sol.lots[i]:
                resources.setdefault(lot.resource, []).append((lot.start, lot.end))
        scored: list[tuple[float, int]] = []
        for i, lots in enumerate(sol.lots):
            if ops[i].job == seed_job:
                continue
            for lot in lots:
                spans = resources.get(lot.resource)
                if spans:
                    dist = min(abs(lot.start - s) + abs(lot.end - e) for s, e in spans)
                    scored.append((dist + self.rng.random(), ops[i].job))
        scored.sort()
        order = [seed_job] + [j for _, j in scored]
        seen: list[int] = []
        for j in order:
            if j not in seen:
                seen.append(j)
        return self._add_jobs(seen, size, set())

    def _time_window(self, sol: Solution, size: int) -> set[int]:
        """All operations with a lot overlapping a random time window."""
        spans = sorted((lot.start, lot.end, i) for i, lots in enumerate(sol.lots) for lot in lots)
        if not spans:
            return set()
        k = self.rng.randrange(max(1, len(spans) - size))
        free: set[int] = set()
        for _, _, i in spans[k:]:
            if len(free) >= size:
                break
            free.add(i)
        return free

    def _resources(self, sol: Solution, size: int) -> set[int]:
        """The operations on a few random resources, within a random time window."""
        by_res: dict[int, list[tuple[int, int]]] = {}
        for i, lots in enumerate(sol.lots):
            for lot in lots:
                by_res.setdefault(lot.resource, []).append((lot.start, i))
        if not by_res:
            return set()
        res = list(by_res)
        self.rng.shuffle(res)
        chosen = res[: max(2, min(len(res), 1 + len(res) // 4))]
        ops = sorted(x for r in chosen for x in by_res[r])
        if len(ops) <= size:
            return {i for _, i in ops}
        k = self.rng.randrange(len(ops) - size + 1)
        return {i for _, i in ops[k : k + size]}

    def _critical(self, sol: Solution, size: int) -> set[int]:
        """Operations on a critical path (makespan) or of tardy jobs, plus random company."""
        data = self.data
        free: set[int] = set()
        if ObjectiveKind.MAKESPAN in dict(data.objective.weights):
            free = self._critical_path(sol)
        else:
            tardy = _tardy_jobs(data, sol)
            self.rng.shuffle(tardy)
            free = self._add_jobs(tardy, max(1, size // 2), set())
        if len(free) > size:
            free = set(self.rng.sample(sorted(free), size))
        extra = self._random_jobs(sol, max(1, size - len(free)))
        return free | set(list(extra)[: max(0, size - len(free))])

    def _critical_path(self, sol: Solution) -> set[int]:
        site = [r.site for r in self.data.resources]
        ends: dict[tuple[int, int], list[int]] = {}
        for i, lots in enumerate(sol.lots):
            for lot in lots:
                ends.setdefault((lot.resource, lot.end), []).append(i)
        makespan = sol.makespan()
        stack = [i for i, lots in enumerate(sol.lots) if any(lot.end == makespan for lot in lots)]
        stack = [self.rng.choice(stack)] if stack else []
        path: set[int] = set()
        while stack:
            i = stack.pop()
            if i in path:
                continue
            path.add(i)
            lot = min(sol.lots[i], key=lambda x: x.start)
            tight = [
                a
                for a in self.preds[i]
                for la in sol.lots[a]
                if la.end + self.data.travel(site[la.resource], site[lot.resource]) == lot.start
            ]
            tight += ends.get((lot.resource, lot.start), [])
            if tight:
                stack.append(self.rng.choice(tight))
        return path

    # -- sub-problem -----------------------------------------------------------------------

    def solve_sub(
        self,
        incumbent: Solution,
        terms: dict[ObjectiveKind, int],
        free: set[int],
        limit: float,
        workers: int = 1,
        keep_resources: bool = False,
    ) -> tuple[Solution | None, bool]:
        """Re-solve with ``free`` operations released; returns (plan or None, proved optimal).

        With ``keep_resources``, the freed operations keep their resources and lot sizes too:
        only their order and times change.
        """
        self.calls += 1
        if self.base is None:
            plan, optimal = solve_frozen(
                self.data,
                incumbent,
                free,
                limit=limit,
                seed=self.seed + self.calls,
                workers=workers,
                horizon=self.horizon,
            )
            if plan is not None and not validate(self.data, plan).ok:
                self.rejected += 1
                return None, False
            return plan, optimal
        if self.rebuild:
            cm = CpSatModel(
                self._restricted(incumbent, set() if keep_resources else free),
                horizon=self.horizon,
                redundant=self.base.load_bounds,
            )
            model = cm.model
        else:
            cm = self.base
            model = cm.model.clone()
            model.clear_hints()
            model.clear_objective()
        self._fix_others(cm, model, incumbent, free, keep_resources)
        self._set_objective(cm, model, terms)
        cm.add_hint(incumbent, model)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.01, limit)
        solver.parameters.random_seed = self.seed + self.calls
        solver.parameters.log_search_progress = False
        solver.parameters.num_workers = workers
        extra = dict(SUB_PARAMETERS)
        if self.makespan_only:
            extra = {**MAKESPAN_SUB_PARAMETERS, **extra}
        for name, value in extra.items():
            setattr(solver.parameters, name, value)
        code = solver.solve(model)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, code == cp_model.INFEASIBLE
        return cm.extract(solver), code == cp_model.OPTIMAL

    def _restricted(self, sol: Solution, free: set[int]) -> ProblemData:
        """``data`` where every fixed operation keeps only the modes its lots use."""
        ops = list(self.data.operations)
        for i, op in enumerate(ops):
            if i in free:
                continue
            used = {lot.resource for lot in sol.lots[i]}
            ops[i] = replace(op, modes=tuple(m for m in op.modes if m.resource in used))
        return replace(self.data, operations=tuple(ops))

    def _fix_others(
        self,
        cm: CpSatModel,
        model: cp_model.CpModel,
        sol: Solution,
        free: set[int],
        keep_resources: bool = False,
    ) -> None:
        """Fixed operations keep resources, lot sizes and their order on unary resources.

        With ``keep_resources``, freed operations keep their resources and lot sizes as well.
        """
        variables = cm.variables
        sequences: dict[int, list[tuple[int, int, int]]] = {}
        for i, slots in enumerate(variables.lots):
            if i in free and not keep_resources:
                continue
            given = sorted(sol.lots[i], key=lambda lot: lot.resource)
            for slot_no, slot in enumerate(slots):
                lot = given[slot_no] if slot_no < len(given) else None
                if slot.present is not None:
                    model.add(slot.present == (lot is not None))
                if lot is None:
                    continue
                if not isinstance(slot.quantity, int):
                    model.add(slot.quantity == lot.quantity)
                chosen = next(mv for mv in slot.modes if mv.resource == lot.resource)
                if len(slot.modes) > 1 or slot.present is not None:
                    model.add(chosen.present == 1)
                if self.data.resources[lot.resource].capacity == 1 and i not in free:
                    sequences.setdefault(lot.resource, []).append((lot.start, i, slot_no))
        for seq in sequences.values():
            seq.sort()
            for (_, a, sa), (_, b, sb) in itertools.pairwise(seq):
                model.add(variables.lots[b][sb].start >= variables.lots[a][sa].end)

    def _set_objective(
        self, cm: CpSatModel, model: cp_model.CpModel, terms: dict[ObjectiveKind, int]
    ) -> None:
        """Minimise the objective, asking for a strict improvement on the incumbent.

        A neighbourhood that cannot improve is then usually refuted by propagation alone
        (e.g. a critical path made only of fixed operations), which keeps iterations cheap.
        With :data:`SECONDARY`, equal objective values are allowed instead and ties are
        broken by the total completion time of the jobs.
        """
        obj = cm.objective
        weights = list(self.data.objective.weights)
        slack = 0 if self.secondary else 1
        if self.data.objective.lexicographic:
            lex = obj.lexicographic_weights()
            primary = weights[0][0]
            model.add(obj.terms[primary] <= terms[primary])
            if lex is None:
                model.add(obj.terms[primary] <= terms[primary] - slack)
                model.minimize(obj.terms[primary])
                return
            current = sum(w * terms[k] for k, w in lex)
            model.add(obj.combined(lex) <= current - slack)
            model.minimize(obj.combined(lex))
            return
        expr = obj.combined(weights)
        model.add(expr <= int(objective_value(self.data, terms)) - slack)
        flow = [slots[0].end for i, slots in enumerate(cm.variables.lots) if i in self.sinks]
        scale = len(flow) * cm.variables.horizon + 1
        upper = sum(w * obj.upper[k] for k, w in weights)
        if flow and self.secondary and scale * upper < 2**60:
            model.minimize(scale * expr + sum(flow))
        else:
            model.minimize(expr)


def _tardy_jobs(data: ProblemData, sol: Solution) -> list[int]:
    completion = [0] * len(data.jobs)
    for i, lots in enumerate(sol.lots):
        for lot in lots:
            j = data.operations[i].job
            completion[j] = max(completion[j], lot.end)
    return [j for j, job in enumerate(data.jobs) if job.due is not None and completion[j] > job.due]
