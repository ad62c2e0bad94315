"""The constructive heuristic builds plans the validator accepts, honouring every rule."""

from __future__ import annotations

import pytest
from sched_instances import NIGHTS, Instance, random_problem

from sharefab.scheduling.heuristic import RULES, construct
from sharefab.scheduling.model import (
    Booking,
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


def solve_and_validate(data: ProblemData, **kwargs: object) -> Result:
    result = construct(data, **kwargs)  # type: ignore[arg-type]
    assert result.feasible, result.diagnosis
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok, report.violations
    assert result.objective == report.objective
    assert result.lower_bound is not None and result.lower_bound <= report.objective
    return result


@pytest.mark.parametrize("rule", ["auto", *RULES])
def test_every_rule_gives_a_valid_plan(any_instance: Instance, rule: str) -> None:
    solve_and_validate(any_instance.data, rule=rule)


def test_unknown_rule_is_a_value_error(tiny_fjsp: Instance) -> None:
    with pytest.raises(ValueError, match="unknown rule 'fifo'"):
        construct(tiny_fjsp.data, rule="fifo")


def test_tiny_fjsp_reaches_optimum(tiny_fjsp: Instance) -> None:
    # M0 does j1.o0 (2) then j0.o0 (3) while M2/M1 take the rest: makespan 7 is optimal here
    result = solve_and_validate(tiny_fjsp.data)
    assert result.objective == 7


def test_resumable_op_runs_over_three_night_shifts() -> None:
    data = ProblemData(
        jobs=(Job("j"),),
        resources=(Resource("night", windows=NIGHTS),),
        operations=(Operation(0, (Mode(0, 30),), name="anneal", resumable=True),),
    )
    result = solve_and_validate(data)
    assert result.solution is not None
    (lot,) = result.solution.lots[0]
    # 12 h on night one, 12 h on night two, 6 h on night three
    assert (lot.start, lot.end) == (18, 72)


def test_twenty_hour_op_released_mid_shift_spans_three_nights() -> None:
    data = ProblemData(
        jobs=(Job("j", release=26),),
        resources=(Resource("night", windows=NIGHTS),),
        operations=(Operation(0, (Mode(0, 20),), name="weld", resumable=True),),
    )
    result = solve_and_validate(data)
    assert result.solution is not None
    (lot,) = result.solution.lots[0]
    # 4 h (26-30) + 12 h (42-54) + 4 h (66-70)
    assert (lot.start, lot.end) == (26, 70)


def test_twenty_hour_op_waits_out_a_booked_night() -> None:
    res = Resource("night", windows=NIGHTS, bookings=(Booking(18, 30, "order 7"),))
    data = ProblemData(
        jobs=(Job("j"),),
        resources=(res,),
        operations=(Operation(0, (Mode(0, 20),), name="weld", resumable=True),),
    )
    result = solve_and_validate(data)
    assert result.solution is not None
    assert result.solution.lots[0][0].start == 42 and result.solution.lots[0][0].end == 74


def test_bookings_are_respected_and_gaps_used() -> None:
    res = Resource("mill", bookings=(Booking(0, 10), Booking(14, 30)))
    data = ProblemData(
        jobs=(Job("a"), Job("b")),
        resources=(res,),
        operations=(Operation(0, (Mode(0, 4),), name="a"), Operation(1, (Mode(0, 5),), name="b")),
    )
    result = solve_and_validate(data)
    assert result.solution is not None
    starts = sorted((lots[0].start, lots[0].end) for lots in result.solution.lots)
    assert starts == [(10, 14), (30, 35)]  # the 4-unit op fills the gap, the other waits


def test_k_capacity_station_used_k_wide() -> None:
    data = ProblemData(
        jobs=tuple(Job(f"j{i}") for i in range(6)),
        resources=(Resource("oven", capacity=3),),
        operations=tuple(Operation(i, (Mode(0, 10),), name=f"bake{i}") for i in range(6)),
    )
    result = solve_and_validate(data)
    assert result.objective == 20  # two waves of three


def test_transport_lag_applied_between_sites(transport_instance: Instance) -> None:
    data = transport_instance.data
    fast_only = ProblemData(
        data.jobs,
        data.resources,
        (data.operations[0], Operation(0, (Mode(1, 3, cost=6),), name="paint")),
        data.precedences,
        data.transport_time,
        data.transport_cost,
    )
    result = solve_and_validate(fast_only)
    assert result.solution is not None
    assert result.solution.lots[1][0].start == 4 + 5


def test_cost_objective_prefers_cheap_same_site_route(transport_instance: Instance) -> None:
    data = transport_instance.data
    cheap = ProblemData(
        data.jobs,
        data.resources,
        data.operations,
        data.precedences,
        data.transport_time,
        data.transport_cost,
        objective=Objective.of(cost=1),
    )
    result = solve_and_validate(cheap)
    assert result.solution is not None
    # paint on A costs 9 and no transport; on B 6 + 7 transport
    assert result.solution.lots[1][0].resource == 0
    assert result.objective == 19


def test_lot_splitting_used_when_it_finishes_earlier() -> None:
    data = ProblemData(
        jobs=(Job("batch"),),
        resources=(Resource("a"), Resource("b")),
        operations=(
            Operation(
                0, (Mode(0, 100), Mode(1, 100)), name="drill", quantity=100, max_lots=2, min_lot=10
            ),
        ),
    )
    result = solve_and_validate(data)
    assert result.solution is not None
    assert sorted(lot.quantity for lot in result.solution.lots[0]) == [50, 50]
    assert result.objective == 50


def test_release_dates_and_horizon(calendar_instance: Instance) -> None:
    result = solve_and_validate(calendar_instance.data, rule="est")
    assert result.solution is not None
    assert all(lot.end <= 120 for lots in result.solution.lots for lot in lots)


def test_no_eligible_resource_is_infeasible_with_diagnosis() -> None:
    data = ProblemData(
        jobs=(Job("j"),),
        resources=(Resource("m"),),
        operations=(Operation(0, (Mode(0, 3),), name="ok"), Operation(0, (), name="plating")),
        precedences=((0, 1),),
    )
    result = construct(data)
    assert result.status is SolveStatus.INFEASIBLE and result.solution is None
    assert result.diagnosis[0].operation == 1
    assert "plating" in result.diagnosis[0].message


def test_capacity_failure_without_proof_is_unknown_naming_the_op() -> None:
    # each op fits alone before the horizon, but not both
    data = ProblemData(
        jobs=(Job("a"), Job("b")),
        resources=(Resource("m"),),
        operations=(Operation(0, (Mode(0, 6),), name="a"), Operation(1, (Mode(0, 6),), name="b")),
        horizon=10,
    )
    result = construct(data)
    assert result.status is SolveStatus.UNKNOWN and result.solution is None
    assert result.diagnosis and result.diagnosis[0].operation in (0, 1)


def test_randomised_restarts_never_worsen_and_are_seeded() -> None:
    from sharefab.scheduling.generator import synthetic_cluster

    data = synthetic_cluster(25, n_resources=30, n_sites=3, seed=5)
    plain = solve_and_validate(data, seed=1)
    more = solve_and_validate(data, restarts=5, seed=1)
    again = solve_and_validate(data, restarts=5, seed=1)
    assert more.stats["restarts"] == 5
    assert more.objective is not None and plain.objective is not None
    assert more.objective <= plain.objective
    assert again.objective == more.objective


@pytest.mark.parametrize("seed", range(40))
def test_random_problems_get_valid_plans_or_a_named_reason(seed: int) -> None:
    data = random_problem(seed)
    result = construct(data, rule="auto")
    if result.feasible:
        assert result.solution is not None
        report = validate(data, result.solution)
        assert report.ok, report.violations
        assert result.objective == report.objective
    else:
        assert result.status in (SolveStatus.INFEASIBLE, SolveStatus.UNKNOWN)
        assert result.diagnosis and all(d.message for d in result.diagnosis)
