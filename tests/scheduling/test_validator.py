"""The validator accepts the hand-checked plans and names every kind of violation."""

from __future__ import annotations

import pytest
from sched_instances import Instance, with_lots

from sharefab.scheduling.model import Job, Lot, Objective, ProblemData, Solution
from sharefab.scheduling.validator import validate, work_end


def violations(inst: Instance, sol: Solution) -> list[str]:
    report = validate(inst.data, sol)
    assert not report.ok
    return report.violations


def test_good_solutions_validate(any_instance: Instance) -> None:
    report = validate(any_instance.data, any_instance.solution)
    assert report.ok, report.violations


def test_objective_terms_recomputed(transport_instance: Instance) -> None:
    report = validate(transport_instance.data, transport_instance.solution)
    assert report.makespan == 12
    assert report.weighted_tardiness == 2 * (12 - 10)
    assert report.processing_cost == 10 + 6
    assert report.transport_cost == 7
    assert report.transport_legs == 1
    assert report.total_cost == 23
    # weighted_tardiness=1, cost=1
    assert report.objective == 4 + 23


def test_lexicographic_objective_is_primary_term(transport_instance: Instance) -> None:
    data = transport_instance.data
    lex = ProblemData(
        data.jobs,
        data.resources,
        data.operations,
        data.precedences,
        data.transport_time,
        data.transport_cost,
        objective=Objective.of(lexicographic=True, cost=1, makespan=1),
    )
    report = validate(lex, transport_instance.solution)
    assert report.objective == 23
    assert report.lexicographic_key == (23, 12)


def test_lot_costs_use_setup(lot_instance: Instance) -> None:
    report = validate(lot_instance.data, lot_instance.solution)
    # slow 40/100: 20 + ceil(180 * 0.4) = 92; fast 60/100: 30 + ceil(270 * 0.6) = 192; bake 50
    assert report.processing_cost == 92 + 192 + 50
    assert report.makespan == 78


def test_missing_operation(tiny_fjsp: Instance) -> None:
    msgs = violations(tiny_fjsp, with_lots(tiny_fjsp.solution, 3))
    assert any("operation 3" in m and "not scheduled" in m for m in msgs)


def test_wrong_number_of_operations(tiny_fjsp: Instance) -> None:
    msgs = violations(tiny_fjsp, Solution(tiny_fjsp.solution.lots[:3]))
    assert any("3 operations" in m for m in msgs)


def test_ineligible_resource(tiny_fjsp: Instance) -> None:
    msgs = violations(tiny_fjsp, with_lots(tiny_fjsp.solution, 0, Lot(2, 0, 3, 1)))
    assert any("operation 0" in m and "not eligible" in m for m in msgs)


def test_wrong_duration(tiny_fjsp: Instance) -> None:
    msgs = violations(tiny_fjsp, with_lots(tiny_fjsp.solution, 0, Lot(0, 0, 2, 1)))
    assert any("operation 0" in m and "duration is 3" in m for m in msgs)


def test_unary_overlap(tiny_fjsp: Instance) -> None:
    # j1.o0 moved onto M0 at 1, overlapping j0.o0 on [0, 3)
    sol = with_lots(tiny_fjsp.solution, 2, Lot(0, 1, 3, 1))
    sol = with_lots(sol, 3, Lot(0, 4, 7, 1))
    msgs = violations(tiny_fjsp, sol)
    assert any("resource 0 'M0'" in m and "operations [0, 2]" in m for m in msgs)


def test_back_to_back_is_not_overlap(tiny_fjsp: Instance) -> None:
    sol = with_lots(tiny_fjsp.solution, 2, Lot(0, 3, 5, 1))
    sol = with_lots(sol, 3, Lot(0, 5, 8, 1))
    assert validate(tiny_fjsp.data, sol).ok


def test_precedence(tiny_fjsp: Instance) -> None:
    msgs = violations(tiny_fjsp, with_lots(tiny_fjsp.solution, 1, Lot(2, 2, 4, 1)))
    assert any("precedence (0, 1)" in m for m in msgs)


def test_release_date(lot_instance: Instance) -> None:
    sol = with_lots(lot_instance.solution, 0, Lot(0, 0, 46, 40), Lot(1, 2, 34, 60))
    msgs = violations(lot_instance, sol)
    assert any("release 2" in m and "operation 0" in m for m in msgs)


