"""Published idle windows of a resource and the recurring rules that generate them.

Windows of one resource never overlap: a manual window that overlaps an existing one is
refused (409), and occurrences of a new rule that overlap existing windows are skipped (and
counted). Other tenants may read the windows of public resources (that is what publishing
means); everything of a private resource is 404 to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharefab.domain.calendar import (
    Interval,
    RecurringRule,
    expand,
    format_weekdays,
    parse_rule,
    parse_time,
    parse_weekdays,
)
from sharefab.services.common import (
    Page,
    lock_resource,
    own_resource,
    require_role,
    transaction,
    visible_resource,
)
from sharefab.services.errors import Conflict, FieldError, InvalidInput, NotFound
from sharefab.storage.models import CalendarRule, CalendarWindow, User

MAX_HORIZON_DAYS = 366


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """A stored rule and how many windows it produced now."""

    rule: CalendarRule
    windows_created: int
    windows_skipped: int


def _overlapping(session: Session, resource_id: int, start: datetime, end: datetime) -> list[int]:
    stmt = (
        select(CalendarWindow.id)
        .where(CalendarWindow.resource_id == resource_id)
        .where(CalendarWindow.start_at < end, CalendarWindow.end_at > start)
        .order_by(CalendarWindow.start_at)
    )
    return list(session.scalars(stmt))


def list_windows(
    session: Session,
    actor: User,
    resource_id: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page[CalendarWindow]:
    """Windows of a visible resource, by start; only those overlapping ``[start, end)`` when
    given."""
    visible_resource(session, actor, resource_id)
    conditions = [CalendarWindow.resource_id == resource_id]
    if start is not None:
        conditions.append(CalendarWindow.end_at > start)
    if end is not None:
        conditions.append(CalendarWindow.start_at < end)
    count = session.scalar(select(func.count()).select_from(CalendarWindow).where(*conditions))
    rows = session.scalars(
        select(CalendarWindow)
        .where(*conditions)
        .order_by(CalendarWindow.start_at, CalendarWindow.id)
        .limit(limit)
        .offset(offset)
    )
    return Page(list(rows), count or 0)


def add_window(
    session: Session, actor: User, resource_id: int, start_at: datetime, end_at: datetime
) -> CalendarWindow:
    """Publish ``[start_at, end_at)`` for the caller's resource (aware datetimes)."""
    resource = own_resource(session, actor, resource_id)
    require_role(actor)
    for name, value in (("start_at", start_at), ("end_at", end_at)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInput.single(name, "needs a time zone, e.g. 2027-01-04T18:00:00Z")
    if end_at <= start_at:
        raise InvalidInput.single(
            "end_at",
            f"the window ends before it starts: {end_at.isoformat()} is not after "
            f"{start_at.isoformat()}",
        )
    try:
        interval = Interval(start_at, end_at)
    except ValueError as exc:
        raise InvalidInput.single("start_at", str(exc)) from None
    with transaction(session):
        lock_resource(session, resource.id)
        clash = _overlapping(session, resource.id, interval.start, interval.end)
        if clash:
            raise Conflict(
                f"the window overlaps existing window {clash[0]} of resource {resource_id}",
                [FieldError("start_at", f"overlaps window {clash[0]}")],
            )
        window = CalendarWindow(
            resource_id=resource.id, start_at=interval.start, end_at=interval.end, source="manual"
        )
        session.add(window)
        session.flush()
    return window


def delete_window(session: Session, actor: User, resource_id: int, window_id: int) -> None:
    """Withdraw a published window of the caller's resource."""
    resource = own_resource(session, actor, resource_id)
    require_role(actor)
    window = session.get(CalendarWindow, window_id)
    if window is None or window.resource_id != resource.id:
        raise NotFound("window", window_id)
    with transaction(session):
        session.delete(window)


def _structured_rule(
    weekdays: list[str] | str | None,
    start_time: str | None,
    end_time: str | None,
    tz: str,
    valid_from: date | None,
    valid_until: date | None,
) -> RecurringRule:
    errors: list[FieldError] = []
    days: frozenset[int] = frozenset()
    start: time | None = None
    end: time | None = None
    for name, value in (("weekdays", weekdays), ("start_time", start_time), ("end_time", end_time)):
        if not value:
            errors.append(FieldError(name, "required (or give the whole rule as text in 'rule')"))
    if weekdays:
        try:
            days = parse_weekdays(weekdays if isinstance(weekdays, str) else ",".join(weekdays))
        except ValueError as exc:
            errors.append(FieldError("weekdays", str(exc)))
    for name, value in (("start_time", start_time), ("end_time", end_time)):
        if value:
            try:
                parsed = parse_time(value)
            except ValueError as exc:
                errors.append(FieldError(name, str(exc)))
                continue
            if name == "start_time":
                start = parsed
            else:
                end = parsed
    if errors:
        raise InvalidInput.of(errors)
    assert start is not None and end is not None
    return RecurringRule(days, start, end, tz, valid_from, valid_until)


def add_calendar_rule(
    session: Session,
    actor: User,
    resource_id: int,
    *,
    rule: str | None = None,
    weekdays: list[str] | str | None = None,
    start_time: str | None = None,
    end_time: str | None = None,
    timezone: str = "UTC",
    valid_from: date | None = None,
    valid_until: date | None = None,
    horizon_days: int = 28,
    now: datetime | None = None,
) -> RuleOutcome:
    """Store a recurring rule for the caller's resource and publish its windows for the next
    ``horizon_days`` days. ``rule`` is the human form (``"Mon-Fri 18:00-06:00 until
    2027-03-31"``); otherwise ``weekdays``, ``start_time`` and ``end_time`` are required."""
    resource = own_resource(session, actor, resource_id)
    require_role(actor)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidInput.single(
            "timezone", f"unknown time zone {timezone!r}; use an IANA name such as Asia/Shanghai"
        ) from None
    if not 1 <= horizon_days <= MAX_HORIZON_DAYS:
        raise InvalidInput.single("horizon_days", f"must be between 1 and {MAX_HORIZON_DAYS}")
    current = (now or datetime.now(UTC)).astimezone(UTC)
    today = current.astimezone(zone).date()
    if rule is not None and (weekdays or start_time or end_time):
        raise InvalidInput.single(
            "rule", "give either the rule text or weekdays/start_time/end_time, not both"
        )
    try:
        if rule is not None:
            parsed = parse_rule(rule, timezone, valid_from or today)
            if valid_until is not None and parsed.valid_until is None:
                parsed = RecurringRule(
                    parsed.weekdays,
                    parsed.start,
                    parsed.end,
                    timezone,
                    parsed.valid_from,
                    valid_until,
                )
        else:
            parsed = _structured_rule(
                weekdays, start_time, end_time, timezone, valid_from or today, valid_until
            )
    except InvalidInput:
        raise
    except ValueError as exc:
        field = "rule" if rule is not None else "valid_until"
        raise InvalidInput.single(field, str(exc)) from exc
    first_day = parsed.valid_from or today
    if parsed.valid_until is not None and parsed.valid_until < today:
        raise InvalidInput.single(
            "rule" if rule is not None else "valid_until",
            f"the rule ended on {parsed.valid_until.isoformat()}, before today ({today})",
        )
    try:
        start = max(current, datetime.combine(first_day, time(0), tzinfo=zone).astimezone(UTC))
        end = start + timedelta(days=horizon_days)
        intervals = expand(parsed, start, end)
    except (OverflowError, ValueError):
        raise InvalidInput.single(
            "valid_from", f"{first_day.isoformat()} is too far in the future"
        ) from None
    with transaction(session):
        lock_resource(session, resource.id)
        stored = CalendarRule(
            resource_id=resource.id,
            weekdays=format_weekdays(parsed.weekdays),
            start_time=f"{parsed.start:%H:%M}",
            end_time=f"{parsed.end:%H:%M}",
            timezone=timezone,
            valid_from=first_day,
            valid_until=parsed.valid_until,
        )
        session.add(stored)
        session.flush()
        existing = list(
            session.execute(
                select(CalendarWindow.start_at, CalendarWindow.end_at)
                .where(CalendarWindow.resource_id == resource.id)
                .where(CalendarWindow.start_at < end, CalendarWindow.end_at > start)
            )
        )
        created = skipped = 0
        for iv in intervals:
            if any(s < iv.end and e > iv.start for s, e in existing):
                skipped += 1
                continue
            session.add(
                CalendarWindow(
                    resource_id=resource.id,
                    start_at=iv.start,
                    end_at=iv.end,
                    source="rule",
                    rule_id=stored.id,
                )
            )
            created += 1
        session.flush()
    return RuleOutcome(stored, created, skipped)
