"""Quote insertion: one new job placed into an existing plan without moving anything."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sched_instances import NIGHTS, random_problem

from sharefab.scheduling.generator import synthetic_cluster
from sharefab.scheduling.index import FreeIndex
from sharefab.scheduling.model import (
    Booking,
    InfeasibleReason,
    Job,
    Mode,
    Operation,
    ProblemData,
    Resource,
    Solution,
    SolveStatus,
)
from sharefab.scheduling.quote import JobSpec, Quote, insert_job, release_quote
from sharefab.scheduling.validator import validate

TT = ((0, 8), (8, 0))
TC = ((0, 50), (50, 0))


def resources() -> tuple[Resource, ...]:
    return (
        Resource("lathe-A", site=0, bookings=(Booking(0, 20), Booking(25, 40))),
        Resource("lathe-B", site=1, bookings=(Booking(0, 5),)),
        Resource("oven-A", capacity=2, site=0, bookings=(Booking(0, 30), Booking(10, 30))),
        Resource("night-B", site=1, windows=NIGHTS),
    )


def spec() -> JobSpec:
    return JobSpec(
        operations=(
            Operation(0, (Mode(0, 5, cost=100), Mode(1, 6, cost=300)), name="turn"),
            Operation(0, (Mode(2, 10, cost=40), Mode(3, 10, cost=20)), name="bake"),
            Operation(0, (Mode(0, 3, cost=10), Mode(1, 3, cost=10)), name="finish"),
        ),
        precedences=((0, 1), (1, 2)),
        release=2,
        due=60,
    )


def check(res: Sequence[Resource], job: JobSpec, quote: Quote) -> None:
    """The quote plus the existing bookings is a valid plan with the quoted figures."""
    data = ProblemData(
        jobs=(Job("new", job.release, job.due, job.weight),),
        resources=tuple(res),
        operations=job.operations,
        precedences=job.precedences,
        transport_time=TT,
        transport_cost=TC,
    )
    report = validate(data, Solution(quote.operation_lots(len(job.operations))))
    assert report.ok, report.violations
    assert quote.completion == report.makespan
    assert quote.processing_cost == report.processing_cost
    assert quote.transport_cost == report.transport_cost
    assert quote.transport_legs == report.transport_legs


def make_index() -> FreeIndex:
    return FreeIndex(resources(), transport_time=TT, transport_cost=TC)


def test_fastest_quote_is_valid_and_leaves_index_untouched() -> None:
    index = make_index()
    before = [index.free(u) for u in range(5)]
    quote = insert_job(index, spec(), criterion="fastest")
    assert quote.feasible
    check(resources(), spec(), quote)
    assert [index.free(u) for u in range(5)] == before
    # lathe-A's first gap is [20, 25); lathe-B is free from 5 and finishes first
    turn = next(lot for lot in quote.lots if lot.operation == 0)
    assert (turn.resource, turn.start, turn.end) == (1, 5, 11)


def test_cheapest_differs_from_fastest() -> None:
    index = make_index()
    fast = insert_job(index, spec(), criterion="fastest")
    cheap = insert_job(index, spec(), criterion="cheapest")
    check(resources(), spec(), fast)
    check(resources(), spec(), cheap)
    assert cheap.total_cost <= fast.total_cost
    assert fast.completion is not None and cheap.completion is not None
    assert fast.completion <= cheap.completion
    assert (fast.completion, fast.total_cost) != (cheap.completion, cheap.total_cost)


def test_penalty_steers_away_from_unreliable_resource() -> None:
    index = make_index()
    plain = insert_job(index, spec(), criterion="fastest")
    check(resources(), spec(), plain)
    used = {lot.resource for lot in plain.lots}
    avoid = next(iter(used))
    penalty = [1000.0 if r == avoid else 0.0 for r in range(4)]
    steered = insert_job(index, spec(), criterion="fastest", penalty=penalty)
    check(resources(), spec(), steered)
    assert avoid not in {lot.resource for lot in steered.lots}


def test_commit_blocks_capacity_and_release_undoes_it() -> None:
    index = make_index()
    before = [index.free(u) for u in range(5)]
    first = insert_job(index, spec(), commit=True)
    second = insert_job(index, spec())
    check(resources(), spec(), first)
    check(resources(), spec(), second)
    # the second quote must avoid the first's lots
    for a in first.lots:
        for b in second.lots:
            if a.unit == b.unit:
                assert a.end <= b.start or b.end <= a.start
    release_quote(index, first)
    assert [index.free(u) for u in range(5)] == before
    with pytest.raises(ValueError, match="not committed"):
        release_quote(index, second)


def test_transport_lag_between_sites() -> None:
    index = make_index()
    job = JobSpec(
        operations=(
            Operation(0, (Mode(1, 4),), name="cut-B"),
            Operation(0, (Mode(0, 2),), name="deburr-A"),
        ),
        precedences=((0, 1),),
    )
    quote = insert_job(index, job)
    check(resources(), job, quote)
    lots = {lot.operation: lot for lot in quote.lots}
    assert lots[0].end == 9  # lathe-B is booked to 5
    assert lots[1].start >= lots[0].end + 8
    assert quote.transport_legs == 1 and quote.transport_cost == 50


def test_missed_due_date_is_a_warning_naming_the_operation() -> None:
    index = make_index()
    job = JobSpec(operations=(Operation(0, (Mode(3, 20),), name="anneal", resumable=True),), due=30)
    quote = insert_job(index, job)
    check(resources(), job, quote)
    assert quote.feasible and quote.completion == 50 and quote.tardiness == 20
    assert quote.warnings[0].reason is InfeasibleReason.DUE_DATE_UNREACHABLE
    assert quote.warnings[0].operation == 0


def test_unplaceable_operation_is_infeasible_with_reason() -> None:
    index = make_index()
    job = JobSpec(operations=(Operation(0, (Mode(3, 20),), name="weld"),))  # no 20 h night
    quote = insert_job(index, job)
    assert quote.status is SolveStatus.INFEASIBLE and not quote.lots
    assert quote.diagnosis[0].reason is InfeasibleReason.NO_WINDOW_LONG_ENOUGH
    assert "weld" in quote.diagnosis[0].message
    none = insert_job(index, JobSpec(operations=(Operation(0, (), name="plate"),)))
    assert none.diagnosis[0].reason is InfeasibleReason.NO_ELIGIBLE_RESOURCE


def test_horizon_too_short_for_quote() -> None:
    index = FreeIndex(resources(), horizon=30)
    job = JobSpec(operations=(Operation(0, (Mode(0, 8),), name="turn"),))
    quote = insert_job(index, job)
    assert quote.diagnosis[0].reason is InfeasibleReason.HORIZON_TOO_SHORT


def test_bad_specs_are_value_errors() -> None:
    with pytest.raises(ValueError, match="cycle"):
        JobSpec(operations=spec().operations, precedences=((0, 1), (1, 0)))
    with pytest.raises(ValueError, match="precedence"):
        JobSpec(operations=spec().operations, precedences=((0, 7),))
    with pytest.raises(ValueError, match="unknown resource 9"):
        insert_job(make_index(), JobSpec(operations=(Operation(0, (Mode(9, 1),)),)))
    with pytest.raises(ValueError, match="criterion"):
        insert_job(make_index(), spec(), criterion="best")


def test_quotes_into_a_generated_cluster_validate() -> None:
    data = synthetic_cluster(30, n_resources=60, n_sites=5, seed=3)
    index = FreeIndex.from_problem(data)
    for j in range(5):
        ops = [data.operations[i] for i in range(5 * j, 5 * j + 5)]
        job = JobSpec(tuple(ops), ((0, 1), (1, 2), (2, 3), (3, 4)), release=data.jobs[j].release)
        for criterion in ("fastest", "cheapest", "weighted"):
            quote = insert_job(index, job, criterion=criterion, cost_weight=0.01)
            assert quote.feasible
            single = ProblemData(
                (data.jobs[j],),
                data.resources,
                tuple(
                    Operation(0, o.modes, o.name, o.quantity, o.resumable, o.max_lots, o.min_lot)
                    for o in ops
                ),
                job.precedences,
                data.transport_time,
                data.transport_cost,
            )
            report = validate(single, Solution(quote.operation_lots(5)))
            assert report.ok, report.violations
            assert report.total_cost == quote.total_cost


@pytest.mark.parametrize("seed", range(25))
def test_committed_quotes_stack_into_one_valid_plan(seed: int) -> None:
    # every job of a random problem quoted in turn and committed: together a valid plan
    data = random_problem(seed)
    index = FreeIndex.from_problem(data)
    job_ops = data.job_operations()
    lots: list[tuple] = [()] * len(data.operations)
    for j, ops in enumerate(job_ops):
        local = {op: k for k, op in enumerate(ops)}
        spec = JobSpec(
            tuple(data.operations[i] for i in ops),
            tuple((local[a], local[b]) for a, b in data.precedences if a in local),
            release=data.jobs[j].release,
            due=data.jobs[j].due,
        )
        quote = insert_job(index, spec, criterion="cheapest" if j % 2 else "fastest", commit=True)
        if not quote.feasible:
            assert quote.diagnosis and quote.diagnosis[0].operation is not None
            return
        for k, op_lots in enumerate(quote.operation_lots(len(ops))):
            lots[ops[k]] = op_lots
    report = validate(data, Solution(tuple(lots)))
    assert report.ok, report.violations
