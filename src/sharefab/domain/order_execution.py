"""Execution of an order: inspection records and per-operation progress.

- An :class:`InspectionRecord` belongs to an order; its verdict comes from measured values
  against spec limits and from the defect list (see :func:`evaluate_inspection`). A pass moves
  the order ``in_production -> inspected``; a fail keeps it in production for rework.
- Each provider reports progress on its *own* operations (``pending -> started -> done``,
  :func:`report_progress`); :func:`rollup_order_state` says which order transition that
  implies (made by the ``system`` actor).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sharefab.domain.orders import OrderState, check_aware, parse_state

__all__ = [
    "OPERATION_TRANSITIONS",
    "PROGRESS_REPORTING_STATES",
    "Defect",
    "DefectSeverity",
    "InspectionRecord",
    "InspectionVerdict",
    "Measurement",
    "OperationProgress",
    "OperationStatus",
    "ProgressSummary",
    "SpecLimit",
    "evaluate_inspection",
    "report_progress",
    "rollup_order_state",
    "summarize_progress",
]


# inspection -------------------------------------------------------------------------------


class DefectSeverity(StrEnum):
    """How bad a defect is: a major or critical defect fails the inspection."""

    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class SpecLimit:
    """Allowed range of one characteristic (inclusive bounds; one bound may be open)."""

    name: str
    lower: float | None = None
    upper: float | None = None
    unit: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("spec limit needs a name")
        if self.lower is None and self.upper is None:
            raise ValueError(f"spec limit {self.name!r} needs a lower or an upper bound")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(
                f"spec limit {self.name!r}: lower {self.lower} is above upper {self.upper}"
            )

    def contains(self, value: float) -> bool:
        """True if ``value`` lies within the limits."""
        return (self.lower is None or value >= self.lower) and (
            self.upper is None or value <= self.upper
        )

    def describe(self) -> str:
        """The range as text, e.g. ``[9.98, 10.02] mm``."""
        low = "-inf" if self.lower is None else f"{self.lower:g}"
        high = "+inf" if self.upper is None else f"{self.upper:g}"
        return f"[{low}, {high}]{' ' + self.unit if self.unit else ''}"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measured value of a named characteristic (several samples may share a name)."""

    name: str
    value: float
    unit: str = ""

    def __post_init__(self) -> None:
        if self.value != self.value or self.value in (float("inf"), float("-inf")):
            raise ValueError(f"measurement {self.name!r} must be a finite number")


@dataclass(frozen=True, slots=True)
class Defect:
    """A defect found by the inspector."""

    code: str
    description: str = ""
    severity: DefectSeverity = DefectSeverity.MINOR
    quantity: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", DefectSeverity(self.severity))
        if not self.code.strip():
            raise ValueError("defect needs a code")
        if self.quantity < 1:
            raise ValueError(f"defect {self.code!r}: quantity must be >= 1, got {self.quantity}")


@dataclass(frozen=True, slots=True)
class InspectionVerdict:
    """Outcome of an inspection: ``passed`` and, when failed, the reasons."""

    passed: bool
    reasons: tuple[str, ...] = ()


def evaluate_inspection(
    limits: Sequence[SpecLimit],
    measurements: Sequence[Measurement],
    defects: Sequence[Defect] = (),
    max_minor_defects: int | None = None,
) -> InspectionVerdict:
    """Verdict from measured values against spec limits and from the defect list.

    Fails when a characteristic with a limit has no measurement, any sample lies outside its
    limit, any defect is major or critical, or the count of minor defects exceeds
    ``max_minor_defects`` (no cap when ``None``). Measurements without a limit are informative.
    A unit that differs from the limit's unit is a ``ValueError``, not a failure.
    """
    by_name: dict[str, SpecLimit] = {}
    for limit in limits:
        if limit.name in by_name:
            raise ValueError(f"spec limit {limit.name!r} is given twice")
        by_name[limit.name] = limit
    reasons: list[str] = []
    seen: set[str] = set()
    for m in measurements:
        limit = by_name.get(m.name)
        if limit is None:
            continue
        if m.unit and limit.unit and m.unit != limit.unit:
            raise ValueError(
                f"measurement {m.name!r} is in {m.unit} but its limit is in {limit.unit}"
            )
        seen.add(m.name)
        if not limit.contains(m.value):
            reasons.append(f"{m.name} = {m.value:g} outside {limit.describe()}")
    reasons.extend(f"{name}: no measurement" for name in by_name if name not in seen)
    minor = 0
    for d in defects:
        if d.severity is DefectSeverity.MINOR:
            minor += d.quantity
        else:
            reasons.append(f"{d.severity.value} defect {d.code}: {d.description}".rstrip(": "))
    if max_minor_defects is not None and minor > max_minor_defects:
        reasons.append(f"{minor} minor defects exceed the allowed {max_minor_defects}")
    return InspectionVerdict(not reasons, tuple(reasons))


