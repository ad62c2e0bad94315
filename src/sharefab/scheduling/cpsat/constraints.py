"""Constraints of the CP-SAT model, one private method per constraint family."""

from __future__ import annotations

import itertools

from ortools.sat.python import cp_model

from sharefab.scheduling.cpsat.variables import LotVar, ModeVar, Variables, min_work
from sharefab.scheduling.model import Operation, ProblemData


class Constraints:
    """Adds every constraint family of the problem to ``model`` over ``variables``."""

    def __init__(self, model: cp_model.CpModel, data: ProblemData, variables: Variables):
        self._model = model
        self._data = data
        self._vars = variables
        self._site_lits: dict[tuple[int, int, int], cp_model.IntVar | None] = {}
        self._select_one_mode_per_lot()
        self._lot_splitting()
        self._resource_capacity()
        self._calendar_windows()
        self._precedences_and_transport()

    # -- modes and lots ------------------------------------------------------------------------

    def _select_one_mode_per_lot(self) -> None:
        """Each present lot runs in exactly one usable mode; an absent lot in none."""
        for lots in self._vars.lots:
            for lot in lots:
                lits = [mv.present for mv in lot.modes]
                if lot.present is None:
                    self._model.add_exactly_one(lits)
                else:
                    self._model.add(sum(lits) == lot.present)

    def _lot_splitting(self) -> None:
        """Lot quantities: each present lot >= min_lot, all lots sum to the quantity.

        Lots of one operation use distinct resources (ordered by resource index, which also
        breaks the symmetry between lot slots); lot slot ``l`` is used only if ``l - 1`` is. The
        processing time of a lot is ``setup + ceil((duration - setup) * q / quantity)``, written
        as two linear inequalities per mode.
        """
        m = self._model
        for i, lots in enumerate(self._vars.lots):
            if len(lots) == 1:
                continue
            op = self._data.operations[i]
            m.add(sum(lot.quantity for lot in lots) == op.quantity)
            for prev, lot in itertools.pairwise(lots):
                assert lot.present is not None
                if prev.present is not None:
                    m.add_implication(lot.present, prev.present)
                m.add(lot.quantity >= op.min_lot).only_enforce_if(lot.present)
                m.add(lot.quantity == 0).only_enforce_if(~lot.present)
                m.add(_resource_index(lot) > _resource_index(prev)).only_enforce_if(lot.present)
            m.add(lots[0].quantity >= op.min_lot)
            for lot in lots:
                for mv in lot.modes:
                    self._lot_duration(op, lot, mv)

    def _lot_duration(self, op: Operation, lot: LotVar, mv: ModeVar) -> None:
        mode = op.modes[mv.mode]
        q, big_q = lot.quantity, op.quantity
        var = mode.duration - mode.setup
        lhs = mv.work * big_q
        base = mode.setup * big_q + var * q
        self._model.add(lhs >= base).only_enforce_if(mv.present)
        self._model.add(lhs <= base + big_q - 1).only_enforce_if(mv.present)

    # -- resources -----------------------------------------------------------------------------

    def _resource_capacity(self) -> None:
        """No-overlap on unary resources, cumulative on resources with capacity > 1.

        Fixed bookings enter as fixed intervals using one unit each.
        """
        m = self._model
        per_resource: list[list[cp_model.IntervalVar]] = [[] for _ in self._data.resources]
        for lots in self._vars.lots:
            for lot in lots:
                for mv in lot.modes:
                    per_resource[mv.resource].append(mv.interval)
        for r, res in enumerate(self._data.resources):
            intervals = list(per_resource[r])
            for b, booking in enumerate(res.bookings):
                intervals.append(
                    m.new_fixed_size_interval_var(
                        booking.start, booking.end - booking.start, f"book{r}_{b}"
                    )
                )
            if not per_resource[r]:
                continue
            if res.capacity == 1:
                m.add_no_overlap(intervals)
            elif len(intervals) > res.capacity:
                m.add_cumulative(intervals, [1] * len(intervals), res.capacity)

    def _calendar_windows(self) -> None:
        """Work happens inside the resource's windows.

        A non-resumable lot lies inside one window: with a fixed processing time its start
        domain is the union of ``[w_start, w_end - d]``; with a variable one (lots) a window
        literal is chosen. A resumable lot starts in window ``k`` and ends in window ``j``
        (one literal per feasible pair) and ``end = start + work + breaks(k..j)``.
        """
        for i, lots in enumerate(self._vars.lots):
            op = self._data.operations[i]
            for lot in lots:
                for mv in lot.modes:
                    windows = self._data.resources[mv.resource].windows
                    if not windows:
                        continue
                    if mv.resumable_on_calendar:
                        self._resumable_window_pairs(op, lot, mv, windows)
                    elif isinstance(mv.work, int):
                        self._fixed_window_domain(lot, mv, windows)
                    else:
                        self._window_choice(op, lot, mv, windows)

    def _fixed_window_domain(
        self, lot: LotVar, mv: ModeVar, windows: tuple[tuple[int, int], ...]
    ) -> None:
        d = int(mv.work)
        h = self._vars.horizon
        spans = [[s, min(e - d, h)] for s, e in windows if e - s >= d and s <= min(e - d, h)]
        if not spans:
            self._model.add(mv.present == 0)
            return
        domain = cp_model.Domain.from_intervals(spans)
        self._model.add_linear_expression_in_domain(lot.start, domain).only_enforce_if(mv.present)

    def _window_choice(
        self, op: Operation, lot: LotVar, mv: ModeVar, windows: tuple[tuple[int, int], ...]
    ) -> None:
        m = self._model
        low = min_work(op, op.modes[mv.mode])
        choices = []
        for k, (s, e) in enumerate(windows):
            if e - s < low:
                continue
            b = m.new_bool_var(f"win{mv.interval.name}_{k}")
            m.add(lot.start >= s).only_enforce_if(b)
            m.add(lot.end <= e).only_enforce_if(b)
            choices.append(b)
        m.add(sum(choices) == mv.present)

    def _resumable_window_pairs(
        self, op: Operation, lot: LotVar, mv: ModeVar, windows: tuple[tuple[int, int], ...]
    ) -> None:
        m = self._model
        low, high = min_work(op, op.modes[mv.mode]), op.modes[mv.mode].duration
        choices = []
        for k, (ks, ke) in enumerate(windows):
            full_between = 0  # work available in windows strictly between k and j
            for j in range(k, len(windows)):
                js, je = windows[j]
                if j == k:
                    min_w, max_w = 1, ke - ks
                else:
                    min_w = 2 + full_between
                    max_w = (ke - ks) + full_between + (je - js)
                if min_w > high:
                    break
                if max_w >= low:
                    gaps = 0 if j == k else (js - ke) - full_between
                    y = m.new_bool_var(f"pair{mv.interval.name}_{k}_{j}")
                    m.add(lot.start >= ks).only_enforce_if(y)
                    m.add(lot.start <= ke - 1).only_enforce_if(y)
                    m.add(lot.end >= js + 1).only_enforce_if(y)
                    m.add(lot.end <= je).only_enforce_if(y)
                    m.add(lot.end == lot.start + mv.work + gaps).only_enforce_if(y)
                    choices.append(y)
                if j > k:
                    full_between += je - js
        if choices:
            m.add(sum(choices) == mv.present)
        else:
            m.add(mv.present == 0)

    # -- precedences -------------------------------------------------------------------------

    def site_literal(self, i: int, lot_no: int, site: int) -> cp_model.IntVar | None:
        """A literal true iff lot ``lot_no`` of operation ``i`` runs at ``site``.

        ``None`` means "always true" (an always-present lot whose modes are all at ``site``).
        """
        key = (i, lot_no, site)
        if key in self._site_lits:
            return self._site_lits[key]
        lot = self._vars.lots[i][lot_no]
        here = [mv.present for mv in lot.modes if mv.site == site]
        if len(here) == len(lot.modes):
            lit = lot.present
        elif len(here) == 1:
            lit = here[0]
        else:
            lit = self._model.new_bool_var(f"site{i}_{lot_no}_{site}")
            self._model.add(sum(here) == lit)
        self._site_lits[key] = lit
        return lit

    def lot_sites(self, i: int, lot_no: int) -> list[int]:
        return sorted({mv.site for mv in self._vars.lots[i][lot_no].modes})

    def _precedences_and_transport(self) -> None:
        """For ``(a, b)``: every lot of ``b`` starts after every lot of ``a`` ends, plus the
        transport time between their sites when they are on different sites."""
        m = self._model
        data = self._data
        has_travel = any(v > 0 for row in data.transport_time for v in row)
        for a, b in data.precedences:
            for la_no, la in enumerate(self._vars.lots[a]):
                for lb_no, lb in enumerate(self._vars.lots[b]):
                    cond = la.literals() + lb.literals()
                    m.add(lb.start >= la.end).only_enforce_if(cond)
                    if not has_travel:
                        continue
                    for sa in self.lot_sites(a, la_no):
                        for sb in self.lot_sites(b, lb_no):
                            lag = data.travel(sa, sb)
                            if lag <= 0:
                                continue
                            lits = [
                                x
                                for x in (
                                    self.site_literal(a, la_no, sa),
                                    self.site_literal(b, lb_no, sb),
                                )
                                if x is not None
                            ]
                            m.add(lb.start >= la.end + lag).only_enforce_if(lits)


def _resource_index(lot: LotVar) -> cp_model.LinearExprT:
    return sum(mv.resource * mv.present for mv in lot.modes)
