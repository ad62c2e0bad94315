"""Instant quotes: insert ONE new job into an existing plan without moving anything else.

The plan is a :class:`~sharefab.scheduling.index.FreeIndex` (windows minus existing bookings and
reserved lots). :func:`insert_job` places the job's operations in precedence order, each on
the mode that best fits the chosen criterion, in the earliest gap that fits after its release,
its predecessors and the transport from their sites. By default the index is left exactly as
it was (a quote blocks no capacity); with ``commit=True`` the lots stay reserved and
:func:`release_quote` undoes them.

Criteria: ``"fastest"`` (earliest completion), ``"cheapest"`` (least processing + transport
cost, then earliest), ``"weighted"`` (``time_weight * end + cost_weight * cost``); ``penalty``
adds a per-resource term (e.g. an unreliability score) so the marketplace can offer "most
reliable" options too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sharefab.scheduling.index import INF, FreeIndex
from sharefab.scheduling.model import (
    Diagnosis,
    InfeasibleReason,
    Job,
    Lot,
    Operation,
    SolveStatus,
    topological_order,
)
from sharefab.scheduling.placement import CHEAPEST, FASTEST, PlacedLot, Weights, place

CRITERIA = ("fastest", "cheapest", "weighted")


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A new job: its operations (their ``job`` field is ignored) and local precedences."""

    operations: tuple[Operation, ...]
    precedences: tuple[tuple[int, int], ...] = ()
    release: int = 0
    due: int | None = None
    weight: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "operations", tuple(self.operations))
        object.__setattr__(self, "precedences", tuple(tuple(p) for p in self.precedences))
        n = len(self.operations)
        if n == 0:
            raise ValueError(f"job {self.name!r}: no operations")
        for a, b in self.precedences:
            if not (0 <= a < n and 0 <= b < n) or a == b:
                raise ValueError(f"job {self.name!r}: precedence ({a}, {b}) is not valid")
        if len(self.order()) != n:
            raise ValueError(f"job {self.name!r}: precedences contain a cycle")
        Job(self.name, self.release, self.due, self.weight)  # same checks as a model job

    def order(self) -> list[int]:
        """Operation indices in precedence order (shorter when the precedences have a cycle)."""
        return topological_order(len(self.operations), self.precedences)


@dataclass(frozen=True, slots=True)
class QuotedLot:
    operation: int
    resource: int
    unit: int
    start: int
    end: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Quote:
    """The outcome of one insertion. ``warnings`` holds soft issues (e.g. a missed due date)."""

    status: SolveStatus
    criterion: str
    lots: tuple[QuotedLot, ...] = ()
    completion: int | None = None
    processing_cost: int = 0
    transport_cost: int = 0
    transport_legs: int = 0
    tardiness: int = 0
    committed: bool = False
    diagnosis: tuple[Diagnosis, ...] = ()
    warnings: tuple[Diagnosis, ...] = ()

    @property
    def feasible(self) -> bool:
        return self.status is SolveStatus.FEASIBLE

    @property
    def total_cost(self) -> int:
        return self.processing_cost + self.transport_cost

    def operation_lots(self, n_operations: int) -> tuple[tuple[Lot, ...], ...]:
        """Lots per operation of the job, as the model's :class:`Lot`."""
        out: list[list[Lot]] = [[] for _ in range(n_operations)]
        for q in self.lots:
            out[q.operation].append(Lot(q.resource, q.start, q.end, q.quantity))
        return tuple(tuple(x) for x in out)


def _weights(
    criterion: str, time_weight: float, cost_weight: float, penalty: Sequence[float] | None
) -> Weights:
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; expected one of {CRITERIA}")
    if criterion == "fastest" and penalty is None:
        return FASTEST
    if criterion == "cheapest" and penalty is None:
        return CHEAPEST
    if criterion == "fastest":
        return Weights(1.0, 0.0, True, penalty)
    if criterion == "cheapest":
        return Weights(0.0, 1.0, False, penalty)
    if time_weight < 0 or cost_weight < 0:
        raise ValueError("time_weight and cost_weight must be >= 0")
    return Weights(time_weight, cost_weight, time_weight >= cost_weight, penalty)


