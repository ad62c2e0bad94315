"""The "New RFQ" form: what the buyer typed, parsed into :class:`sharefab.services.rfqs.RfqInput`.

The form works without JavaScript: the routing is a fixed number of operation rows (blank
rows are ignored), each with a capability picked from the taxonomy, quantity, minutes per
part and setup minutes; the operations run in the order given. Every problem is keyed by the
service's own field name (``operations[0].quantity``, ``due_at``, ...) so the page can show it
next to the input and in the summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from sharefab.services.rfqs import OperationInput, RfqInput
from sharefab.web.form_values import optional_float
from sharefab.web.templating import _ZERO_DECIMAL

#: Operation rows the blank form offers (and the most it accepts).
DEFAULT_ROWS = 3
MAX_ROWS = 10
CURRENCIES = ("CNY", "EUR", "USD")

LABELS = {
    "title": "Title",
    "due_at": "Due date",
    "budget_minor": "Budget",
    "currency": "Currency",
    "delivery_site_id": "Delivery site",
    "delivery_lat": "Delivery latitude",
    "delivery_lon": "Delivery longitude",
    "min_provider_credit": "Minimum provider credit",
    "operations": "Routing",
}


def label_of(name: str) -> str:
    """A person's name for a service field: ``operations[1].quantity`` -> ``Operation 2
    quantity``."""
    if name.startswith("operations[") and "]" in name:
        idx, _, rest = name[len("operations[") :].partition("]")
        part = rest.lstrip(".").split(".", 1)[0].replace("_", " ") or "row"
        return f"Operation {int(idx) + 1} {part}" if idx.isdigit() else name
    return LABELS.get(name, name)


@dataclass(slots=True)
class OperationRow:
    """One routing row as typed."""

    capability: str = ""
    name: str = ""
    quantity: str = ""
    unit_minutes: str = ""
    setup_minutes: str = ""

    def blank(self) -> bool:
        """Nothing typed in this row."""
        return not any(
            v.strip() for v in (self.capability, self.name, self.quantity, self.unit_minutes)
        ) and self.setup_minutes.strip() in ("", "0")


@dataclass(slots=True)
class RfqForm:
    """The whole form as typed (re-rendered into the inputs after an error)."""

    title: str = ""
    due_at: str = ""
    budget: str = ""
    currency: str = "CNY"
    delivery_site_id: str = ""
    delivery_lat: str = ""
    delivery_lon: str = ""
    min_provider_credit: str = ""
    allow_split: bool = True
    allow_lots: bool = False
    operations: list[OperationRow] = field(default_factory=list)

    @classmethod
    def blank_form(cls, now: datetime | None = None) -> RfqForm:
        """An empty form due in 14 days at 17:00 UTC, with the default number of rows."""
        due = (now or datetime.now(UTC)) + timedelta(days=14)
        form = cls(due_at=due.strftime("%Y-%m-%dT17:00"))
        form.pad()
        return form

    def pad(self) -> None:
        """Drop blank rows, then add blank ones up to :data:`DEFAULT_ROWS` (one spare)."""
        self.operations = [r for r in self.operations if not r.blank()]
        want = max(DEFAULT_ROWS, min(MAX_ROWS, len(self.operations) + 1))
        while len(self.operations) < want:
            self.operations.append(OperationRow())


def rows_from_lists(
    capability: list[str],
    name: list[str],
    quantity: list[str],
    unit_minutes: list[str],
    setup_minutes: list[str],
) -> list[OperationRow]:
    """Rows from the form's repeated fields (aligned by position)."""
    n = max(len(capability), len(quantity), len(unit_minutes), 0)

    def at(values: list[str], i: int) -> str:
        return values[i] if i < len(values) else ""

    return [
        OperationRow(
            at(capability, i),
            at(name, i),
            at(quantity, i),
            at(unit_minutes, i),
            at(setup_minutes, i),
        )
        for i in range(n)
    ]


def parse_money(text: str, currency: str) -> int:
    """``"12,000.50"`` -> ``1200050`` minor units; ``ValueError`` when not an amount."""
    cleaned = text.replace(",", "").replace(" ", "").strip()
    if cleaned.upper().startswith(currency.upper()):
        cleaned = cleaned[len(currency) :]
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("enter an amount such as 12000 or 12000.50") from None
    if not amount.is_finite():
        raise ValueError("enter an amount such as 12000 or 12000.50")
    if amount.adjusted() > 13:  # (no arithmetic yet: a huge exponent would overflow)
        raise ValueError("is too large")
    scale = 1 if currency.upper() in _ZERO_DECIMAL else 100
    minor = amount * scale
    if minor != minor.to_integral_value():
        raise ValueError("at most two decimals")
    if minor < 0:
        raise ValueError("must not be negative")
    if minor > 10**15:
        raise ValueError("is too large")
    return int(minor)


