"""The scheduling problem as validated, index-based plain data.

Time is an integer count of time units (minutes, for the platform) from the horizon start.
Objects refer to each other by integer index into the lists of :class:`ProblemData`, as in
PyJobShop. Wrong input raises ``ValueError`` at construction: ``__post_init__`` checks one
object, :meth:`ProblemData._validate` checks the references between objects.

Semantics the validator, the heuristic and the CP-SAT model all share:

* A resource has ``capacity`` identical units (1 = a unary machine). At every instant the
  lots running on it plus its fixed bookings use at most ``capacity`` units (one unit each).
* ``windows`` lists the half-open intervals ``[start, end)`` in which the resource may work;
  ``None`` means always available. Windows are sorted and disjoint after construction.
* A non-resumable lot occupies ``[start, end)`` with ``end - start == duration`` and lies
  inside one window. A resumable lot starts inside a window, works only inside windows, and
  ends when its work is done; it holds its resource unit through the breaks in between, so
  ``[start, end)`` is what it occupies.
* Processing a lot of ``q`` units on a mode takes ``mode.lot_duration(q, op.quantity)`` and
  costs ``mode.lot_cost(q, op.quantity)``; without lot splitting there is one lot of the whole
  quantity, whose duration and cost are the mode's own.
* For a precedence ``(a, b)``, every lot of ``b`` starts no earlier than the end of every lot of
  ``a`` plus the transport time between their sites (each such pair of lots on different sites
  is one transport leg, priced by ``transport_cost``).
* A job's completion is the latest end of its operations; tardiness is
  ``max(0, completion - due)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from math import ceil


class ObjectiveKind(StrEnum):
    MAKESPAN = "makespan"
    WEIGHTED_TARDINESS = "weighted_tardiness"
    COST = "cost"


@dataclass(frozen=True, slots=True)
class Booking:
    """A fixed, immovable use of one unit of a resource over ``[start, end)``."""

    start: int
    end: int
    label: str = ""

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"booking {self.label!r}: end {self.end} <= start {self.start}")


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    capacity: int = 1
    site: int = 0
    windows: tuple[tuple[int, int], ...] | None = None
    bookings: tuple[Booking, ...] = ()

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"resource {self.name!r}: capacity must be >= 1")
        if self.site < 0:
            raise ValueError(f"resource {self.name!r}: site must be >= 0")
        if self.windows is not None:
            merged: list[tuple[int, int]] = []
            for start, end in sorted(self.windows):
                if end <= start:
                    raise ValueError(f"resource {self.name!r}: window ({start}, {end}) is empty")
                if merged and start <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], end))
                else:
                    merged.append((start, end))
            object.__setattr__(self, "windows", tuple(merged))
        object.__setattr__(self, "bookings", tuple(sorted(self.bookings, key=lambda b: b.start)))


@dataclass(frozen=True, slots=True)
class Mode:
    """One way to run an operation: on ``resource``, taking ``duration`` for the full quantity.

    ``setup`` (time) and ``setup_cost`` are the parts of ``duration`` and ``cost`` paid once per
    lot whatever its size; the rest scales with the lot's quantity.
    """

    resource: int
    duration: int
    cost: int = 0
    setup: int = 0
    setup_cost: int = 0

    def __post_init__(self) -> None:
        if self.duration < 0 or self.cost < 0 or self.setup < 0 or self.setup_cost < 0:
            raise ValueError(f"mode on resource {self.resource}: negative time or cost")
        if self.setup > self.duration:
            raise ValueError(f"mode on resource {self.resource}: setup exceeds duration")
        if self.setup_cost > self.cost:
            raise ValueError(f"mode on resource {self.resource}: setup_cost exceeds cost")

    def lot_duration(self, lot_quantity: int, quantity: int) -> int:
        if lot_quantity == quantity:
            return self.duration
        return self.setup + ceil((self.duration - self.setup) * lot_quantity / quantity)

    def lot_cost(self, lot_quantity: int, quantity: int) -> int:
        if lot_quantity == quantity:
            return self.cost
        return self.setup_cost + ceil((self.cost - self.setup_cost) * lot_quantity / quantity)


@dataclass(frozen=True, slots=True)
class Operation:
    job: int
    modes: tuple[Mode, ...]
    name: str = ""
    quantity: int = 1
    resumable: bool = False
    max_lots: int = 1
    min_lot: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "modes", tuple(self.modes))
        if self.quantity < 1:
            raise ValueError(f"operation {self.name!r}: quantity must be >= 1")
        if self.max_lots < 1:
            raise ValueError(f"operation {self.name!r}: max_lots must be >= 1")
        if not 1 <= self.min_lot <= self.quantity:
            raise ValueError(f"operation {self.name!r}: min_lot must be in [1, quantity]")
        resources = [m.resource for m in self.modes]
        if len(set(resources)) != len(resources):
            raise ValueError(f"operation {self.name!r}: two modes on the same resource")

    @property
    def splittable(self) -> bool:
        return self.max_lots > 1 and self.quantity >= 2 * self.min_lot


@dataclass(frozen=True, slots=True)
class Job:
    name: str = ""
    release: int = 0
    due: int | None = None
    weight: int = 1

    def __post_init__(self) -> None:
        if self.release < 0:
            raise ValueError(f"job {self.name!r}: release must be >= 0")
        if self.weight < 0:
            raise ValueError(f"job {self.name!r}: weight must be >= 0")


@dataclass(frozen=True, slots=True)
class Objective:
    """A weighted sum of objective terms, or (``lexicographic=True``) their order of priority.

    ``weights`` maps an :class:`ObjectiveKind` to a non-negative integer weight; with
    ``lexicographic`` the terms are optimised one after another in the mapping's order.
    """

    weights: tuple[tuple[ObjectiveKind, int], ...] = ((ObjectiveKind.MAKESPAN, 1),)
    lexicographic: bool = False

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("objective needs at least one term")
        kinds = [ObjectiveKind(k) for k, _ in self.weights]
        if len(set(kinds)) != len(kinds):
            raise ValueError("objective lists a term twice")
        if any(w < 0 for _, w in self.weights):
            raise ValueError("objective weights must be >= 0")
        object.__setattr__(
            self, "weights", tuple((ObjectiveKind(k), int(w)) for k, w in self.weights)
        )

    @classmethod
    def makespan(cls) -> Objective:
        return cls(((ObjectiveKind.MAKESPAN, 1),))

    @classmethod
    def of(cls, lexicographic: bool = False, **weights: int) -> Objective:
        return cls(tuple((ObjectiveKind(k), w) for k, w in weights.items()), lexicographic)


@dataclass(frozen=True, slots=True)
class ProblemData:
    jobs: tuple[Job, ...]
    resources: tuple[Resource, ...]
    operations: tuple[Operation, ...]
    precedences: tuple[tuple[int, int], ...] = ()
    transport_time: tuple[tuple[int, ...], ...] = ()
    transport_cost: tuple[tuple[int, ...], ...] = ()
    horizon: int | None = None
    objective: Objective = field(default_factory=Objective.makespan)

    def __post_init__(self) -> None:
        for name in ("jobs", "resources", "operations", "precedences"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "transport_time", tuple(tuple(r) for r in self.transport_time))
        object.__setattr__(self, "transport_cost", tuple(tuple(r) for r in self.transport_cost))
        self._validate()

    def _validate(self) -> None:
        n_jobs, n_res, n_ops = len(self.jobs), len(self.resources), len(self.operations)
        for i, op in enumerate(self.operations):
            if not 0 <= op.job < n_jobs:
                raise ValueError(f"operation {i}: unknown job {op.job}")
            for mode in op.modes:
                if not 0 <= mode.resource < n_res:
                    raise ValueError(f"operation {i}: unknown resource {mode.resource}")
        for a, b in self.precedences:
            if not (0 <= a < n_ops and 0 <= b < n_ops) or a == b:
                raise ValueError(f"precedence ({a}, {b}): bad operation index")
        n_sites = max((r.site for r in self.resources), default=-1) + 1
        for name in ("transport_time", "transport_cost"):
            matrix = getattr(self, name)
            if not matrix:
                continue
            if len(matrix) < n_sites or any(len(row) != len(matrix) for row in matrix):
                raise ValueError(f"{name} must be a square matrix covering all {n_sites} sites")
            if any(v < 0 for row in matrix for v in row):
                raise ValueError(f"{name} has a negative entry")
        if self.horizon is not None and self.horizon <= 0:
            raise ValueError("horizon must be positive")
        if _has_cycle(n_ops, self.precedences):
            raise ValueError("precedences contain a cycle")

    # -- derived views -------------------------------------------------------------------------

    def job_operations(self) -> list[list[int]]:
        """Operation indices of each job, in index order."""
        out: list[list[int]] = [[] for _ in self.jobs]
        for i, op in enumerate(self.operations):
            out[op.job].append(i)
        return out

    def travel(self, site_a: int, site_b: int) -> int:
        if site_a == site_b or not self.transport_time:
            return 0
        return self.transport_time[site_a][site_b]

    def travel_cost(self, site_a: int, site_b: int) -> int:
        if site_a == site_b or not self.transport_cost:
            return 0
        return self.transport_cost[site_a][site_b]

    def successors(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.operations]
        for a, b in self.precedences:
            out[a].append(b)
        return out

    def predecessors(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.operations]
        for a, b in self.precedences:
            out[b].append(a)
        return out


def topological_order(n: int, arcs: Sequence[tuple[int, int]]) -> list[int]:
    """Indices ``0..n-1`` with every arc's tail before its head (Kahn's algorithm); shorter
    than ``n`` when the arcs contain a cycle."""
    indegree = [0] * n
    succ: list[list[int]] = [[] for _ in range(n)]
    for a, b in arcs:
        succ[a].append(b)
        indegree[b] += 1
    order = [i for i in range(n) if indegree[i] == 0]
    for v in order:  # grows while it is walked
        for w in succ[v]:
            indegree[w] -= 1
            if indegree[w] == 0:
                order.append(w)
    return order


def _has_cycle(n: int, arcs: Sequence[tuple[int, int]]) -> bool:
    return len(topological_order(n, arcs)) != n


# -- solutions and results ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lot:
    """One piece of an operation on one resource: ``quantity`` units over ``[start, end)``."""

    resource: int
    start: int
    end: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Solution:
    """For every operation (by index) the lots that perform it."""

    lots: tuple[tuple[Lot, ...], ...]

    def makespan(self) -> int:
        return max((lot.end for op in self.lots for lot in op), default=0)


class SolveStatus(StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNKNOWN = "unknown"  # time ran out before any plan was found


class InfeasibleReason(StrEnum):
    NO_ELIGIBLE_RESOURCE = "no_eligible_resource"
    DUE_DATE_UNREACHABLE = "due_date_unreachable"
    NO_WINDOW_LONG_ENOUGH = "no_window_long_enough"
    HORIZON_TOO_SHORT = "horizon_too_short"
    CAPACITY = "capacity"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    operation: int | None
    reason: InfeasibleReason
    message: str


@dataclass(frozen=True, slots=True)
class Result:
    status: SolveStatus
    objective: float | None
    lower_bound: float | None
    runtime: float
    solution: Solution | None
    diagnosis: tuple[Diagnosis, ...] = ()
    solver: str = ""
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.solution is not None and self.status in (
            SolveStatus.OPTIMAL,
            SolveStatus.FEASIBLE,
        )