def insert_job(
    index: FreeIndex,
    spec: JobSpec,
    *,
    criterion: str = "fastest",
    time_weight: float = 1.0,
    cost_weight: float = 0.0,
    penalty: Sequence[float] | None = None,
    commit: bool = False,
    allow_split: bool = True,
) -> Quote:
    """Insert ``spec`` into ``index`` without moving anything; see the module docstring."""
    weights = _weights(criterion, time_weight, cost_weight, penalty)
    n_res = len(index.resources)
    for k, op in enumerate(spec.operations):
        for m in op.modes:
            if not 0 <= m.resource < n_res:
                raise ValueError(f"operation {k} {op.name!r}: unknown resource {m.resource}")
    if penalty is not None and len(penalty) != n_res:
        raise ValueError(f"penalty must have one value per resource ({n_res})")
    site = index.site
    lots: list[list[PlacedLot]] = [[] for _ in spec.operations]
    reserved: list[PlacedLot] = []
    preds = [[a for a, b in spec.precedences if b == i] for i in range(len(spec.operations))]
    proc = 0
    failed: int | None = None
    try:
        for i in spec.order():
            op = spec.operations[i]
            pred_lots = [(site[lot[0]], lot[3]) for p in preds[i] for lot in lots[p]]
            placed = place(index, op, spec.release, pred_lots, weights, allow_split)
            if placed is None:
                failed = i
                break
            lots[i] = placed[0]
            reserved.extend(placed[0])
            proc += sum(
                next(m for m in op.modes if m.resource == r).lot_cost(q, op.quantity)
                for r, _u, _s, _e, q in placed[0]
            )
        if failed is not None:
            return Quote(
                SolveStatus.INFEASIBLE,
                criterion,
                diagnosis=(_why_not(index, spec, failed, lots, preds),),
            )
    finally:
        if failed is not None or not commit:
            for _r, u, s, e, _q in reserved:
                index.release(u, s, e)
    legs = 0
    trans = 0
    for a, b in spec.precedences:
        for la in lots[a]:
            for lb in lots[b]:
                sa, sb = site[la[0]], site[lb[0]]
                if sa != sb:
                    legs += 1
                    trans += index.transport_cost[sa][sb]
    completion = max(lot[3] for op_lots in lots for lot in op_lots)
    tardiness = 0 if spec.due is None else max(0, completion - spec.due)
    warnings: tuple[Diagnosis, ...] = ()
    if tardiness > 0:
        last = max(range(len(lots)), key=lambda i: max(lot[3] for lot in lots[i]))
        warnings = (
            Diagnosis(
                last,
                InfeasibleReason.DUE_DATE_UNREACHABLE,
                f"operation {last} {spec.operations[last].name!r}: job completes at "
                f"{completion}, {tardiness} after its due date {spec.due}",
            ),
        )
    return Quote(
        SolveStatus.FEASIBLE,
        criterion,
        lots=tuple(
            QuotedLot(i, r, u, s, e, q)
            for i, op_lots in enumerate(lots)
            for r, u, s, e, q in op_lots
        ),
        completion=completion,
        processing_cost=proc,
        transport_cost=trans,
        transport_legs=legs,
        tardiness=tardiness,
        committed=commit,
        warnings=warnings,
    )


def release_quote(index: FreeIndex, quote: Quote) -> None:
    """Give back the capacity of a quote made with ``commit=True``."""
    if not quote.committed:
        raise ValueError("quote was not committed; nothing to release")
    for lot in quote.lots:
        index.release(lot.unit, lot.start, lot.end)


def _why_not(
    index: FreeIndex,
    spec: JobSpec,
    i: int,
    lots: list[list[PlacedLot]],
    preds: list[list[int]],
) -> Diagnosis:
    """Why operation ``i`` of the new job found no room (the plan and horizon as they are)."""
    op = spec.operations[i]
    label = f"operation {i} {op.name!r}"
    if not op.modes:
        return Diagnosis(i, InfeasibleReason.NO_ELIGIBLE_RESOURCE, f"{label}: no eligible resource")
    t = max([spec.release, *(lot[3] for p in preds[i] for lot in lots[p])])
    horizon = index.horizon
    index.horizon = INF
    try:
        fits_later = any(
            index.earliest(m.resource, t, m.duration, op.resumable)[0] >= 0 for m in op.modes
        )
    finally:
        index.horizon = horizon
    if fits_later:
        return Diagnosis(
            i,
            InfeasibleReason.HORIZON_TOO_SHORT,
            f"{label}: no eligible resource can finish it before the horizon {horizon}",
        )
    shortest = min(m.duration for m in op.modes)
    kind = "resumable time" if op.resumable else "a free window"
    return Diagnosis(
        i,
        InfeasibleReason.NO_WINDOW_LONG_ENOUGH,
        f"{label}: no eligible resource has {kind} of {shortest} after {t}",
    )
