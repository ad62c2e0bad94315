"""LNS sub-problems for large plans: only the freed operations are modelled.

Every other operation stays exactly where the incumbent put it: its lots enter the sub-problem
as fixed bookings on their resources, and as time bounds (with the transport time of the
chosen site) on the freed operations that precede or follow it. The sub-model is therefore as
small as the neighbourhood, whatever the size of the plan, which is what keeps LNS usable on
clusters whose full CP-SAT model would take longer to build than the time limit.
"""

from __future__ import annotations

from dataclasses import replace

from ortools.sat.python import cp_model

from sharefab.scheduling.cpsat import CpSatModel
from sharefab.scheduling.model import Booking, ObjectiveKind, ProblemData, Solution

#: CP-SAT presolve on frozen sub-problems (their many fixed bookings make it slow).
PRESOLVE = False


def solve_frozen(
    data: ProblemData,
    incumbent: Solution,
    free: set[int],
    *,
    limit: float,
    seed: int,
    workers: int,
    horizon: int,
) -> tuple[Solution | None, bool]:
    """Re-plan the ``free`` operations around the frozen rest; (full plan or None, optimal)."""
    ops = sorted(free)
    index = {i: k for k, i in enumerate(ops)}
    lo, hi = _time_range(incumbent, ops, horizon)
    sub = _sub_problem(data, incumbent, free, ops, index, (lo, hi))
    cm = CpSatModel(sub, horizon=horizon, redundant=False)
    model = cm.model
    for slots in cm.variables.lots:
        for slot in slots:
            model.add(slot.start >= lo)
            model.add(slot.end <= hi)
    site = [r.site for r in data.resources]
    extra_cost: list[cp_model.LinearExprT] = []
    for a, b in data.precedences:
        if (a in free) == (b in free):
            continue
        free_op, fixed_op = (b, a) if b in free else (a, b)
        for slot in cm.variables.lots[index[free_op]]:
            for mv in slot.modes:
                for lot in incumbent.lots[fixed_op]:
                    if fixed_op == a:  # fixed predecessor: start after it plus transport
                        lag = data.travel(site[lot.resource], mv.site)
                        model.add(slot.start >= lot.end + lag).only_enforce_if(mv.present)
                        price = data.travel_cost(site[lot.resource], mv.site)
                    else:  # fixed successor: arrive before it starts
                        lag = data.travel(mv.site, site[lot.resource])
                        model.add(slot.end + lag <= lot.start).only_enforce_if(mv.present)
                        price = data.travel_cost(mv.site, site[lot.resource])
                    if price > 0:
                        extra_cost.append(price * mv.present)
    _frozen_objective_floor(data, incumbent, free, cm)
    weights = list(data.objective.weights)
    if data.objective.lexicographic:
        weights = cm.objective.lexicographic_weights() or [weights[0]]
    expr = cm.objective.combined(weights)
    cost_weight = dict(weights).get(ObjectiveKind.COST, 0)
    if extra_cost and cost_weight:
        expr = expr + cost_weight * sum(extra_cost)
    model.minimize(expr)
    cm.add_hint(Solution(tuple(incumbent.lots[i] for i in ops)))
    _complete_hint(model, limit / 4)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, limit)
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = workers
    solver.parameters.cp_model_presolve = PRESOLVE
    code = solver.solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, code == cp_model.INFEASIBLE
    planned = cm.extract(solver)
    lots = list(incumbent.lots)
    for k, i in enumerate(ops):
        lots[i] = planned.lots[k]
    return Solution(tuple(lots)), code == cp_model.OPTIMAL


def _time_range(incumbent: Solution, ops: list[int], horizon: int) -> tuple[int, int]:
    """Where the freed operations may move: their current span, widened by itself each side.

    Restricting the sub-problem to a window keeps it small (only the bookings and calendar
    windows that meet it are modelled) and is always safe: the incumbent lies inside it.
    """
    starts = [lot.start for i in ops for lot in incumbent.lots[i]]
    ends = [lot.end for i in ops for lot in incumbent.lots[i]]
    if not starts:
        return 0, horizon
    span = max(max(ends) - min(starts), 1)
    return max(0, min(starts) - span), min(horizon, max(ends) + span)


def _sub_problem(
    data: ProblemData,
    incumbent: Solution,
    free: set[int],
    ops: list[int],
    index: dict[int, int],
    window: tuple[int, int],
) -> ProblemData:
    """The freed operations alone within ``window``, every frozen lot booked on its resource.

    Bookings and calendar windows that do not meet ``window`` are left out.
    """
    lo, hi = window

    def meets(start: int, end: int) -> bool:
        return start < hi and end > lo

    booked: dict[int, list[Booking]] = {}
    for i, lots in enumerate(incumbent.lots):
        if i in free:
            continue
        for lot in lots:
            if lot.end > lot.start and meets(lot.start, lot.end):
                booked.setdefault(lot.resource, []).append(Booking(lot.start, lot.end, f"op{i}"))
    used = {m.resource for i in ops for m in data.operations[i].modes}
    resources = tuple(
        replace(
            res,
            bookings=tuple(b for b in res.bookings if meets(b.start, b.end))
            + tuple(booked.get(r, ())),
            windows=None
            if res.windows is None
            else tuple(w for w in res.windows if w[0] <= hi and w[1] >= lo),
        )
        if r in used
        else replace(res, bookings=(), windows=None)
        for r, res in enumerate(data.resources)
    )
    return replace(
        data,
        resources=resources,
        operations=tuple(data.operations[i] for i in ops),
        precedences=tuple(
            (index[a], index[b]) for a, b in data.precedences if a in free and b in free
        ),
    )


def _frozen_objective_floor(
    data: ProblemData, incumbent: Solution, free: set[int], cm: CpSatModel
) -> None:
    """Makespan and job completions are at least what the frozen lots already reach."""
    frozen_end = [0] * len(data.jobs)
    for i, lots in enumerate(incumbent.lots):
        if i in free:
            continue
        job = data.operations[i].job
        for lot in lots:
            frozen_end[job] = max(frozen_end[job], lot.end)
    cmax = getattr(cm.objective, "makespan_var", None)
    if cmax is not None:
        cm.model.add(cmax >= max(frozen_end, default=0))
    for job, completion in getattr(cm.objective, "completion_vars", {}).items():
        cm.model.add(completion >= frozen_end[job])


def _complete_hint(model: cp_model.CpModel, limit: float) -> None:
    """Turn the partial hint (lots only) into a complete one.

    The incumbent fixes every lot, but not the window, site and cost literals derived from
    them; CP-SAT often fails to complete such a hint under an objective. Solving once with the
    hinted variables fixed yields every other variable, which then become the hint.
    """
    probe = cp_model.CpSolver()
    probe.parameters.fix_variables_to_their_hinted_value = True
    probe.parameters.max_time_in_seconds = max(0.01, limit)
    probe.parameters.num_workers = 1
    if probe.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return
    values = list(probe.response_proto.solution)
    model.clear_hints()
    for index, value in enumerate(values):
        model.add_hint(model.get_int_var_from_proto_index(index), value)
