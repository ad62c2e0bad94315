"""Lower bounds on the objective, cheap enough to report next to every plan.

* **makespan** — the larger of (a) the latest earliest-possible completion of any operation
  placed alone (release, predecessor chain, calendars and fixed bookings, see
  :func:`~sharefab.scheduling.diagnosis.earliest_completions`) and (b) a load bound per
  resource family: the operations that can only run on a set ``R`` of resources need at least
  their minimum work divided by the capacity of ``R``, after their earliest release;
* **weighted tardiness** — each job's weight times how late its earliest completion alone is;
* **cost** — each operation's cheapest processing cost (transport can be avoided in a bound);
* a weighted objective gets the weighted sum of the term bounds; a lexicographic one the bound
  of its primary term.
"""

from __future__ import annotations

from math import ceil

from sharefab.scheduling.diagnosis import earliest_completions
from sharefab.scheduling.index import FreeIndex
from sharefab.scheduling.model import ObjectiveKind, Operation, ProblemData

#: Beyond this many distinct eligible sets, only identical sets are grouped for the load bound.
MAX_SUBSET_CHECK = 1500


def min_work(op: Operation) -> int:
    """Least total processing time ``op`` needs, however it is split into lots."""
    if not op.modes:
        return 0
    if not op.splittable:
        return min(m.duration for m in op.modes)
    return min(m.setup for m in op.modes) + min(m.duration - m.setup for m in op.modes)


def min_cost(op: Operation) -> int:
    """Least processing cost of ``op``, however it is split into lots."""
    if not op.modes:
        return 0
    if not op.splittable:
        return min(m.cost for m in op.modes)
    return min(m.setup_cost for m in op.modes) + min(m.cost - m.setup_cost for m in op.modes)


def load_bound(data: ProblemData) -> int:
    """Makespan bound from the work that only a given set of resources can do."""
    groups: dict[frozenset[int], tuple[int, int]] = {}  # set -> (work, earliest release)
    for op in data.operations:
        if not op.modes:
            continue
        key = frozenset(m.resource for m in op.modes)
        work, rel = groups.get(key, (0, 1 << 62))
        groups[key] = (work + min_work(op), min(rel, data.jobs[op.job].release))
    sets = list(groups)
    best = 0
    check_subsets = len(sets) <= MAX_SUBSET_CHECK
    for big in sets:
        work, rel = groups[big]
        if check_subsets:
            for small in sets:
                if small is not big and small < big:
                    w2, r2 = groups[small]
                    work += w2
                    rel = min(rel, r2)
        capacity = sum(data.resources[r].capacity for r in big)
        best = max(best, rel + ceil(work / capacity))
    return best


def term_bounds(data: ProblemData) -> dict[ObjectiveKind, int]:
    """A lower bound on each objective term."""
    ect = earliest_completions(data, FreeIndex(data.resources, None))
    makespan = max([0, *ect])
    makespan = max(makespan, load_bound(data))
    latest: dict[int, int] = {}
    for i, op in enumerate(data.operations):
        latest[op.job] = max(latest.get(op.job, 0), ect[i])
    tardiness = 0
    for j, job in enumerate(data.jobs):
        if job.due is not None and j in latest:
            tardiness += job.weight * max(0, latest[j] - job.due)
    cost = sum(min_cost(op) for op in data.operations)
    return {
        ObjectiveKind.MAKESPAN: makespan,
        ObjectiveKind.WEIGHTED_TARDINESS: tardiness,
        ObjectiveKind.COST: cost,
    }


def lower_bound(data: ProblemData) -> float:
    """A lower bound on ``data.objective`` (see the module docstring)."""
    terms = term_bounds(data)
    if data.objective.lexicographic:
        return float(terms[data.objective.weights[0][0]])
    return float(sum(w * terms[k] for k, w in data.objective.weights))
