"""Cheap, exact reasons why a problem has no plan, each naming the operation.

Every reason :func:`diagnose` returns is a proof, not a guess: it holds even if the operation
were alone in the plan (only the fixed bookings, the calendars and the horizon count):

* ``NO_ELIGIBLE_RESOURCE`` — the operation has no mode;
* ``NO_WINDOW_LONG_ENOUGH`` — on no eligible resource is there free time (windows minus fixed
  bookings) to run even its smallest possible lot, at any time after its release;
* ``HORIZON_TOO_SHORT`` — its earliest possible completion (release, predecessors, calendars,
  bookings) is after the horizon;
* ``DUE_DATE_UNREACHABLE`` — with ``hard_due_dates=True`` only (the model treats due dates as
  soft): the job cannot finish by its due date even alone.

The earliest completions are computed on the empty plan by :func:`earliest_completions`, which
is also the base of the lower bounds in :mod:`sharefab.scheduling.bounds`.
"""

from __future__ import annotations

from math import ceil

from sharefab.scheduling.index import FreeIndex
from sharefab.scheduling.model import (
    Diagnosis,
    InfeasibleReason,
    Mode,
    Operation,
    ProblemData,
)
from sharefab.scheduling.model import topological_order as model_topological_order


def topological_order(data: ProblemData) -> list[int]:
    """Operation indices so that every predecessor comes before its successors."""
    return model_topological_order(len(data.operations), data.precedences)


def smallest_lot_duration(op: Operation, mode: Mode) -> int:
    """A lower bound on the duration of the longest lot of ``op`` on ``mode``."""
    if not op.splittable:
        return mode.duration
    biggest_lot_at_least = max(op.min_lot, ceil(op.quantity / op.max_lots))
    return mode.lot_duration(biggest_lot_at_least, op.quantity)


def earliest_completions(data: ProblemData, index: FreeIndex) -> list[int]:
    """Per operation, a lower bound on its completion (``-1``: cannot be placed at all).

    Each operation is placed alone, on its best mode, at the earliest time its release and its
    predecessors' bounds allow, honouring windows and fixed bookings (not other operations).
    Transport between sites is ignored (a same-site route may exist), so the bound stays valid.
    """
    ops = data.operations
    preds = data.predecessors()
    ect = [-1] * len(ops)
    for i in topological_order(data):
        op = ops[i]
        t = data.jobs[op.job].release
        blocked = False
        for p in preds[i]:
            if ect[p] < 0:
                blocked = True
                break
            t = max(t, ect[p])
        if blocked:
            continue
        best = -1
        for mode in op.modes:
            d = smallest_lot_duration(op, mode)
            s, e, _u = index.earliest(mode.resource, t, d, op.resumable)
            if s >= 0 and (best < 0 or e < best):
                best = e
        ect[i] = best
    return ect


def diagnose(data: ProblemData, *, hard_due_dates: bool = False) -> tuple[Diagnosis, ...]:
    """Exact reasons why ``data`` has no feasible plan (empty when none is found cheaply)."""
    out: list[Diagnosis] = []
    unbounded = FreeIndex(data.resources, None)
    ect = earliest_completions(data, unbounded)
    preds = data.predecessors()
    for i, op in enumerate(data.operations):
        label = f"operation {i} {op.name!r} of job {op.job}"
        if not op.modes:
            out.append(
                Diagnosis(
                    i, InfeasibleReason.NO_ELIGIBLE_RESOURCE, f"{label}: no eligible resource"
                )
            )
        elif ect[i] < 0 and all(ect[p] >= 0 for p in preds[i]):
            kind = "resumable work" if op.resumable else "a window"
            out.append(
                Diagnosis(
                    i,
                    InfeasibleReason.NO_WINDOW_LONG_ENOUGH,
                    f"{label}: no eligible resource has {kind} free long enough after its "
                    f"release (shortest lot {min(smallest_lot_duration(op, m) for m in op.modes)})",
                )
            )
        elif data.horizon is not None and ect[i] > data.horizon:
            out.append(
                Diagnosis(
                    i,
                    InfeasibleReason.HORIZON_TOO_SHORT,
                    f"{label}: cannot finish before {ect[i]}, horizon is {data.horizon}",
                )
            )
    if hard_due_dates:
        out.extend(due_date_diagnoses(data, ect))
    return tuple(out)


def due_date_diagnoses(data: ProblemData, ect: list[int]) -> list[Diagnosis]:
    """Jobs that cannot meet their due date even alone, naming their latest operation."""
    out: list[Diagnosis] = []
    worst: dict[int, int] = {}
    for i, op in enumerate(data.operations):
        j = op.job
        if ect[i] >= 0 and (j not in worst or ect[i] > ect[worst[j]]):
            worst[j] = i
    for j, i in sorted(worst.items()):
        due = data.jobs[j].due
        if due is not None and ect[i] > due:
            op = data.operations[i]
            out.append(
                Diagnosis(
                    i,
                    InfeasibleReason.DUE_DATE_UNREACHABLE,
                    f"operation {i} {op.name!r} of job {j}: cannot finish before {ect[i]}, "
                    f"due {due}",
                )
            )
    return out
