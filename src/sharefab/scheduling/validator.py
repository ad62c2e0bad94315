"""An independent checker for plans: recomputes every constraint and objective term from scratch.

It shares nothing with the solvers but the problem contract in :mod:`sharefab.scheduling.model`
(whose docstring states the semantics). Every solution a solver returns, and every solution a
test obtains, should pass :func:`validate`.

Objective value convention (shared with the solvers): for a weighted objective the value is
``sum(weight * term)``; for a lexicographic one it is the value of the first (primary) term,
and :attr:`ValidationReport.lexicographic_key` gives the full tuple in priority order.
The ``cost`` term is processing cost plus transport cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sharefab.scheduling.model import (
    Lot,
    ObjectiveKind,
    ProblemData,
    Solution,
)

#: At most this many capacity violations are reported per resource (the plan is already bad).
MAX_CAPACITY_MESSAGES_PER_RESOURCE = 5


@dataclass(slots=True)
class ValidationReport:
    """The verdict on one solution and its independently recomputed objective terms."""

    ok: bool
    violations: list[str]
    makespan: int = 0
    weighted_tardiness: int = 0
    processing_cost: int = 0
    transport_cost: int = 0
    transport_legs: int = 0
    objective: float = 0.0
    lexicographic_key: tuple[int, ...] = ()
    job_completion: list[int] = field(default_factory=list)

    @property
    def total_cost(self) -> int:
        """Processing plus transport cost (the ``cost`` objective term)."""
        return self.processing_cost + self.transport_cost

    def term(self, kind: ObjectiveKind) -> int:
        """Value of one objective term."""
        if kind is ObjectiveKind.MAKESPAN:
            return self.makespan
        if kind is ObjectiveKind.WEIGHTED_TARDINESS:
            return self.weighted_tardiness
        return self.total_cost


def work_end(windows: tuple[tuple[int, int], ...] | None, start: int, work: int) -> int | None:
    """End of ``work`` time units of resumable work started at ``start`` (None: never done)."""
    if windows is None or work == 0:
        return start + work
    remaining = work
    t = start
    for ws, we in windows:
        if we <= t:
            continue
        s = max(ws, t)
        if we - s >= remaining:
            return s + remaining
        remaining -= we - s
        t = we
    return None


def _window_containing(windows: tuple[tuple[int, int], ...], start: int, end: int) -> bool:
    return any(ws <= start and end <= we for ws, we in windows)


def _starts_inside(windows: tuple[tuple[int, int], ...], start: int) -> bool:
    return any(ws <= start < we for ws, we in windows)


def validate(data: ProblemData, solution: Solution) -> ValidationReport:
    """Check ``solution`` against every constraint of ``data`` and recompute its objective."""
    v: list[str] = []
    ops = data.operations
    if len(solution.lots) != len(ops):
        v.append(f"solution has lots for {len(solution.lots)} operations, problem has {len(ops)}")
    n = min(len(solution.lots), len(ops))
    processing_cost = 0
    for i in range(n):
        processing_cost += _check_operation(data, i, solution.lots[i], v)
    _check_jobs_and_horizon(data, solution, n, v)
    legs, transport_cost = _check_precedences(data, solution, n, v)
    _check_capacity(data, solution, n, v)

    completion = [data.jobs[j].release for j in range(len(data.jobs))]
    for i in range(n):
        j = ops[i].job
        for lot in solution.lots[i]:
            completion[j] = max(completion[j], lot.end)
    tardiness = 0
    for j, job in enumerate(data.jobs):
        if job.due is not None and completion[j] > job.due:
            tardiness += job.weight * (completion[j] - job.due)
    report = ValidationReport(
        ok=not v,
        violations=v,
        makespan=max((lot.end for op_lots in solution.lots for lot in op_lots), default=0),
        weighted_tardiness=tardiness,
        processing_cost=processing_cost,
        transport_cost=transport_cost,
        transport_legs=legs,
        job_completion=completion,
    )
    report.objective, report.lexicographic_key = objective_value(data, report)
    return report


def objective_value(data: ProblemData, report: ValidationReport) -> tuple[float, tuple[int, ...]]:
    """The combined objective of ``data.objective`` and the lexicographic key of its terms."""
    weights = data.objective.weights
    key = tuple(report.term(kind) for kind, _ in weights)
    if data.objective.lexicographic:
        return float(key[0]), key
    return float(sum(w * report.term(kind) for kind, w in weights)), key


def _check_operation(data: ProblemData, i: int, lots: tuple[Lot, ...], v: list[str]) -> int:
    """Coverage, eligibility, lot sizes, durations and windows of one operation; its cost."""
    op = data.operations[i]
    label = f"operation {i} {op.name!r}"
    if not lots:
        v.append(f"{label}: not scheduled (no lots)")
        return 0
    if len(lots) > op.max_lots:
        v.append(f"{label}: {len(lots)} lots, at most {op.max_lots} allowed")
    total = sum(lot.quantity for lot in lots)
    if total != op.quantity:
        v.append(f"{label}: lot quantities sum to {total}, quantity is {op.quantity}")
    resources = [lot.resource for lot in lots]
    if len(set(resources)) != len(resources):
        v.append(f"{label}: two lots on the same resource {resources}")
    modes = {m.resource: m for m in op.modes}
    cost = 0
    for lot in lots:
        where = f"{label} lot on resource {lot.resource} [{lot.start}, {lot.end})"
        if lot.quantity < 1:
            v.append(f"{where}: quantity {lot.quantity} < 1")
            continue
        if len(lots) > 1 and lot.quantity < op.min_lot:
            v.append(f"{where}: quantity {lot.quantity} below min_lot {op.min_lot}")
        if lot.start < 0:
            v.append(f"{where}: starts before time 0")
        mode = modes.get(lot.resource)
        if mode is None:
            v.append(f"{where}: resource is not eligible")
            continue
        cost += mode.lot_cost(lot.quantity, op.quantity)
        duration = mode.lot_duration(lot.quantity, op.quantity)
        windows = data.resources[lot.resource].windows
        if op.resumable:
            if windows is not None and duration > 0 and not _starts_inside(windows, lot.start):
                v.append(f"{where}: resumable lot does not start inside a window")
                continue
            expected = work_end(windows, lot.start, duration)
            if expected is None:
                v.append(f"{where}: windows end before its {duration} units of work are done")
            elif lot.end != expected:
                v.append(f"{where}: work of {duration} done at {expected}, but lot ends {lot.end}")
        else:
            if lot.end - lot.start != duration:
                v.append(f"{where}: length {lot.end - lot.start}, duration is {duration}")
            if windows is not None and not _window_containing(windows, lot.start, lot.end):
                v.append(f"{where}: non-resumable lot not inside one calendar window")
    return cost


def _check_jobs_and_horizon(data: ProblemData, solution: Solution, n: int, v: list[str]) -> None:
    for i in range(n):
        op = data.operations[i]
        release = data.jobs[op.job].release
        for lot in solution.lots[i]:
            if lot.start < release:
                v.append(
                    f"operation {i} {op.name!r} lot on resource {lot.resource}: starts "
                    f"{lot.start} before job {op.job} release {release}"
                )
            if data.horizon is not None and lot.end > data.horizon:
                v.append(
                    f"operation {i} {op.name!r} lot on resource {lot.resource}: ends "
                    f"{lot.end} after horizon {data.horizon}"
                )


def _check_precedences(
    data: ProblemData, solution: Solution, n: int, v: list[str]
) -> tuple[int, int]:
    """Precedence and transport lags; returns (transport legs, transport cost)."""
    legs = 0
    cost = 0
    site = [r.site for r in data.resources]
    for a, b in data.precedences:
        if a >= n or b >= n:
            continue
        for la in solution.lots[a]:
            if not 0 <= la.resource < len(site):
                continue
            for lb in solution.lots[b]:
                if not 0 <= lb.resource < len(site):
                    continue
                sa, sb = site[la.resource], site[lb.resource]
                lag = data.travel(sa, sb)
                if lb.start < la.end + lag:
                    v.append(
                        f"precedence ({a}, {b}): lot of {b} on resource {lb.resource} starts "
                        f"{lb.start} before lot of {a} on resource {la.resource} ends {la.end}"
                        f" plus transport {lag}"
                    )
                if sa != sb:
                    legs += 1
                    cost += data.travel_cost(sa, sb)
    return legs, cost


def _check_capacity(data: ProblemData, solution: Solution, n: int, v: list[str]) -> None:
    """Sweep line per resource over lots and fixed bookings."""
    per_resource: dict[int, list[tuple[int, int, int]]] = {}
    for i in range(n):
        for lot in solution.lots[i]:
            if not 0 <= lot.resource < len(data.resources):
                v.append(f"operation {i}: lot on unknown resource {lot.resource}")
                continue
            if lot.end > lot.start:
                per_resource.setdefault(lot.resource, []).append((lot.start, lot.end, i))
    for r, lots in per_resource.items():
        res = data.resources[r]
        events: list[tuple[int, int, int]] = []  # (time, +1/-1, op or -1 for a booking)
        for start, end, i in lots:
            events.append((start, 1, i))
            events.append((end, -1, i))
        for b in res.bookings:
            events.append((b.start, 1, -1))
            events.append((b.end, -1, -1))
        events.sort(key=lambda e: (e[0], e[1]))  # ends (-1) before starts at the same instant
        active: dict[int, int] = {}
        level = 0
        reported = 0
        for idx, (t, delta, i) in enumerate(events):
            level += delta
            active[i] = active.get(i, 0) + delta
            nxt = events[idx + 1] if idx + 1 < len(events) else None
            if nxt is not None and nxt[0] == t:
                continue  # settle all events at this instant first
            if level > res.capacity and any(c > 0 for k, c in active.items() if k >= 0):
                if reported < MAX_CAPACITY_MESSAGES_PER_RESOURCE:
                    running = sorted(k for k, c in active.items() if k >= 0 and c > 0)
                    booked = active.get(-1, 0)
                    v.append(
                        f"resource {r} {res.name!r}: {level} units in use at {t} "
                        f"(capacity {res.capacity}): operations {running}, {booked} bookings"
                    )
                reported += 1
