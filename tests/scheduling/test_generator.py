"""The synthetic cluster generator is deterministic and realistic; the bounds are valid."""

from __future__ import annotations

import pytest

from sharefab.scheduling.bounds import load_bound, term_bounds
from sharefab.scheduling.generator import lower_bound, synthetic_cluster
from sharefab.scheduling.heuristic import construct
from sharefab.scheduling.model import Job, Mode, Objective, Operation, ProblemData, Resource
from sharefab.scheduling.validator import validate


def test_same_seed_same_problem_other_seed_differs() -> None:
    a = synthetic_cluster(20, n_resources=40, n_sites=4, seed=1)
    b = synthetic_cluster(20, n_resources=40, n_sites=4, seed=1)
    c = synthetic_cluster(20, n_resources=40, n_sites=4, seed=2)
    assert a == b
    assert a != c


def test_cluster_shape() -> None:
    data = synthetic_cluster(50, n_ops_per_job=4, n_resources=80, n_sites=6, seed=0)
    assert len(data.jobs) == 50 and len(data.operations) == 200 and len(data.resources) == 80
    assert all(3 <= len(op.modes) <= 17 for op in data.operations)
    assert {r.site for r in data.resources} <= set(range(6))
    assert any(r.capacity > 1 for r in data.resources)
    assert any(r.windows is None for r in data.resources)
    assert any(r.windows is not None for r in data.resources)
    assert any(r.bookings for r in data.resources)
    assert any(op.resumable for op in data.operations)
    assert any(op.splittable for op in data.operations)
    assert all(job.due is not None and job.due > job.release for job in data.jobs)
    assert len(data.transport_time) == 6 and data.transport_time[0][1] > 0
    # a chain per job
    assert len(data.precedences) == 50 * 3


def test_generated_cluster_gets_a_valid_plan_within_bound() -> None:
    data = synthetic_cluster(40, n_resources=60, n_sites=5, seed=7)
    result = construct(data, time_limit=5)
    assert result.solution is not None
    report = validate(data, result.solution)
    assert report.ok, report.violations
    bounds = term_bounds(data)
    assert bounds["makespan"] <= report.makespan
    assert bounds["weighted_tardiness"] <= report.weighted_tardiness
    assert bounds["cost"] <= report.total_cost
    assert lower_bound(data) <= report.objective


def test_load_bound_counts_shared_family_work() -> None:
    # three 10-unit ops that only two machines can do: at least 15
    data = ProblemData(
        jobs=tuple(Job(f"j{i}") for i in range(3)),
        resources=(Resource("a"), Resource("b"), Resource("c")),
        operations=tuple(Operation(i, (Mode(0, 10), Mode(1, 10))) for i in range(3)),
    )
    assert load_bound(data) == 15
    assert lower_bound(data) == 15
    result = construct(data)
    assert result.solution is not None and validate(data, result.solution).ok
    assert result.objective == 20 and result.lower_bound == 15


def test_weighted_and_lexicographic_bounds() -> None:
    data = ProblemData(
        jobs=(Job("j", due=3, weight=2),),
        resources=(Resource("a"),),
        operations=(Operation(0, (Mode(0, 5, cost=7),)),),
        objective=Objective.of(weighted_tardiness=10, cost=1),
    )
    assert lower_bound(data) == 10 * 2 * 2 + 7
    lex = ProblemData(
        data.jobs, data.resources, data.operations, objective=Objective.of(True, cost=1, makespan=1)
    )
    assert lower_bound(lex) == 7


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_resources >= 3"):
        synthetic_cluster(5, n_resources=2)


@pytest.mark.parametrize("seed", range(30))
def test_bounds_never_exceed_a_valid_plan(seed: int) -> None:
    from sched_instances import random_problem

    data = random_problem(seed)
    result = construct(data, restarts=3, seed=seed)
    if result.solution is None:
        return
    report = validate(data, result.solution)
    assert report.ok, report.violations
    bounds = term_bounds(data)
    assert bounds["makespan"] <= report.makespan
    assert bounds["weighted_tardiness"] <= report.weighted_tardiness
    assert bounds["cost"] <= report.total_cost
