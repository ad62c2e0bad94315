"""Infeasibility reasons are exact and name the operation."""

from __future__ import annotations

from sched_instances import NIGHTS, Instance

from sharefab.scheduling.diagnosis import diagnose, earliest_completions
from sharefab.scheduling.index import FreeIndex
from sharefab.scheduling.model import (
    Booking,
    InfeasibleReason,
    Job,
    Mode,
    Operation,
    ProblemData,
    Resource,
)


def test_feasible_instances_have_no_diagnosis(any_instance: Instance) -> None:
    assert diagnose(any_instance.data) == ()


def test_no_eligible_resource() -> None:
    data = ProblemData(
        jobs=(Job("j"),), resources=(Resource("m"),), operations=(Operation(0, (), name="coat"),)
    )
    (d,) = diagnose(data)
    assert d.operation == 0 and d.reason is InfeasibleReason.NO_ELIGIBLE_RESOURCE
    assert "'coat'" in d.message


def test_no_window_long_enough_for_non_resumable() -> None:
    data = ProblemData(
        jobs=(Job("j"),),
        resources=(Resource("night", windows=NIGHTS), Resource("night2", windows=NIGHTS)),
        operations=(
            Operation(0, (Mode(0, 2),), name="prep"),
            Operation(0, (Mode(0, 13), Mode(1, 14)), name="cure"),
        ),
        precedences=((0, 1),),
    )
    (d,) = diagnose(data)
    assert d.operation == 1 and d.reason is InfeasibleReason.NO_WINDOW_LONG_ENOUGH
    # the same work is fine when resumable
    ok = ProblemData(
        data.jobs,
        data.resources,
        (data.operations[0], Operation(0, (Mode(0, 13),), name="cure", resumable=True)),
        data.precedences,
    )
    assert diagnose(ok) == ()


def test_bookings_count_as_unavailable() -> None:
    res = Resource("m", windows=((0, 10),), bookings=(Booking(3, 5),))
    data = ProblemData(
        jobs=(Job("j"),), resources=(res,), operations=(Operation(0, (Mode(0, 6),), name="x"),)
    )
    (d,) = diagnose(data)
    assert d.reason is InfeasibleReason.NO_WINDOW_LONG_ENOUGH


def test_resumable_work_beyond_the_last_window() -> None:
    data = ProblemData(
        jobs=(Job("j", release=60),),
        resources=(Resource("night", windows=NIGHTS),),
        operations=(Operation(0, (Mode(0, 40),), name="long", resumable=True),),
    )
    (d,) = diagnose(data)
    assert d.reason is InfeasibleReason.NO_WINDOW_LONG_ENOUGH and d.operation == 0


def test_horizon_too_short_names_the_late_operation() -> None:
    data = ProblemData(
        jobs=(Job("j", release=5),),
        resources=(Resource("a"), Resource("b")),
        operations=(
            Operation(0, (Mode(0, 10), Mode(1, 12)), name="first"),
            Operation(0, (Mode(1, 8),), name="second"),
        ),
        precedences=((0, 1),),
        horizon=20,
    )
    (d,) = diagnose(data)
    assert d.operation == 1 and d.reason is InfeasibleReason.HORIZON_TOO_SHORT
    assert "23" in d.message  # 5 + 10 + 8


def test_due_dates_only_when_hard() -> None:
    data = ProblemData(
        jobs=(Job("j", due=12),),
        resources=(Resource("a"),),
        operations=(Operation(0, (Mode(0, 10),), name="a"), Operation(0, (Mode(0, 5),), name="b")),
        precedences=((0, 1),),
    )
    assert diagnose(data) == ()
    (d,) = diagnose(data, hard_due_dates=True)
    assert d.reason is InfeasibleReason.DUE_DATE_UNREACHABLE and d.operation == 1


def test_earliest_completions_follow_chain_and_calendar() -> None:
    data = ProblemData(
        jobs=(Job("j", release=20),),
        resources=(Resource("night", windows=NIGHTS), Resource("any")),
        operations=(
            Operation(0, (Mode(0, 20),), name="anneal", resumable=True),
            Operation(0, (Mode(1, 3),), name="inspect"),
        ),
        precedences=((0, 1),),
    )
    # from 20: 10 h to 30, then 10 h from 42 -> 52; inspect to 55
    assert earliest_completions(data, FreeIndex(data.resources)) == [52, 55]
