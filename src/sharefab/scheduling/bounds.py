"""Lower bounds on the objective, cheap enough to report next to every plan.

* **makespan** — the larger of (a) the latest earliest-possible completion of any operation
  placed alone (release, predecessor chain, calendars and fixed bookings, see
  :func:`~sharefab.scheduling.diagnosis.earliest_completions`) and (b) a load bound per
  resource family: the operations that can only run on a set ``R`` of resources need at least
  their minimum work in free unit-time of ``R`` (windows minus bookings, per unit) after their
  earliest release;
* **weighted tardiness** — each job's weight times how late its earliest completion alone is;
* **cost** — each operation's cheapest processing cost (transport can be avoided in a bound);
* a weighted objective gets the weighted sum of the term bounds; a lexicographic one the bound
  of its primary term.
"""

from __future__ import annotations

from bisect import bisect_right

from sharefab.scheduling.diagnosis import earliest_completions
from sharefab.scheduling.index import INF, FreeIndex
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


class _FreeTime:
    """Cumulative free time (windows minus fixed bookings) per unit, for the load bound."""

    def __init__(self, index: FreeIndex) -> None:
        self.index = index
        self.starts: list[list[int]] = []
        self.ends: list[list[int]] = []
        self.cum: list[list[int]] = []
        for u in range(index.unit_start[-1]):
            free = index.free(u)
            self.starts.append([a for a, _ in free])
            self.ends.append([b for _, b in free])
            acc = [0]
            for a, b in free:
                acc.append(acc[-1] + (b - a))
            self.cum.append(acc)

    def until(self, unit: int, t: int) -> int:
        """Free time of ``unit`` in ``[0, t)``."""
        starts = self.starts[unit]
        i = bisect_right(starts, t) - 1
        if i < 0:
            return 0
        return self.cum[unit][i] + min(t, self.ends[unit][i]) - starts[i]

    def earliest_total(self, units: list[int], release: int, work: int) -> int:
        """Least ``T`` such that ``units`` have ``work`` free time in ``[release, T)``."""
        base = sum(self.until(u, release) for u in units)

        def enough(t: int) -> bool:
            return sum(self.until(u, t) for u in units) - base >= work

        lo, hi = release, release + max(work, 1)
        while not enough(hi):
            if hi >= INF // 2:
                return release  # never enough free time: no bound from here
            lo, hi = hi, release + 2 * (hi - release)
        while lo < hi:
            mid = (lo + hi) // 2
            if enough(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo


def load_bound(data: ProblemData, index: FreeIndex | None = None) -> int:
    """Makespan bound from the work that only a given set of resources can do.

    The operations whose eligible resources all lie in a set ``R`` need their minimum work of
    free unit-time (calendar windows minus fixed bookings, counted per unit) on ``R`` after
    the earliest of their releases.
    """
    groups: dict[frozenset[int], tuple[int, int]] = {}  # set -> (work, earliest release)
    for op in data.operations:
        if not op.modes:
            continue
        key = frozenset(m.resource for m in op.modes)
        work, rel = groups.get(key, (0, 1 << 62))
        groups[key] = (work + min_work(op), min(rel, data.jobs[op.job].release))
    free = _FreeTime(index if index is not None else FreeIndex(data.resources, None))
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
        units = [u for r in big for u in free.index.units(r)]
        best = max(best, free.earliest_total(units, rel, work))
    return best


def term_bounds(data: ProblemData) -> dict[ObjectiveKind, int]:
    """A lower bound on each objective term."""
    index = FreeIndex(data.resources, None)
    ect = earliest_completions(data, index)
    makespan = max([0, *ect])
    makespan = max(makespan, load_bound(data, index))
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
