"""The "Record an inspection" form on the order page (providers and operators): up to
:data:`ROWS` measured characteristics with optional spec limits, up to :data:`DEFECT_ROWS`
defects, a verdict (from the values, or declared) and an optional report file."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from sharefab.services.order_work import InspectionInput
from sharefab.web.form_values import optional_float

ROWS = 4
DEFECT_ROWS = 2
SEVERITIES = ("minor", "major", "critical")


@dataclass(slots=True)
class InspectionForm:
    """The form's repeated fields as typed (aligned by position)."""

    work_order_id: str = ""
    verdict: str = "auto"
    m_name: list[str] = field(default_factory=list)
    m_value: list[str] = field(default_factory=list)
    m_unit: list[str] = field(default_factory=list)
    m_lower: list[str] = field(default_factory=list)
    m_upper: list[str] = field(default_factory=list)
    d_code: list[str] = field(default_factory=list)
    d_severity: list[str] = field(default_factory=list)
    d_quantity: list[str] = field(default_factory=list)
    d_description: list[str] = field(default_factory=list)


def _at(values: list[str], i: int) -> str:
    return values[i].strip() if i < len(values) else ""


def parse_inspection(
    form: InspectionForm, report: tuple[str, str, bytes] | None, max_report_bytes: int
) -> tuple[InspectionInput | None, dict[str, str]]:
    """The service input, or ``None`` and ``{field: message}``."""
    errors: dict[str, str] = {}
    work_order_id = None
    if form.work_order_id.strip():
        if form.work_order_id.strip().isdigit():
            work_order_id = int(form.work_order_id)
        else:
            errors["work_order_id"] = "pick one of the work orders"
    limits: list[dict[str, object]] = []
    measurements: list[dict[str, object]] = []
    for i in range(max(len(form.m_name), len(form.m_value))):
        name, raw = _at(form.m_name, i), _at(form.m_value, i)
        unit = _at(form.m_unit, i)[:50]
        lo_raw, hi_raw = _at(form.m_lower, i), _at(form.m_upper, i)
        if not (name or raw or lo_raw or hi_raw):
            continue
        where = f"measurements[{i}]"
        if not name:
            errors[f"{where}.name"] = "name the characteristic (e.g. bore)"
            continue
        value = optional_float(raw, f"{where}.value", errors)
        if value is None and f"{where}.value" not in errors:
            errors[f"{where}.value"] = "enter the measured value"
        lower = optional_float(lo_raw, f"{where}.lower", errors)
        upper = optional_float(hi_raw, f"{where}.upper", errors)
        if lower is not None and upper is not None and lower > upper:
            errors[f"{where}.upper"] = "must not be below the lower limit"
        if value is not None:
            measurements.append({"name": name[:200], "value": value, "unit": unit})
        if lower is not None or upper is not None:
            limits.append({"name": name[:200], "lower": lower, "upper": upper, "unit": unit})
    defects: list[dict[str, object]] = []
    for i in range(len(form.d_code)):
        code = _at(form.d_code, i)
        description = _at(form.d_description, i)
        if not code and not description:
            continue
        where = f"defects[{i}]"
        if not code:
            errors[f"{where}.code"] = "give the defect a code (e.g. burr)"
            continue
        severity = _at(form.d_severity, i) or "minor"
        if severity not in SEVERITIES:
            errors[f"{where}.severity"] = f"one of {', '.join(SEVERITIES)}"
        qty_raw = _at(form.d_quantity, i) or "1"
        try:
            quantity = int(qty_raw)
        except ValueError:
            errors[f"{where}.quantity"] = f"{qty_raw!r} is not a whole number"
            quantity = 1
        if not 1 <= quantity <= 2**31 - 1:
            errors[f"{where}.quantity"] = "must be at least 1"
        defects.append(
            {"code": code[:100], "severity": severity, "quantity": quantity,
             "description": description[:2000]}
        )  # fmt: skip
    declared = {"auto": None, "pass": True, "fail": False}.get(form.verdict, "bad")
    if declared == "bad":
        errors["declared_passed"] = "choose from the values, pass or fail"
    if not measurements and not defects and declared is None:
        errors["measurements"] = "enter a measured value or a defect, or declare pass or fail"
    report_fields: dict[str, str | None] = {}
    if report is not None:
        filename, content_type, content = report
        if len(content) > max_report_bytes:
            errors["report"] = f"the file is larger than the limit of {max_report_bytes:,} bytes"
        else:
            report_fields = {
                "report_filename": (filename or "report")[:255],
                "report_content_type": (content_type or "application/octet-stream")[:200],
                "report_base64": base64.b64encode(content).decode(),
            }
    if errors:
        return None, errors
    return (
        InspectionInput(
            work_order_id=work_order_id,
            limits=limits,
            measurements=measurements,
            defects=defects,
            declared_passed=declared if isinstance(declared, bool) else None,
            **report_fields,  # type: ignore[arg-type]
        ),
        {},
    )
