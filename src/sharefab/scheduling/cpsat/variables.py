"""Decision variables of the CP-SAT model: lots, their modes and optional intervals."""

from __future__ import annotations

from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from sharefab.scheduling.model import Mode, Operation, ProblemData


@dataclass(slots=True)
class ModeVar:
    """One lot running in one mode: an optional interval on the mode's resource."""

    mode: int  # index into ``operation.modes``
    resource: int
    site: int
    present: cp_model.IntVar
    work: cp_model.IntVar | int  # processing time, without calendar breaks
    interval: cp_model.IntervalVar
    resumable_on_calendar: bool


@dataclass(slots=True)
class LotVar:
    """One lot of an operation; unsplit operations have exactly one, always present."""

    present: cp_model.IntVar | None  # None: always present
    start: cp_model.IntVar
    end: cp_model.IntVar
    quantity: cp_model.IntVar | int
    modes: list[ModeVar] = field(default_factory=list)

    def literals(self) -> list[cp_model.IntVar]:
        """Presence literals of this lot (empty when it is always present)."""
        return [] if self.present is None else [self.present]


def usable_modes(data: ProblemData, op: Operation) -> list[int]:
    """Indices of the modes of ``op`` that can run at all (a long enough window exists)."""
    out = []
    for k, mode in enumerate(op.modes):
        windows = data.resources[mode.resource].windows
        if windows is None or not windows:
            if windows is not None:  # an empty calendar: never available
                continue
            out.append(k)
            continue
        if op.resumable:
            if sum(e - s for s, e in windows) >= min_work(op, mode):
                out.append(k)
        elif any(e - s >= min_work(op, mode) for s, e in windows):
            out.append(k)
    return out


def n_lots(op: Operation, n_modes: int) -> int:
    """How many lot slots an operation gets (lots of one operation use distinct resources)."""
    if not op.splittable:
        return 1
    return max(1, min(op.max_lots, op.quantity // op.min_lot, n_modes))


def min_work(op: Operation, mode: Mode) -> int:
    """Shortest processing time of any lot of ``op`` on ``mode``."""
    if not op.splittable:
        return mode.duration
    return mode.lot_duration(op.min_lot, op.quantity)


def default_horizon(data: ProblemData) -> int:
    """An upper bound on every end time: latest fixed date plus a serial schedule of all work."""
    latest = max((j.release for j in data.jobs), default=0)
    for res in data.resources:
        if res.windows:
            latest = max(latest, res.windows[-1][1])
        if res.bookings:
            latest = max(latest, max(b.end for b in res.bookings))
    work = sum(max((m.duration for m in op.modes), default=0) for op in data.operations)
    travel = max((v for row in data.transport_time for v in row), default=0)
    return max(1, latest + work + travel * len(data.precedences))


class Variables:
    """Creates lots, modes and intervals for every operation of ``data``.

    ``modes_of[i]`` lists the usable mode indices of operation ``i`` (empty: the operation cannot
    run anywhere, and the model is infeasible).
    """

    def __init__(self, model: cp_model.CpModel, data: ProblemData, horizon: int | None = None):
        self._model = model
        self._data = data
        self.horizon = horizon or data.horizon or default_horizon(data)
        self.modes_of: list[list[int]] = [usable_modes(data, op) for op in data.operations]
        self.lots: list[list[LotVar]] = [
            self._make_lots(i, op) for i, op in enumerate(data.operations)
        ]

    def _make_lots(self, i: int, op: Operation) -> list[LotVar]:
        m, h = self._model, self.horizon
        release = self._data.jobs[op.job].release
        count = n_lots(op, len(self.modes_of[i]))
        lots: list[LotVar] = []
        for lot_no in range(count):
            present = None if lot_no == 0 else m.new_bool_var(f"lot{i}_{lot_no}")
            start = m.new_int_var(min(release, h), h, f"s{i}_{lot_no}")
            end = m.new_int_var(min(release, h), h, f"e{i}_{lot_no}")
            quantity: cp_model.IntVar | int = op.quantity
            if count > 1:
                quantity = m.new_int_var(0, op.quantity, f"q{i}_{lot_no}")
            lot = LotVar(present, start, end, quantity)
            for k in self.modes_of[i]:
                lot.modes.append(self._make_mode(i, lot_no, op, k, lot, count > 1))
            lots.append(lot)
        return lots

    def _make_mode(
        self, i: int, lot_no: int, op: Operation, k: int, lot: LotVar, split: bool
    ) -> ModeVar:
        m, h = self._model, self.horizon
        mode = op.modes[k]
        res = self._data.resources[mode.resource]
        tag = f"{i}_{lot_no}_{mode.resource}"
        present = m.new_bool_var(f"x{tag}")
        work: cp_model.IntVar | int = mode.duration
        if split:
            work = m.new_int_var(min_work(op, mode), mode.duration, f"w{tag}")
        on_calendar = op.resumable and bool(res.windows) and mode.duration > 0
        if on_calendar:
            size = m.new_int_var(min_work(op, mode), h, f"len{tag}")
            interval = m.new_optional_interval_var(lot.start, size, lot.end, present, f"iv{tag}")
        else:
            interval = m.new_optional_interval_var(lot.start, work, lot.end, present, f"iv{tag}")
        return ModeVar(k, mode.resource, res.site, present, work, interval, on_calendar)


def estimated_size(data: ProblemData) -> int:
    """A cheap estimate of how many constraints :class:`CpSatModel` would create.

    Used to skip the full model when building it alone would not fit the time limit (calendar
    windows of resumable operations and site-dependent transport lags dominate).
    """
    size = 0
    for op in data.operations:
        lots = n_lots(op, len(op.modes))
        for mode in op.modes:
            windows = data.resources[mode.resource].windows or ()
            if not windows:
                per_mode = 3
            elif op.resumable:
                per_mode = 3 + 10 * len(windows)
            elif op.splittable:
                per_mode = 3 + 3 * len(windows)
            else:
                per_mode = 4
            size += lots * per_mode
    if any(v > 0 for row in data.transport_time for v in row):
        sites = [len({data.resources[m.resource].site for m in op.modes}) for op in data.operations]
    else:
        sites = [1] * len(data.operations)
    for a, b in data.precedences:
        size += 1 + sites[a] * sites[b]
    return size
