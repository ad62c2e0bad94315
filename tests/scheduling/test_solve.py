"""The public ``solve`` entry: every method gives a validated plan; errors are clear."""

from __future__ import annotations

from pathlib import Path

import pytest
from sched_instances import NIGHTS, Instance

from sharefab.scheduling.fjsp import read_fjsp
from sharefab.scheduling.model import (
    InfeasibleReason,
    Job,
    Mode,
    Operation,
    ProblemData,
    Resource,
    Solution,
    SolveStatus,
)
from sharefab.scheduling.solve import solve
from sharefab.scheduling.validator import validate

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("method", ["auto", "cpsat", "lns", "heuristic"])
def test_every_method_returns_a_validated_plan(any_instance: Instance, method: str) -> None:
    data = any_instance.data
    result = solve(data, method=method, time_limit=1.0, workers=1)
    assert result.feasible, (result.status, result.diagnosis)
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok, report.violations
    assert result.objective == report.objective


def test_auto_reaches_the_mk01_optimum_quickly_and_reports_progress() -> None:
    data = read_fjsp(DATA / "mk01.fjs")
    seen: list[tuple[str, float]] = []
    result = solve(data, time_limit=4.0, workers=2, progress=lambda s, v: seen.append((s, v)))
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok
    assert 40 <= report.makespan <= 42  # 40 is optimal
    assert result.lower_bound is not None and result.lower_bound <= report.makespan
    assert seen and seen[0][0] == "heuristic"
    assert [v for _, v in seen] == sorted((v for _, v in seen), reverse=True)


def test_kacem_k1_is_solved_to_optimality() -> None:
    data = read_fjsp(DATA / "k1.fjs")
    result = solve(data, time_limit=3.0, workers=1)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == 11  # published optimum
    assert validate(data, result.solution).ok  # type: ignore[arg-type]


def test_hint_is_used_as_the_start(tiny_fjsp: Instance) -> None:
    result = solve(tiny_fjsp.data, method="lns", time_limit=1.0, hint=tiny_fjsp.solution)
    assert result.solution is not None
    assert validate(tiny_fjsp.data, result.solution).ok
    assert result.objective is not None and result.objective <= 7


def test_infeasible_is_a_status_with_a_diagnosis() -> None:
    data = ProblemData(
        jobs=(Job("j"),),
        resources=(Resource("night", windows=NIGHTS),),
        operations=(Operation(0, (Mode(0, 13),), name="too long"),),
    )
    result = solve(data, time_limit=1.0, workers=1)
    assert result.status == SolveStatus.INFEASIBLE
    assert result.solution is None
    assert result.diagnosis
    assert result.diagnosis[0].operation == 0
    assert result.diagnosis[0].reason == InfeasibleReason.NO_WINDOW_LONG_ENOUGH


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "magic", "time_limit": 1.0}, "unknown method 'magic'"),
        ({"time_limit": 0}, "time_limit must be positive"),
        ({"time_limit": 1.0, "workers": 0}, "workers must be >= 1"),
        ({"time_limit": 1.0, "hint": Solution(())}, "hint has lots for 0 operations"),
    ],
)
def test_bad_arguments_raise_value_error(
    tiny_fjsp: Instance, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        solve(tiny_fjsp.data, **kwargs)  # type: ignore[arg-type]


def test_a_model_too_large_for_the_time_limit_switches_to_frozen_lns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sharefab.scheduling.solve as solve_module

    data = read_fjsp(DATA / "mk01.fjs")
    monkeypatch.setattr(solve_module, "BUILD_RATE", 1)  # pretend model building is very slow
    result = solve(data, time_limit=1.5, workers=1)
    assert result.feasible
    assert result.stats["model_too_large"] == 1.0
    assert result.stats["rejected"] == 0  # every frozen sub-problem plan was valid
    report = validate(data, result.solution)  # type: ignore[arg-type]
    assert report.ok, report.violations
    assert result.objective is not None and result.objective <= result.stats["warm_start"]
