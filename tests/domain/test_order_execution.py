"""Inspection verdicts and per-operation progress with its roll-up to the order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sharefab.domain.order_execution import (
    Defect,
    DefectSeverity,
    InspectionRecord,
    Measurement,
    OperationProgress,
    OperationStatus,
    SpecLimit,
    evaluate_inspection,
    report_progress,
    rollup_order_state,
    summarize_progress,
)
from sharefab.domain.orders import OrderState

AT = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
BORE = SpecLimit("bore_diameter", 9.98, 10.02, "mm")
FLAT = SpecLimit("flatness", upper=0.05, unit="mm")


def test_measurements_inside_limits_pass() -> None:
    verdict = evaluate_inspection(
        [BORE, FLAT],
        [Measurement("bore_diameter", 10.01, "mm"), Measurement("flatness", 0.05, "mm")],
    )
    assert verdict.passed and verdict.reasons == ()


def test_any_sample_outside_limits_fails_with_the_reason() -> None:
    verdict = evaluate_inspection(
        [BORE, FLAT],
        [
            Measurement("bore_diameter", 10.00),
            Measurement("bore_diameter", 10.03),
            Measurement("flatness", 0.01),
        ],
    )
    assert not verdict.passed
    assert verdict.reasons == ("bore_diameter = 10.03 outside [9.98, 10.02] mm",)


def test_missing_measurement_and_major_defects_fail_minor_ones_are_capped() -> None:
    verdict = evaluate_inspection([BORE, FLAT], [Measurement("flatness", 0.0)])
    assert verdict.reasons == ("bore_diameter: no measurement",)
    major = evaluate_inspection([], [], [Defect("CRACK", "crack at fillet", DefectSeverity.MAJOR)])
    assert not major.passed and "major defect CRACK" in major.reasons[0]
    minors = [Defect("SCRATCH", quantity=2), Defect("BURR")]
    assert evaluate_inspection([], [], minors).passed
    capped = evaluate_inspection([], [], minors, max_minor_defects=2)
    assert capped.reasons == ("3 minor defects exceed the allowed 2",)


def test_bad_limits_and_units_are_value_errors() -> None:
    with pytest.raises(ValueError, match="lower 2 is above upper 1"):
        SpecLimit("x", 2, 1)
    with pytest.raises(ValueError, match="lower or an upper"):
        SpecLimit("x")
    with pytest.raises(ValueError, match="in in but its limit is in mm"):
        evaluate_inspection([BORE], [Measurement("bore_diameter", 0.39, "in")])
    with pytest.raises(ValueError, match="given twice"):
        evaluate_inspection([BORE, BORE], [])
    with pytest.raises(ValueError, match="finite"):
        Measurement("x", float("nan"))


def test_record_verdict_drives_the_next_order_state() -> None:
    good = InspectionRecord(
        order_id=5,
        inspector="org:9",
        at=AT,
        limits=(BORE,),
        measurements=(Measurement("bore_diameter", 10.0),),
        report_ref="reports/5.pdf",
    )
    assert good.passed and good.next_state() is OrderState.INSPECTED
    bad = InspectionRecord(5, "org:9", AT, (BORE,), (Measurement("bore_diameter", 11.0),))
    assert not bad.passed and bad.next_state() is OrderState.IN_PRODUCTION
    vetoed = InspectionRecord(
        5, "org:9", AT, (BORE,), (Measurement("bore_diameter", 10.0),), declared_passed=False
    )
    assert not vetoed.passed and vetoed.verdict.reasons == ("failed by the inspector",)


def test_record_cannot_declare_a_pass_the_rules_fail() -> None:
    with pytest.raises(ValueError, match="declared passed but fails: bore_diameter"):
        InspectionRecord(
            5, "org:9", AT, (BORE,), (Measurement("bore_diameter", 11.0),), declared_passed=True
        )


def test_provider_reports_progress_on_its_own_operations_one_step_at_a_time() -> None:
    op = OperationStatus("op-1", provider_org=3)
    started = report_progress(op, 3, "started", OrderState.SCHEDULED)
    assert started.progress is OperationProgress.STARTED
    done = report_progress(started, 3, OperationProgress.DONE, OrderState.IN_PRODUCTION)
    assert done.progress is OperationProgress.DONE
    with pytest.raises(ValueError, match="organization 4 does not run operation op-1"):
        report_progress(op, 4, "started", OrderState.SCHEDULED)
    with pytest.raises(ValueError, match="from pending to done; allowed: started"):
        report_progress(op, 3, "done", OrderState.SCHEDULED)
    with pytest.raises(ValueError, match="from done to started; allowed: none"):
        report_progress(done, 3, "started", OrderState.IN_PRODUCTION)
    with pytest.raises(ValueError, match="while the order is accepted"):
        report_progress(op, 3, "started", OrderState.ACCEPTED)


def test_rollup_starts_production_on_first_started_operation_only() -> None:
    pending = [OperationStatus("a", 1), OperationStatus("b", 2)]
    assert rollup_order_state("scheduled", pending) is None
    one_started = [OperationStatus("a", 1, "started"), OperationStatus("b", 2)]
    assert rollup_order_state("scheduled", one_started) is OrderState.IN_PRODUCTION
    all_done = [OperationStatus("a", 1, "done"), OperationStatus("b", 2, "done")]
    # finishing every operation does not skip inspection
    assert rollup_order_state("in_production", all_done) is None
    summary = summarize_progress(one_started + all_done)
    assert (summary.pending, summary.started, summary.done) == (1, 1, 2)
    assert summary.fraction_done == 0.5 and not summary.all_done
    assert summarize_progress(all_done).all_done
    with pytest.raises(ValueError, match="at least one operation"):
        rollup_order_state("scheduled", [])
