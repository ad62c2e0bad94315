"""The CP-SAT model: every constraint family and objective, every plan validated."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sched_instances import NIGHTS, Instance

from sharefab.scheduling.baseline import solve_baseline
from sharefab.scheduling.cpsat import CpSatModel, solve_cpsat
from sharefab.scheduling.fjsp import read_fjsp
from sharefab.scheduling.model import (
    Job,
    Mode,
    Objective,
    Operation,
    ProblemData,
    Resource,
    Result,
    SolveStatus,
)
from sharefab.scheduling.validator import validate

DATA = Path(__file__).parent / "data"


def checked(data: ProblemData, result: Result) -> Result:
    """Assert the plan passes the validator and the reported objective is the recomputed one."""
    assert result.solution is not None, result.status
    report = validate(data, result.solution)
    assert report.ok, report.violations
    assert result.objective == report.objective
    if result.lower_bound is not None:
        assert result.lower_bound <= report.objective
    return result


@pytest.mark.parametrize(
    "objective",
    [
        Objective.makespan(),
        Objective.of(cost=1),
        Objective.of(weighted_tardiness=3, makespan=1),
        Objective.of(lexicographic=True, cost=1, makespan=1),
    ],
    ids=["makespan", "cost", "weighted", "lexicographic"],
)
def test_every_canonical_instance_solves_to_a_valid_optimal_plan(
    any_instance: Instance, objective: Objective
) -> None:
    data = replace(any_instance.data, objective=objective)
    result = checked(data, solve_cpsat(data, time_limit=5, workers=1))
    assert result.status == SolveStatus.OPTIMAL
    # never worse than the hand-checked plan
    assert result.objective is not None
    given = validate(data, any_instance.solution)
    if not objective.lexicographic:
        assert result.objective <= given.objective


def test_tiny_fjsp_optimum(tiny_fjsp: Instance) -> None:
    result = checked(tiny_fjsp.data, solve_cpsat(tiny_fjsp.data, time_limit=5, workers=1))
    assert result.objective == 7
    assert result.lower_bound == 7


def test_resumable_operation_runs_across_night_breaks(calendar_instance: Instance) -> None:
    data = calendar_instance.data
    result = checked(data, solve_cpsat(data, time_limit=5, workers=1))
    assert result.solution is not None
    long_lot = result.solution.lots[0][0]
    short_lot = result.solution.lots[1][0]
    # 20 h of work on 12 h night shifts must span at least one break
    assert long_lot.end - long_lot.start > 20
    assert any(s <= short_lot.start and short_lot.end <= e for s, e in NIGHTS)


def test_non_resumable_operation_longer_than_every_window_is_infeasible() -> None:
    data = ProblemData(
        jobs=(Job("j"),),
        resources=(Resource("night", windows=NIGHTS),),
        operations=(Operation(0, (Mode(0, 13),), name="too long"),),
    )
    result = solve_cpsat(data, time_limit=2, workers=1)
    assert result.status == SolveStatus.INFEASIBLE
    assert result.solution is None


def test_operation_without_modes_is_an_infeasible_status() -> None:
    data = ProblemData(
        jobs=(Job("j"),), resources=(Resource("m"),), operations=(Operation(0, (), name="x"),)
    )
    assert solve_cpsat(data, time_limit=1, workers=1).status == SolveStatus.INFEASIBLE


def test_lot_splitting_beats_one_lot(lot_instance: Instance) -> None:
    data = lot_instance.data
    result = checked(data, solve_cpsat(data, time_limit=5, workers=1))
    assert result.solution is not None
    # one lot: fast mill 2..52 then bake 52..82; two lots in parallel finish earlier
    assert result.objective is not None and result.objective < 82
    mill = result.solution.lots[0]
    assert len(mill) >= 2
    assert all(lot.quantity >= 20 for lot in mill)


def test_lexicographic_cost_then_makespan(lot_instance: Instance) -> None:
    data = replace(
        lot_instance.data, objective=Objective.of(lexicographic=True, cost=1, makespan=1)
    )
    result = checked(data, solve_cpsat(data, time_limit=5, workers=1))
    report = validate(data, result.solution)  # type: ignore[arg-type]
    # cheapest: one lot on the slow mill (cost 200 + bake 50); then as early as possible
    assert report.total_cost == 250
    assert report.makespan == 2 + 100 + 30


def test_transport_lag_and_cost_are_traded_off(transport_instance: Instance) -> None:
    data = transport_instance.data
    result = checked(data, solve_cpsat(data, time_limit=5, workers=1))
    # staying on site A: paint 4..10, on time, cost 19; moving costs 7 more and is late
    report = validate(data, result.solution)  # type: ignore[arg-type]
    assert report.transport_legs == 0
    assert result.objective == 19
    cheap_far = replace(
        data,
        transport_cost=((0, 0), (0, 0)),
        objective=Objective.of(cost=1),
    )
    moved = checked(cheap_far, solve_cpsat(cheap_far, time_limit=5, workers=1))
    lots = moved.solution.lots  # type: ignore[union-attr]
    assert lots[1][0].resource == 1
    assert lots[1][0].start >= lots[0][0].end + 5


def test_capacity_and_fixed_bookings(oven_instance: Instance) -> None:
    result = checked(oven_instance.data, solve_cpsat(oven_instance.data, time_limit=5, workers=1))
    # one unit is booked over [0, 10): 4 bakes of 5 need until 15
    assert result.objective == 15


def test_hint_is_accepted_and_never_lost(tiny_fjsp: Instance) -> None:
    model = CpSatModel(tiny_fjsp.data)
    result = model.solve(time_limit=2, workers=1, hint=tiny_fjsp.solution)
    checked(tiny_fjsp.data, result)
    assert result.objective is not None and result.objective <= tiny_fjsp.solution.makespan()


def test_mk01_cpsat_and_baseline_plans_are_valid() -> None:
    data = read_fjsp(DATA / "mk01.fjs")
    ours = checked(data, solve_cpsat(data, time_limit=2, workers=2))
    base = solve_baseline(data, time_limit=2, workers=2)
    checked(data, base)
    # best known makespan of mk01 is 40 (also its lower bound)
    assert ours.objective is not None and ours.objective >= 40
    assert base.objective is not None and base.objective >= 40


def test_release_dates_are_respected(tiny_fjsp: Instance) -> None:
    data = replace(tiny_fjsp.data, jobs=(Job("j0", release=10), Job("j1")))
    result = checked(data, solve_cpsat(data, time_limit=5, workers=1))
    lots = result.solution.lots  # type: ignore[union-attr]
    assert lots[0][0].start >= 10 and lots[1][0].start >= 10


@pytest.mark.parametrize(
    "knob", ["LINK_DURATIONS", "JOB_PATHS", "REDUNDANT"], ids=["link", "paths", "both-loads"]
)
def test_optional_redundant_constraints_keep_the_optimum(
    knob: str, monkeypatch: pytest.MonkeyPatch, tiny_fjsp: Instance, lot_instance: Instance
) -> None:
    import sharefab.scheduling.cpsat.model as cpsat_model

    monkeypatch.setattr(cpsat_model, knob, "both" if knob == "REDUNDANT" else True)
    monkeypatch.setattr(cpsat_model, "FLEXIBLE", 0.0)  # always add the load bounds
    for inst, optimum in ((tiny_fjsp, 7), (lot_instance, 69)):
        result = checked(inst.data, solve_cpsat(inst.data, time_limit=5, workers=1))
        assert result.status == SolveStatus.OPTIMAL
        assert result.objective == optimum
