"""Calendar window and recurring-rule schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from sharefab.api.schemas.common import Day, Instant, ORMModel, RequestModel, Text

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class WindowCreate(RequestModel):
    """A published idle window ``[start_at, end_at)``; both need a time zone. It must end
    after now (one that started in the past and ends later is fine: the rest of it is
    bookable); a window wholly in the past offers nothing and is refused."""

    start_at: Instant
    end_at: Instant

    @field_validator("end_at")
    @classmethod
    def _end_after_start(cls, end_at: datetime, info: ValidationInfo) -> datetime:
        start_at = info.data.get("start_at")
        if start_at is not None and end_at <= start_at:
            raise ValueError(
                f"must be after start_at ({start_at.isoformat()}); got {end_at.isoformat()}"
            )
        now = datetime.now(UTC)
        if end_at <= now:
            raise ValueError(
                f"the window ends in the past ({end_at.isoformat()}, now "
                f"{now.replace(microsecond=0).isoformat()}); publish windows that end after now"
            )
        return end_at


class WindowPublic(ORMModel):
    """A published idle window."""

    id: int
    resource_id: int
    start_at: datetime
    end_at: datetime
    source: str
    rule_id: int | None


class WindowsPublic(BaseModel):
    """A page of windows, oldest first."""

    data: list[WindowPublic]
    count: int


class CalendarRuleCreate(RequestModel):
    """A recurring rule: either the human form in ``rule`` (e.g.
    ``"Mon-Fri 18:00-06:00 until 2027-03-31"``) or the structured fields. An ``end_time`` at
    or before ``start_time`` wraps past midnight. Windows are generated for the next
    ``horizon_days`` days (from today or ``valid_from``, whichever is later)."""

    rule: Text | None = Field(
        default=None, max_length=200, examples=["Mon-Fri 18:00-06:00 until 2027-03-31"]
    )
    weekdays: list[Weekday] | None = None
    start_time: str | None = Field(default=None, pattern=r"^\d{2}:\d{2}$")
    end_time: str | None = Field(default=None, pattern=r"^\d{2}:\d{2}$")
    timezone: Text = Field(default="UTC", max_length=64, examples=["Asia/Shanghai"])
    valid_from: Day | None = None
    valid_until: Day | None = None
    horizon_days: int = Field(default=28, ge=1, le=366)


class CalendarRulePublic(ORMModel):
    """A stored rule and the windows it produced now."""

    id: int
    resource_id: int
    weekdays: str
    start_time: str
    end_time: str
    timezone: str
    valid_from: date
    valid_until: date | None
    windows_created: int = 0
    windows_skipped: int = Field(
        default=0, description="occurrences not created because they overlap existing windows"
    )