def test_transport_lag(transport_instance: Instance) -> None:
    # right after the cut, but on the other site: needs 5 units of transport
    sol = with_lots(transport_instance.solution, 1, Lot(1, 4, 7, 1))
    msgs = violations(transport_instance, sol)
    assert any("precedence (0, 1)" in m and "transport 5" in m for m in msgs)
    # on the same site no lag applies, and there is no transport leg
    same_site = with_lots(transport_instance.solution, 1, Lot(0, 4, 10, 1))
    report = validate(transport_instance.data, same_site)
    assert report.ok and report.transport_legs == 0 and report.transport_cost == 0


def test_non_resumable_outside_window(calendar_instance: Instance) -> None:
    # 10 h starting at 25 would run past the window end at 30
    msgs = violations(
        calendar_instance, with_lots(calendar_instance.solution, 1, Lot(0, 25, 35, 1))
    )
    assert any("operation 1" in m and "not inside one calendar window" in m for m in msgs)


def test_resumable_end_must_be_when_work_done(calendar_instance: Instance) -> None:
    # end = start + duration ignores the day break
    msgs = violations(
        calendar_instance, with_lots(calendar_instance.solution, 0, Lot(0, 18, 38, 1))
    )
    assert any("operation 0" in m and "done at 50" in m for m in msgs)


def test_resumable_must_start_in_window(calendar_instance: Instance) -> None:
    msgs = violations(
        calendar_instance, with_lots(calendar_instance.solution, 0, Lot(0, 10, 50, 1))
    )
    assert any("operation 0" in m and "start inside a window" in m for m in msgs)


def test_resumable_runs_out_of_windows(calendar_instance: Instance) -> None:
    msgs = violations(
        calendar_instance, with_lots(calendar_instance.solution, 0, Lot(0, 95, 200, 1))
    )
    assert any("windows end" in m for m in msgs)


def test_horizon(calendar_instance: Instance) -> None:
    assert work_end(calendar_instance.data.resources[0].windows, 90, 10) == 100
    data = calendar_instance.data
    short = ProblemData(data.jobs, data.resources, data.operations, horizon=70)
    msgs = violations(Instance(short, calendar_instance.solution), calendar_instance.solution)
    assert any("horizon 70" in m and "operation 1" in m for m in msgs)


def test_capacity_with_booking(oven_instance: Instance) -> None:
    # a second lot during the booking: booking + 2 lots = 3 > 2
    msgs = violations(oven_instance, with_lots(oven_instance.solution, 2, Lot(0, 0, 5, 1)))
    assert any("3 units in use at 0" in m and "1 bookings" in m for m in msgs)


def test_k_capacity_allows_k_parallel(oven_instance: Instance) -> None:
    # ops 2 and 3 already run side by side on the two units
    assert validate(oven_instance.data, oven_instance.solution).ok
    sol = with_lots(oven_instance.solution, 1, Lot(0, 10, 15, 1))
    msgs = violations(oven_instance, sol)
    assert any("3 units in use at 10" in m for m in msgs)


@pytest.mark.parametrize(
    ("lots", "needle"),
    [
        ((Lot(0, 2, 48, 40), Lot(1, 2, 34, 50)), "sum to 90"),
        ((Lot(0, 2, 12 + 10, 10), Lot(1, 2, 5 + 41, 90)), "below min_lot 20"),
        ((Lot(0, 2, 48, 40), Lot(0, 48, 94, 40), Lot(1, 2, 25, 20)), "same resource"),
        ((Lot(0, 2, 35, 25), Lot(1, 2, 19, 25)) * 2, "4 lots, at most 3"),
    ],
)
def test_lot_rules(lot_instance: Instance, lots: tuple[Lot, ...], needle: str) -> None:
    msgs = violations(lot_instance, with_lots(lot_instance.solution, 0, *lots))
    assert any(needle in m for m in msgs), msgs


def test_lot_duration_scales_with_quantity(lot_instance: Instance) -> None:
    # the slow machine takes 46 for 40 units, not 40
    sol = with_lots(lot_instance.solution, 0, Lot(0, 2, 42, 40), Lot(1, 2, 34, 60))
    msgs = violations(lot_instance, sol)
    assert any("duration is 46" in m for m in msgs)


def test_every_lot_of_successor_waits_for_every_lot(lot_instance: Instance) -> None:
    # bake at 40: after the fast lot (34) but before the slow lot (48)
    sol = with_lots(lot_instance.solution, 1, Lot(2, 40, 70, 100))
    msgs = violations(lot_instance, sol)
    assert any("precedence (0, 1)" in m and "resource 0" in m for m in msgs)


def test_tardiness_uses_latest_operation() -> None:
    data = ProblemData(
        jobs=(Job("a", due=5, weight=3), Job("b", due=100)),
        resources=(),
        operations=(),
    )
    report = validate(data, Solution(()))
    assert report.ok and report.weighted_tardiness == 0 and report.makespan == 0
