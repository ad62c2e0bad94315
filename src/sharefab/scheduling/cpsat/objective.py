"""Objective terms of the CP-SAT model, and their exact evaluation on a solution."""

from __future__ import annotations

from ortools.sat.python import cp_model

from sharefab.scheduling.cpsat.constraints import Constraints
from sharefab.scheduling.cpsat.variables import Variables
from sharefab.scheduling.model import ObjectiveKind, ProblemData, Solution


def evaluate(data: ProblemData, solution: Solution) -> dict[ObjectiveKind, int]:
    """The exact value of every objective term of ``solution`` (as the validator defines it)."""
    makespan = solution.makespan()
    completion = [0] * len(data.jobs)
    cost = 0
    for i, lots in enumerate(solution.lots):
        op = data.operations[i]
        by_res = {m.resource: m for m in op.modes}
        for lot in lots:
            completion[op.job] = max(completion[op.job], lot.end)
            mode = by_res.get(lot.resource)
            if mode is not None:
                cost += mode.lot_cost(lot.quantity, op.quantity)
    site = [r.site for r in data.resources]
    for a, b in data.precedences:
        for la in solution.lots[a]:
            for lb in solution.lots[b]:
                cost += data.travel_cost(site[la.resource], site[lb.resource])
    tardiness = sum(
        job.weight * max(0, completion[j] - job.due)
        for j, job in enumerate(data.jobs)
        if job.due is not None
    )
    return {
        ObjectiveKind.MAKESPAN: makespan,
        ObjectiveKind.WEIGHTED_TARDINESS: tardiness,
        ObjectiveKind.COST: cost,
    }


def objective_value(data: ProblemData, terms: dict[ObjectiveKind, int]) -> float:
    """``sum(weight * term)``; for a lexicographic objective the primary term's value.

    This is the validator's convention (:func:`sharefab.scheduling.validator.objective_value`).
    """
    if data.objective.lexicographic:
        return float(terms[data.objective.weights[0][0]])
    return float(sum(w * terms[k] for k, w in data.objective.weights))


def objective_key(data: ProblemData, terms: dict[ObjectiveKind, int]) -> tuple[float, ...]:
    """A sort key: smaller is better (term by term for a lexicographic objective)."""
    if data.objective.lexicographic:
        return tuple(float(terms[k]) for k, _ in data.objective.weights)
    return (objective_value(data, terms),)


class Objective:
    """Builds one linear expression per objective term used by ``data.objective``."""

    def __init__(
        self,
        model: cp_model.CpModel,
        data: ProblemData,
        variables: Variables,
        constraints: Constraints,
    ):
        self._model = model
        self._data = data
        self._vars = variables
        self._cons = constraints
        self.terms: dict[ObjectiveKind, cp_model.LinearExprT] = {}
        self.upper: dict[ObjectiveKind, int] = {}
        builders = {
            ObjectiveKind.MAKESPAN: self._makespan,
            ObjectiveKind.WEIGHTED_TARDINESS: self._weighted_tardiness,
            ObjectiveKind.COST: self._cost,
        }
        for kind, _ in data.objective.weights:
            self.terms[kind] = builders[kind]()

    def _sink_lots(self):  # type: ignore[no-untyped-def]
        succ = self._data.successors()
        for i, lots in enumerate(self._vars.lots):
            if not succ[i]:
                yield i, lots

    def _makespan(self) -> cp_model.IntVar:
        """Makespan: at least the end of every present lot of every last operation."""
        h = self._vars.horizon
        cmax = self._model.new_int_var(0, h, "makespan")
        for _, lots in self._sink_lots():
            for lot in lots:
                self._model.add(cmax >= lot.end).only_enforce_if(lot.literals())
        self.makespan_var = cmax
        self.upper[ObjectiveKind.MAKESPAN] = h
        return cmax

    def _weighted_tardiness(self) -> cp_model.LinearExprT:
        """Sum of ``weight * max(0, completion - due)`` over jobs with a due date."""
        m, h = self._model, self._vars.horizon
        completion: dict[int, cp_model.IntVar] = {}
        for i, lots in self._sink_lots():
            job = self._data.operations[i].job
            if self._data.jobs[job].due is None:
                continue
            if job not in completion:
                completion[job] = m.new_int_var(0, h, f"C{job}")
            for lot in lots:
                m.add(completion[job] >= lot.end).only_enforce_if(lot.literals())
        terms = []
        bound = 0
        self.tardiness_vars: dict[int, cp_model.IntVar] = {}
        self.completion_vars = completion
        for j, c in completion.items():
            job = self._data.jobs[j]
            assert job.due is not None
            t = m.new_int_var(0, max(0, h - job.due), f"T{j}")
            m.add(t >= c - job.due)
            self.tardiness_vars[j] = t
            terms.append(job.weight * t)
            bound += job.weight * max(0, h - job.due)
        self.upper[ObjectiveKind.WEIGHTED_TARDINESS] = bound
        return sum(terms) if terms else 0

    def _cost(self) -> cp_model.LinearExprT:
        """Processing cost of every lot plus the price of every transport leg."""
        m, data = self._model, self._data
        terms: list[cp_model.LinearExprT] = []
        bound = 0
        for i, lots in enumerate(self._vars.lots):
            op = data.operations[i]
            for lot in lots:
                for mv in lot.modes:
                    mode = op.modes[mv.mode]
                    bound += mode.cost
                    if isinstance(lot.quantity, int):
                        terms.append(mode.cost * mv.present)
                        continue
                    var = mode.cost - mode.setup_cost
                    c = m.new_int_var(0, var, f"cost{mv.interval.name}")
                    m.add(c * op.quantity >= var * lot.quantity).only_enforce_if(mv.present)
                    terms.append(mode.setup_cost * mv.present + c)
        if data.transport_cost:
            for a, b in data.precedences:
                for la_no in range(len(self._vars.lots[a])):
                    for lb_no in range(len(self._vars.lots[b])):
                        for sa in self._cons.lot_sites(a, la_no):
                            for sb in self._cons.lot_sites(b, lb_no):
                                price = data.travel_cost(sa, sb)
                                if price <= 0:
                                    continue
                                bound += price
                                lits = [
                                    x
                                    for x in (
                                        self._cons.site_literal(a, la_no, sa),
                                        self._cons.site_literal(b, lb_no, sb),
                                    )
                                    if x is not None
                                ]
                                leg = m.new_bool_var(f"leg{a}_{la_no}_{b}_{lb_no}_{sa}_{sb}")
                                m.add_bool_or([leg, *[~x for x in lits]])
                                terms.append(price * leg)
        self.upper[ObjectiveKind.COST] = bound
        return sum(terms) if terms else 0

    def combined(self, kinds: list[tuple[ObjectiveKind, int]]) -> cp_model.LinearExprT:
        """``sum(weight * term)`` over ``kinds``."""
        return sum(w * self.terms[k] for k, w in kinds if w)

    def lexicographic_weights(self) -> list[tuple[ObjectiveKind, int]] | None:
        """Weights that make a weighted sum order solutions lexicographically, if they fit."""
        weights: list[tuple[ObjectiveKind, int]] = []
        scale = 1
        for kind, _ in reversed(self._data.objective.weights):
            weights.append((kind, scale))
            scale *= self.upper[kind] + 1
            if scale > 2**50:
                return None
        return list(reversed(weights))
