"""Large-neighbourhood search: improves a plan, never worsens it, on any problem shape."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from sched_instances import Instance

from sharefab.scheduling.cpsat import evaluate, objective_value
from sharefab.scheduling.fjsp import read_fjsp
from sharefab.scheduling.lns import lns
from sharefab.scheduling.model import Lot, Objective, ProblemData, Solution, SolveStatus
from sharefab.scheduling.portfolio import run_portfolio
from sharefab.scheduling.validator import validate
from sharefab.scheduling.warmstart import list_schedule

DATA = Path(__file__).parent / "data"


def serial_plan(data: ProblemData) -> Solution:
    """A valid but poor plan for FJSP data: every operation one after the other, first mode."""
    t = 0
    lots = []
    for op in data.operations:
        mode = op.modes[0]
        lots.append((Lot(mode.resource, t, t + mode.duration, op.quantity),))
        t += mode.duration
    return Solution(tuple(lots))


def test_lns_improves_a_serial_plan_of_mk01() -> None:
    data = read_fjsp(DATA / "mk01.fjs")
    start = serial_plan(data)
    assert validate(data, start).ok
    result = lns(data, start, time_limit=2.0, seed=1, workers=2)
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok, report.violations
    assert result.objective == report.objective
    assert report.makespan < start.makespan() / 2
    assert report.makespan >= 40  # best known (optimal) makespan of mk01
    assert result.stats["iterations"] >= 1


@pytest.mark.parametrize(
    "objective",
    [Objective.makespan(), Objective.of(weighted_tardiness=2, cost=1)],
    ids=["makespan", "weighted"],
)
def test_lns_never_worsens_the_start(any_instance: Instance, objective: Objective) -> None:
    data = replace(any_instance.data, objective=objective)
    start = any_instance.solution
    before = objective_value(data, evaluate(data, start))
    result = lns(data, start, time_limit=0.6, seed=0, workers=1)
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok, report.violations
    assert report.objective <= before


def test_lns_stops_at_the_lower_bound(tiny_fjsp: Instance) -> None:
    result = lns(tiny_fjsp.data, tiny_fjsp.solution, time_limit=5, lower_bound=7)
    assert result.objective == 7
    assert result.stats["iterations"] == 0  # stopped before any sub-problem
    assert result.status == SolveStatus.OPTIMAL


def test_list_schedule_builds_valid_plans_and_declines_calendars(
    tiny_fjsp: Instance, calendar_instance: Instance
) -> None:
    data = read_fjsp(DATA / "mk01.fjs")
    for rng in (None, random.Random(3)):
        plan = list_schedule(data, rng)
        assert plan is not None
        assert validate(data, plan).ok
    assert list_schedule(calendar_instance.data) is None


def test_list_schedule_respects_transport_and_bookings(transport_instance: Instance) -> None:
    plan = list_schedule(transport_instance.data)
    assert plan is not None
    report = validate(transport_instance.data, plan)
    assert report.ok, report.violations


def test_portfolio_shares_one_incumbent_between_cpsat_and_lns() -> None:
    data = read_fjsp(DATA / "mk01.fjs")
    start = serial_plan(data)
    seen: list[tuple[str, float]] = []
    result = run_portfolio(
        data, start, time_limit=2.0, seed=0, workers=2, progress=lambda s, v: seen.append((s, v))
    )
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok, report.violations
    assert result.objective == report.objective
    assert report.makespan < start.makespan() / 2
    assert result.lower_bound is not None and result.lower_bound <= report.makespan
    # every reported value is a strict improvement on the shared incumbent
    values = [v for _, v in seen]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)


def test_frozen_lns_improves_mk01_without_the_full_model() -> None:
    data = read_fjsp(DATA / "mk01.fjs")
    start = serial_plan(data)
    result = lns(data, start, time_limit=2.0, seed=2, workers=1, frozen=True)
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok, report.violations
    assert report.makespan < start.makespan()
    assert result.stats["improvements"] >= 1


@pytest.mark.parametrize(
    "objective",
    [Objective.makespan(), Objective.of(weighted_tardiness=2, cost=1)],
    ids=["makespan", "weighted"],
)
def test_frozen_lns_keeps_every_constraint(any_instance: Instance, objective: Objective) -> None:
    data = replace(any_instance.data, objective=objective)
    start = any_instance.solution
    before = objective_value(data, evaluate(data, start))
    result = lns(data, start, time_limit=0.6, seed=0, workers=1, frozen=True)
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok, report.violations
    assert report.objective <= before


def test_list_schedule_gives_up_at_its_deadline() -> None:
    data = read_fjsp(DATA / "mk01.fjs")
    assert list_schedule(data, deadline=0.0) is None  # a deadline long past


def test_sequence_neighbourhood_reorders_without_moving_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With only the "sequence" neighbourhood, LNS improves mk01 by re-ordering alone."""
    import sharefab.scheduling.lns as lns_module

    monkeypatch.setattr(lns_module, "KINDS", ("sequence",))
    data = read_fjsp(DATA / "mk01.fjs")
    start = serial_plan(data)
    result = lns(data, start, time_limit=1.5, seed=0, workers=2)
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok, report.violations
    assert report.makespan < start.makespan()
    moved = [
        i
        for i, (a, b) in enumerate(zip(start.lots, result.solution.lots, strict=True))
        if a[0].resource != b[0].resource
    ]
    assert moved == []


def test_sequence_neighbourhood_keeps_every_constraint(
    any_instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lots, calendars, transport and bookings survive re-ordering with resources kept."""
    import sharefab.scheduling.lns as lns_module

    monkeypatch.setattr(lns_module, "KINDS", ("sequence", "time_window"))
    data = any_instance.data
    start = any_instance.solution
    before = objective_value(data, evaluate(data, start))
    result = lns(data, start, time_limit=0.6, seed=2, workers=1)
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok, report.violations
    assert report.objective <= before