def parse_due(text: str) -> datetime:
    """``2026-12-01T17:00`` (UTC, as the label says) or a date (17:00 UTC that day)."""
    value = text.strip()
    if not value:
        raise ValueError("give the date the parts must be delivered")
    try:
        if len(value) == 10:
            at = datetime.fromisoformat(value + "T17:00")
        else:
            at = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time (YYYY-MM-DD HH:MM)") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _number(text: str, kind: type, what: str, errors: dict[str, str], key: str) -> float | None:
    value = text.strip()
    if not value:
        errors[key] = f"enter {what}"
        return None
    try:
        number = kind(value)
    except ValueError:
        errors[key] = f"{value!r} is not {what}"
        return None
    if isinstance(number, float) and not math.isfinite(number):
        errors[key] = f"{value!r} is not {what}"
        return None
    return float(number)


def parse_form(form: RfqForm) -> tuple[RfqInput | None, dict[str, str]]:
    """The service input, or ``None`` and ``{field: message}``. Blank rows are dropped first,
    so row numbers in messages match the rows shown again."""
    errors: dict[str, str] = {}
    form.operations = [r for r in form.operations if not r.blank()]
    if len(form.operations) > MAX_ROWS:
        errors["operations"] = f"at most {MAX_ROWS} operations"
    if not form.operations:
        errors["operations"] = "add at least one operation (capability, quantity, minutes)"
    ops: list[OperationInput] = []
    for i, row in enumerate(form.operations):
        where = f"operations[{i}]"
        if not row.capability.strip():
            errors[f"{where}.capability"] = "pick a capability from the list"
        qty = _number(row.quantity, int, "a whole number of parts", errors, f"{where}.quantity")
        minutes = _number(row.unit_minutes, float, "a number of minutes", errors,
                          f"{where}.unit_minutes")  # fmt: skip
        setup = 0.0
        if row.setup_minutes.strip():
            parsed = _number(row.setup_minutes, int, "a whole number of minutes", errors,
                             f"{where}.setup_minutes")  # fmt: skip
            setup = parsed if parsed is not None else 0.0
        if qty is not None and qty < 1:
            errors[f"{where}.quantity"] = "must be at least 1"
        if qty is not None and qty > 2**31 - 1:
            errors[f"{where}.quantity"] = "is too large"
        if minutes is not None and not 0 <= minutes <= 1_000_000:
            errors[f"{where}.unit_minutes"] = "must be between 0 and 1,000,000"
        if not 0 <= setup <= 1_000_000:
            errors[f"{where}.setup_minutes"] = "must be between 0 and 1,000,000"
        if qty is not None and minutes is not None:
            ops.append(
                OperationInput(
                    capability=row.capability.strip(),
                    quantity=int(qty),
                    unit_minutes=minutes,
                    name=row.name.strip()[:200],
                    setup_minutes=int(setup),
                )
            )
    due = None
    try:
        due = parse_due(form.due_at)
    except ValueError as exc:
        errors["due_at"] = str(exc)
    currency = form.currency.strip().upper() or "CNY"
    if currency not in CURRENCIES:
        errors["currency"] = f"one of {', '.join(CURRENCIES)}"
    budget = None
    if form.budget.strip():
        try:
            budget = parse_money(form.budget, currency)
        except ValueError as exc:
            errors["budget_minor"] = str(exc)
    site_id = None
    if form.delivery_site_id.strip():
        if form.delivery_site_id.strip().isdigit():
            site_id = int(form.delivery_site_id)
        else:
            errors["delivery_site_id"] = "pick one of your sites"
    lat = optional_float(form.delivery_lat, "delivery_lat", errors)
    lon = optional_float(form.delivery_lon, "delivery_lon", errors)
    credit = None
    if form.min_provider_credit.strip():
        try:
            credit = int(form.min_provider_credit.strip())
        except ValueError:
            errors["min_provider_credit"] = "enter a whole number from 0 to 1000"
        else:
            if not 0 <= credit <= 1000:
                errors["min_provider_credit"] = "must be between 0 and 1000"
    if len(form.title) > 200:
        errors["title"] = "at most 200 characters"
    if errors or due is None:
        return None, errors
    return (
        RfqInput(
            operations=ops,
            due_at=due,
            title=form.title.strip(),
            budget_minor=budget,
            currency=currency,
            delivery_site_id=site_id,
            delivery_lat=lat,
            delivery_lon=lon,
            min_provider_credit=credit,
            allow_split=form.allow_split,
            allow_lots=form.allow_lots,
        ),
        {},
    )
