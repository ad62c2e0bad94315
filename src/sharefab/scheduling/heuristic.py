"""Constructive list scheduling with insertion into free-interval indexes.

:func:`construct` dispatches operations whose predecessors are placed, in the order of a
priority rule, and inserts each on the mode that scores best (earliest completion, or an
objective-aware mix of completion and cost) in the earliest gap that fits, honouring
calendars, fixed bookings, capacity, release dates and transport lags, optionally splitting
lots. Rules:

* ``"est"`` — earliest ready time first, ties by most work remaining (good for makespan);
* ``"mwkr"`` — most work remaining (longest tail of minimum durations) first;
* ``"edd"`` — earliest due date first, then earliest ready;
* ``"slack"`` — least slack first: due date minus remaining work (latest start time);
* ``"atc"`` — apparent tardiness cost (weight / remaining work, discounted by slack) within
  coarse ready-time buckets (good for weighted tardiness);
* ``"auto"`` — several rules suited to the objective, as time allows; the best plan wins.

Quotes for one new job are in :mod:`sharefab.scheduling.quote` (re-exported here).
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from math import exp

from sharefab.scheduling.bounds import lower_bound
from sharefab.scheduling.diagnosis import diagnose, topological_order
from sharefab.scheduling.index import FreeIndex
from sharefab.scheduling.model import (
    Diagnosis,
    InfeasibleReason,
    Lot,
    ObjectiveKind,
    ProblemData,
    Result,
    Solution,
    SolveStatus,
)
from sharefab.scheduling.placement import PlacedLot, Weights, place
from sharefab.scheduling.quote import JobSpec, Quote, insert_job, release_quote

RULES = ("est", "mwkr", "edd", "slack", "atc")
BIG = 1 << 60
#: ATC look-ahead (times the mean remaining work) and ready-time bucket (same unit)
ATC_K = 0.5
ATC_BUCKET = 3.0
#: alternate randomised restarts with squeaky-wheel passes (late jobs first)
SQUEAKY_WHEEL = True

__all__ = ["RULES", "JobSpec", "Quote", "construct", "insert_job", "release_quote"]


def _auto_rules(data: ProblemData) -> list[str]:
    kinds = [k for k, w in data.objective.weights if w > 0] or [ObjectiveKind.MAKESPAN]
    if data.objective.lexicographic:
        kinds = kinds[:1]
    if ObjectiveKind.WEIGHTED_TARDINESS in kinds:
        return ["atc", "est", "slack", "mwkr", "edd"]
    return ["est", "mwkr", "slack", "edd", "atc"]


def _tails(data: ProblemData) -> list[int]:
    """Longest path of minimum durations from each operation to the end of its job."""
    succ = data.successors()
    tail = [0] * len(data.operations)
    for i in reversed(topological_order(data)):
        op = data.operations[i]
        own = min((m.duration for m in op.modes), default=0)
        tail[i] = own + max((tail[s] for s in succ[i]), default=0)
    return tail


def _weights_for(data: ProblemData) -> Callable[[int], Weights]:
    """Per job, how to score placements for this objective."""
    w = dict(data.objective.weights)
    if data.objective.lexicographic:
        first = data.objective.weights[0][0]
        w = {first: 1}
    w_ms = w.get(ObjectiveKind.MAKESPAN, 0)
    w_td = w.get(ObjectiveKind.WEIGHTED_TARDINESS, 0)
    w_c = w.get(ObjectiveKind.COST, 0)
    cache: dict[int, Weights] = {}

    def for_job(j: int) -> Weights:
        job = data.jobs[j]
        time_w = w_ms + (w_td * max(job.weight, 1) if job.due is not None else 0)
        if time_w == 0 and w_c == 0:
            time_w = 1
        key = int(time_w)
        got = cache.get(key)
        if got is None:
            got = Weights(float(time_w), float(w_c), time_w >= w_c)
            cache[key] = got
        return got

    return for_job


def _one_pass(
    data: ProblemData,
    rule: str,
    rng: random.Random,
    tail: list[int],
    atc: tuple[float, float] = (ATC_K, ATC_BUCKET),
    jitter: float = 0.0,
    boost: list[float] | None = None,
) -> tuple[list[list[PlacedLot]], int | None, float]:
    """Schedule every operation once; returns lots, the op that failed (or None), build time.

    ``atc`` is (look-ahead, bucket) for the ATC rule; ``jitter`` > 0 randomly perturbs the
    primary priority by up to that fraction (randomised restarts); ``boost`` (per job, >= 0)
    raises the priority of jobs that were late in earlier passes (squeaky wheel).
    """
    t_build = time.perf_counter()
    index = FreeIndex.from_problem(data)
    build = time.perf_counter() - t_build
    ops = data.operations
    jobs = data.jobs
    preds = data.predecessors()
    succ = data.successors()
    missing = [len(p) for p in preds]
    ready = [jobs[op.job].release for op in ops]
    weights_for = _weights_for(data)
    site = index.site
    lots: list[list[PlacedLot]] = [[] for _ in ops]
    noise = [rng.random() for _ in ops]
    shake = [1.0 + jitter * (2 * rng.random() - 1) for _ in ops] if jitter else None

    def key(i: int) -> tuple[float, float, float]:
        due = jobs[ops[i].job].due
        due_v = BIG if due is None else due
        # randomised restarts shift time-like priorities by up to jitter * mean remaining work
        shift = 0.0 if shake is None else (shake[i] - 1.0) * pbar
        if boost is not None:
            shift -= boost[ops[i].job] * pbar
        if rule == "est":
            return (ready[i] + shift, -tail[i], noise[i])
        if rule == "mwkr":
            return (-tail[i] - shift, ready[i], noise[i])
        if rule == "edd":
            return (due_v + shift, ready[i], noise[i])
        if rule == "atc":
            # apparent tardiness cost at the op's ready time, in ready-time buckets
            w = jobs[ops[i].job].weight
            slack = max(0, due_v - tail[i] - ready[i]) if due is not None else BIG
            urgency = w / max(tail[i], 1) * exp(-slack / atc_scale)
            if shake is not None:
                urgency *= shake[i]
            if boost is not None:
                urgency *= 1.0 + boost[ops[i].job]
            return (ready[i] // atc_bucket, -urgency, noise[i])
        return (due_v - tail[i] + shift, ready[i], noise[i])  # slack

    pbar = sum(tail) / max(1, len(tail))
    atc_scale = atc[0] * pbar
    atc_bucket = max(1, int(pbar * atc[1]))
    heap = [(key(i), i) for i in range(len(ops)) if missing[i] == 0]
    heapq.heapify(heap)
    while heap:
        _, i = heapq.heappop(heap)
        op = ops[i]
        pred_lots = [(site[lot[0]], lot[3]) for p in preds[i] for lot in lots[p]]
        placed = place(index, op, jobs[op.job].release, pred_lots, weights_for(op.job))
        if placed is None:
            return lots, i, build
        lots[i] = placed[0]
        end = max(lot[3] for lot in placed[0])
        for s in succ[i]:
            missing[s] -= 1
            if end > ready[s]:
                ready[s] = end
            if missing[s] == 0:
                heapq.heappush(heap, (key(s), s))
    return lots, None, build


def evaluate(data: ProblemData, lots: list[list[PlacedLot]]) -> tuple[float, tuple[int, ...]]:
    """Objective value and lexicographic key of placed lots (validator's convention)."""
    site = [r.site for r in data.resources]
    makespan = 0
    proc = 0
    completion = [job.release for job in data.jobs]
    for i, op in enumerate(data.operations):
        modes = {m.resource: m for m in op.modes}
        for r, _u, _s, e, q in lots[i]:
            makespan = max(makespan, e)
            proc += modes[r].lot_cost(q, op.quantity)
            if e > completion[op.job]:
                completion[op.job] = e
    trans = 0
    if data.transport_cost:
        for a, b in data.precedences:
            for la in lots[a]:
                for lb in lots[b]:
                    trans += data.travel_cost(site[la[0]], site[lb[0]])
    tard = sum(
        job.weight * max(0, completion[j] - job.due)
        for j, job in enumerate(data.jobs)
        if job.due is not None
    )
    terms = {
        ObjectiveKind.MAKESPAN: makespan,
        ObjectiveKind.WEIGHTED_TARDINESS: tard,
        ObjectiveKind.COST: proc + trans,
    }
    key = tuple(terms[k] for k, _ in data.objective.weights)
    if data.objective.lexicographic:
        return float(key[0]), key
    return float(sum(w * terms[k] for k, w in data.objective.weights)), key


def to_solution(lots: list[list[PlacedLot]]) -> Solution:
    """The model's :class:`Solution` for placed lots."""
    return Solution(tuple(tuple(Lot(r, s, e, q) for r, _u, s, e, q in op) for op in lots))


def construct(
    data: ProblemData,
    *,
    rule: str = "auto",
    seed: int = 0,
    time_limit: float = 10.0,
    bound: bool = True,
    restarts: int | None = 0,
) -> Result:
    """Build a plan with list scheduling and insertion; never raises on infeasible input.

    With ``rule="auto"`` the rules suited to the objective run one after another while the
    time limit allows another pass (the first pass always completes). Returns ``FEASIBLE``
    with the best plan; ``INFEASIBLE`` with an exact diagnosis; or ``UNKNOWN`` with a
    diagnosis naming the operation the heuristic could not place when no proof was found.

    ``restarts`` adds that many randomised passes after the rules (the best rule so far with
    perturbed priorities and ATC parameters, seeded by ``seed``); ``None`` keeps restarting
    while the time limit allows.
    """
    if rule != "auto" and rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected 'auto' or one of {RULES}")
    t0 = time.perf_counter()
    rng = random.Random(seed)
    rules = _auto_rules(data) if rule == "auto" else [rule]
    tail = _tails(data)
    best: tuple[tuple[int, ...], float, list[list[PlacedLot]], str] | None = None
    passes = 0
    build_s = 0.0
    n_restarts = 0
    boost: list[float] | None = None
    best_atc = (ATC_K, ATC_BUCKET)
    while True:
        use_boost = None
        if passes < len(rules):
            r, atc, jitter = rules[passes], (ATC_K, ATC_BUCKET), 0.0
        elif restarts is None or n_restarts < restarts:
            n_restarts += 1
            r = best[3].split("~")[0] if best is not None else rules[0]
            if SQUEAKY_WHEEL and n_restarts % 2 == 1 and best is not None:
                # squeaky wheel: the best plan's late jobs go first next time
                boost = _late_boost(data, best[2], boost)
                atc, jitter, use_boost = best_atc, 0.02, boost
            else:
                atc = (rng.uniform(0.2, 3.0), rng.uniform(0.5, 6.0))
                jitter = rng.uniform(0.05, 0.3)
        else:
            break
        started = time.perf_counter()
        lots, failed, build_s = _one_pass(data, r, rng, tail, atc, jitter, use_boost)
        passes += 1
        if failed is not None:
            return _not_placed(data, failed, t0)
        value, key = evaluate(data, lots)
        if best is None:
            better = True
        elif data.objective.lexicographic:
            better = key < best[0]
        else:
            better = value < best[1]
        if better:
            best = (key, value, lots, r if not jitter else f"{r}~{n_restarts}")
            best_atc = atc
        one = time.perf_counter() - started
        if time.perf_counter() - t0 + one > time_limit:
            break
    assert best is not None
    key, value, lots, used = best
    lb = lower_bound(data) if bound else None
    runtime = time.perf_counter() - t0
    status = SolveStatus.OPTIMAL if lb is not None and value <= lb else SolveStatus.FEASIBLE
    return Result(
        status=status,
        objective=value,
        lower_bound=lb,
        runtime=runtime,
        solution=to_solution(lots),
        solver=f"heuristic:{used}",
        stats={"passes": float(passes), "restarts": float(n_restarts), "index_build_s": build_s},
    )


def _late_boost(
    data: ProblemData, lots: list[list[PlacedLot]], boost: list[float] | None
) -> list[float]:
    """Per-job priority boosts from a plan: weighted tardiness (or, without due dates,
    closeness to the makespan), normalised, added to the previous boosts."""
    completion = [job.release for job in data.jobs]
    for i, op in enumerate(data.operations):
        for lot in lots[i]:
            if lot[3] > completion[op.job]:
                completion[op.job] = lot[3]
    late = [
        job.weight * max(0, completion[j] - job.due) if job.due is not None else 0
        for j, job in enumerate(data.jobs)
    ]
    if not any(late):
        horizon = max(completion, default=0)
        late = [max(0, c - 0.9 * horizon) for c in completion]
    positive = [x for x in late if x > 0]
    scale = sum(positive) / len(positive) if positive else 1.0
    old = boost if boost is not None else [0.0] * len(data.jobs)
    return [0.7 * b + 0.5 * x / scale for b, x in zip(old, late, strict=True)]


def _not_placed(data: ProblemData, failed: int, t0: float) -> Result:
    diagnosis = diagnose(data)
    status = SolveStatus.INFEASIBLE
    if not diagnosis:
        op = data.operations[failed]
        status = SolveStatus.UNKNOWN
        horizon = "" if data.horizon is None else f" before the horizon {data.horizon}"
        diagnosis = (
            Diagnosis(
                failed,
                InfeasibleReason.CAPACITY,
                f"operation {failed} {op.name!r} of job {op.job}: the heuristic found no free "
                f"time{horizon} on its eligible resources after placing the others "
                "(not a proof of infeasibility)",
            ),
        )
    return Result(
        status=status,
        objective=None,
        lower_bound=None,
        runtime=time.perf_counter() - t0,
        solution=None,
        diagnosis=diagnosis,
        solver="heuristic",
    )