@dataclass(frozen=True, slots=True)
class InspectionRecord:
    """An inspection of an order's parts, belonging to the order.

    ``declared_passed`` is the inspector's own call: it may fail parts that measure fine
    (e.g. visual reasons) but may not pass parts the rules fail (``ValueError``).
    """

    order_id: int | str
    inspector: str
    at: datetime
    limits: tuple[SpecLimit, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    defects: tuple[Defect, ...] = ()
    max_minor_defects: int | None = None
    declared_passed: bool | None = None
    report_ref: str | None = None

    def __post_init__(self) -> None:
        check_aware(self.at, "inspection time")
        for name in ("limits", "measurements", "defects"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        computed = self.computed_verdict()
        if self.declared_passed and not computed.passed:
            raise ValueError("inspection declared passed but fails: " + "; ".join(computed.reasons))

    def computed_verdict(self) -> InspectionVerdict:
        """The rule-based verdict from limits, measurements and defects."""
        return evaluate_inspection(
            self.limits, self.measurements, self.defects, self.max_minor_defects
        )

    @property
    def verdict(self) -> InspectionVerdict:
        """Final verdict: the rules' verdict, failed too if the inspector declared a fail."""
        computed = self.computed_verdict()
        if self.declared_passed is False and computed.passed:
            return InspectionVerdict(False, ("failed by the inspector",))
        return computed

    @property
    def passed(self) -> bool:
        """True when the parts passed."""
        return self.verdict.passed

    def next_state(self) -> OrderState:
        """``inspected`` on a pass; ``in_production`` (rework) on a fail."""
        return OrderState.INSPECTED if self.passed else OrderState.IN_PRODUCTION


# per-operation progress ---------------------------------------------------------------------


class OperationProgress(StrEnum):
    """Progress of one operation as its provider reports it."""

    PENDING = "pending"
    STARTED = "started"
    DONE = "done"


OPERATION_TRANSITIONS: dict[OperationProgress, frozenset[OperationProgress]] = {
    OperationProgress.PENDING: frozenset({OperationProgress.STARTED}),
    OperationProgress.STARTED: frozenset({OperationProgress.DONE}),
    OperationProgress.DONE: frozenset(),
}
"""An operation goes pending -> started -> done, one step at a time."""

PROGRESS_REPORTING_STATES: frozenset[OrderState] = frozenset(
    {OrderState.SCHEDULED, OrderState.IN_PRODUCTION, OrderState.INSPECTED}
)
"""Order states in which providers may report operation progress."""


@dataclass(frozen=True, slots=True)
class OperationStatus:
    """One operation of an order, the provider organisation running it, and its progress."""

    operation_id: int | str
    provider_org: int | str
    progress: OperationProgress = OperationProgress.PENDING

    def __post_init__(self) -> None:
        object.__setattr__(self, "progress", OperationProgress(self.progress))


def report_progress(
    status: OperationStatus,
    reporter_org: int | str,
    target: OperationProgress | str,
    order_state: OrderState | str,
) -> OperationStatus:
    """Apply a provider's progress report to its own operation; ``ValueError`` otherwise."""
    state = parse_state(order_state, "order")
    if state not in PROGRESS_REPORTING_STATES:
        allowed = ", ".join(sorted(s.value for s in PROGRESS_REPORTING_STATES))
        raise ValueError(
            f"progress cannot be reported while the order is {state.value} ({allowed})"
        )
    if reporter_org != status.provider_org:
        raise ValueError(
            f"organization {reporter_org} does not run operation {status.operation_id}"
        )
    new = OperationProgress(target)
    if new not in OPERATION_TRANSITIONS[status.progress]:
        nxt = ", ".join(p.value for p in OPERATION_TRANSITIONS[status.progress]) or "none"
        raise ValueError(
            f"operation {status.operation_id} cannot go from {status.progress.value} to "
            f"{new.value}; allowed: {nxt}"
        )
    return OperationStatus(status.operation_id, status.provider_org, new)


@dataclass(frozen=True, slots=True)
class ProgressSummary:
    """Counts of operations per progress state and the fraction done."""

    pending: int
    started: int
    done: int

    @property
    def total(self) -> int:
        """Number of operations."""
        return self.pending + self.started + self.done

    @property
    def fraction_done(self) -> float:
        """Share of operations done, 0..1."""
        return self.done / self.total if self.total else 0.0

    @property
    def all_done(self) -> bool:
        """True when every operation is done."""
        return self.total > 0 and self.done == self.total


def summarize_progress(operations: Iterable[OperationStatus]) -> ProgressSummary:
    """Count operations by progress state."""
    counts = dict.fromkeys(OperationProgress, 0)
    for op in operations:
        counts[op.progress] += 1
    return ProgressSummary(
        counts[OperationProgress.PENDING],
        counts[OperationProgress.STARTED],
        counts[OperationProgress.DONE],
    )


def rollup_order_state(
    order_state: OrderState | str, operations: Sequence[OperationStatus]
) -> OrderState | None:
    """The order transition (made by ``system``) that operation progress implies, or ``None``.

    A scheduled order moves to ``in_production`` as soon as any operation has started. When
    every operation is done the order stays ``in_production`` until an inspection record
    moves it on (see :meth:`InspectionRecord.next_state`).
    """
    state = parse_state(order_state, "order")
    if not operations:
        raise ValueError("an order needs at least one operation to roll up progress")
    summary = summarize_progress(operations)
    if state is OrderState.SCHEDULED and summary.pending < summary.total:
        return OrderState.IN_PRODUCTION
    return None
