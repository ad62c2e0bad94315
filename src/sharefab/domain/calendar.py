"""Idle-capacity calendars: recurring availability rules and concrete UTC intervals.

A :class:`RecurringRule` such as ``Mon-Fri 18:00-06:00 until 2027-03-31`` (in a factory's IANA
time zone) expands into concrete, timezone-aware UTC :class:`Interval` windows over a horizon.

Semantics of a rule:

* ``weekdays`` are the local days on which a window *starts* (0 = Monday ... 6 = Sunday).
* ``end <= start`` means the window wraps past midnight into the next local day
  (``Fri 18:00-06:00`` runs Friday 18:00 to Saturday 06:00); ``start == end`` is a 24-hour
  window.
* ``valid_from`` / ``valid_until`` are inclusive local dates on which a window may start;
  ``None`` means unbounded. A window starting on ``valid_until`` runs to its normal end.
* Local wall-clock times are converted with :mod:`zoneinfo`, so windows keep their local
  times across daylight-saving changes (a 22:00-06:00 night is 7 h long in Europe/Berlin on
  the spring-forward night). A local time that does not exist (inside the spring-forward gap)
  is read with the offset before the change, i.e. shifted forward by the gap; an ambiguous
  time (fall-back) is its first occurrence.

The interval helpers (:func:`merge`, :func:`subtract`, :func:`intersect`,
:func:`total_duration`) treat intervals as half-open ``[start, end)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "WEEKDAYS",
    "Interval",
    "RecurringRule",
    "expand",
    "expand_rules",
    "format_weekdays",
    "intersect",
    "merge",
    "parse_rule",
    "parse_time",
    "parse_weekdays",
    "subtract",
    "total_duration",
]

#: Weekday abbreviations, index = ``date.weekday()`` (0 = Monday).
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ALIASES: dict[str, frozenset[int]] = {
    "daily": frozenset(range(7)),
    "everyday": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
    "weekend": frozenset({5, 6}),
}


def _as_utc(value: datetime, what: str) -> datetime:
    if type(value) is datetime and value.tzinfo is UTC:  # fast path: already UTC
        return value
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} must be timezone-aware (e.g. UTC)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{what} {value.isoformat()} is out of range in UTC") from None


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    """A half-open ``[start, end)`` interval in aware UTC; ``end`` must be after ``start``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        start = _as_utc(self.start, "window start")
        end = _as_utc(self.end, "window end")
        if end <= start:
            raise ValueError(
                f"window ends before it starts: end {end.isoformat()} is not after "
                f"start {start.isoformat()}"
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    @property
    def duration(self) -> timedelta:
        """``end - start``."""
        return self.end - self.start

    def overlaps(self, other: Interval) -> bool:
        """True if the two half-open intervals share some time."""
        return self.start < other.end and other.start < self.end

    def contains(self, other: Interval) -> bool:
        """True if ``other`` lies entirely inside this interval."""
        return self.start <= other.start and other.end <= self.end

    def to_dict(self) -> dict[str, str]:
        """ISO 8601 strings."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


# ----------------------------------------------------------------- interval algebra


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The sorted union: overlapping and touching intervals are joined."""
    out: list[Interval] = []
    for iv in sorted(intervals):
        if out and iv.start <= out[-1].end:
            if iv.end > out[-1].end:
                out[-1] = Interval(out[-1].start, iv.end)
        else:
            out.append(iv)
    return out


def subtract(windows: Iterable[Interval], busy: Iterable[Interval]) -> list[Interval]:
    """The parts of ``windows`` not covered by ``busy`` (e.g. idle windows minus bookings)."""
    cuts = merge(busy)
    out: list[Interval] = []
    j = 0
    for win in merge(windows):
        cur = win.start
        while j < len(cuts) and cuts[j].end <= cur:
            j += 1
        k = j
        while k < len(cuts) and cuts[k].start < win.end:
            if cuts[k].start > cur:
                out.append(Interval(cur, cuts[k].start))
            cur = max(cur, cuts[k].end)
            if cur >= win.end:
                break
            k += 1
        if cur < win.end:
            out.append(Interval(cur, win.end))
    return out


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """The time covered by both ``a`` and ``b`` (each taken as a union)."""
    xs, ys = merge(a), merge(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        lo = max(xs[i].start, ys[j].start)
        hi = min(xs[i].end, ys[j].end)
        if lo < hi:
            out.append(Interval(lo, hi))
        if xs[i].end <= ys[j].end:
            i += 1
        else:
            j += 1
    return out


def total_duration(intervals: Iterable[Interval]) -> timedelta:
    """Length of the union of ``intervals`` (overlaps are counted once)."""
    return sum((iv.duration for iv in merge(intervals)), timedelta())


# ---------------------------------------------------------------------- rule parsing


def parse_weekdays(text: str) -> frozenset[int]:
    """``"mon-fri"``, ``"Mon,Wed,Fri"``, ``"fri-mon"`` (wraps), ``"daily"``, ``"weekends"`` ..."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("weekdays are empty; use e.g. 'mon-fri' or 'sat,sun'")
    days: set[int] = set()
    for part in re.split(r"\s*,\s*", text.strip().casefold()):
        if part in _DAY_ALIASES:
            days |= _DAY_ALIASES[part]
            continue
        ends = [p.strip() for p in re.split(r"\s*[-–]\s*|\s+to\s+", part)]
        if len(ends) not in (1, 2) or not all(ends):
            raise ValueError(f"cannot read weekdays {part!r}; use e.g. 'mon-fri' or 'mon,tue'")
        idx = [_day_index(e) for e in ends]
        if len(idx) == 1:
            days.add(idx[0])
        else:
            d = idx[0]
            days.add(d)
            while d != idx[1]:
                d = (d + 1) % 7
                days.add(d)
    return frozenset(days)


def _day_index(name: str) -> int:
    for i, (short, full) in enumerate(zip(WEEKDAYS, _FULL_NAMES, strict=True)):
        if name in (short, full) or (len(name) >= 3 and full.startswith(name)):
            return i
    raise ValueError(f"unknown weekday {name!r} (use mon, tue, wed, thu, fri, sat, sun)")


def format_weekdays(days: Iterable[int]) -> str:
    """Storage form: ``"mon,tue,wed,thu,fri"`` (Monday first)."""
    return ",".join(WEEKDAYS[d] for d in sorted(set(days)))


def parse_time(text: str) -> time:
    """``"HH:MM"`` (or ``"HH:MM:SS"``); ``"24:00"`` means midnight at the end of the day."""
    if isinstance(text, time):
        return text
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", str(text))
    if not m:
        raise ValueError(f"time {text!r} is not a valid HH:MM time")
    h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if (h, mi, s) == (24, 0, 0):
        return time(0, 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"time {text!r} is not a valid HH:MM time (00:00-23:59)")
    return time(h, mi, s)


def _parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} date {text!r} is not a valid YYYY-MM-DD date") from None


@dataclass(frozen=True, slots=True)
class RecurringRule:
    """Weekly recurring availability in a local time zone (see the module docstring).

    ``weekdays`` may be given as a set of ints (0 = Monday) or a string such as ``"mon-fri"``;
    ``start``/``end`` as :class:`~datetime.time` or ``"HH:MM"``.
    """

    weekdays: frozenset[int]
    start: time
    end: time
    tz: str
    valid_from: date | None = None
    valid_until: date | None = None

    def __post_init__(self) -> None:
        days = self.weekdays
        if isinstance(days, str):
            days = parse_weekdays(days)
        days = frozenset(days)
        if not days:
            raise ValueError("a recurring rule needs at least one weekday")
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
            raise ValueError(f"weekdays must be 0 (Monday) .. 6 (Sunday), got {sorted(days)}")
        object.__setattr__(self, "weekdays", days)
        for name in ("start", "end"):
            value = getattr(self, name)
            parsed = parse_time(value) if isinstance(value, str) else value
            if not isinstance(parsed, time) or parsed.tzinfo is not None:
                raise ValueError(f"{name} must be a local time without time zone, got {value!r}")
            object.__setattr__(self, name, parsed)
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(
                f"unknown time zone {self.tz!r}; use an IANA name such as 'Asia/Shanghai'"
            ) from None
        if (
            self.valid_from is not None
            and self.valid_until is not None
            and self.valid_until < self.valid_from
        ):
            raise ValueError(
                f"rule ends before it starts: valid_until {self.valid_until} is before "
                f"valid_from {self.valid_from}"
            )

    @property
    def wraps_midnight(self) -> bool:
        """True if a window runs into the next local day."""
        return self.end <= self.start

    @property
    def weekdays_str(self) -> str:
        """Storage form of the weekdays, e.g. ``"mon,tue,wed,thu,fri"``."""
        return format_weekdays(self.weekdays)

    def describe(self) -> str:
        """Human form accepted by :func:`parse_rule`, e.g. ``mon-fri 18:00-06:00 until ...``."""
        text = f"{self.weekdays_str} {self.start:%H:%M}-{self.end:%H:%M}"
        if self.valid_from is not None:
            text += f" from {self.valid_from.isoformat()}"
        if self.valid_until is not None:
            text += f" until {self.valid_until.isoformat()}"
        return text


_RULE_RE = re.compile(
    r"""^\s*(?P<days>.+?)\s+
        (?P<start>\d{1,2}:\d{2}(?::\d{2})?)\s*(?:-|–|to)\s*(?P<end>\d{1,2}:\d{2}(?::\d{2})?)
        (?:\s+from\s+(?P<from>\S+))?
        (?:\s+until\s+(?P<until>\S+))?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


def parse_rule(text: str, tz: str, valid_from: date | None = None) -> RecurringRule:
    """Parse ``"Mon-Fri 18:00-06:00 until 2027-03-31"`` (optionally ``from YYYY-MM-DD``).

    ``tz`` is the IANA time zone of the site; ``valid_from`` is used when the text has no
    ``from`` part. Raises ``ValueError`` naming the part that cannot be read.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the rule is empty; expected e.g. 'Mon-Fri 18:00-06:00 until 2027-03-31'")
    m = _RULE_RE.match(text)
    if m is None:
        raise ValueError(
            f"cannot read rule {text!r}; expected '<days> HH:MM-HH:MM [from YYYY-MM-DD] "
            "[until YYYY-MM-DD]', e.g. 'Mon-Fri 18:00-06:00 until 2027-03-31'"
        )
    start_from = _parse_date(m.group("from"), "from") if m.group("from") else valid_from
    until = _parse_date(m.group("until"), "until") if m.group("until") else None
    return RecurringRule(
        weekdays=parse_weekdays(m.group("days")),
        start=parse_time(m.group("start")),
        end=parse_time(m.group("end")),
        tz=tz,
        valid_from=start_from,
        valid_until=until,
    )


# ------------------------------------------------------------------------- expansion


def _occurrence(rule: RecurringRule, day: date, zone: ZoneInfo) -> Interval | None:
    start_local = datetime.combine(day, rule.start, tzinfo=zone)
    end_day = day + timedelta(days=1) if rule.wraps_midnight else day
    end_local = datetime.combine(end_day, rule.end, tzinfo=zone)
    start_utc, end_utc = start_local.astimezone(UTC), end_local.astimezone(UTC)
    if end_utc <= start_utc:  # collapsed inside a DST gap
        return None
    return Interval(start_utc, end_utc)


def expand(rule: RecurringRule, start: datetime, end: datetime) -> list[Interval]:
    """Concrete windows of ``rule`` inside ``[start, end)``, in aware UTC, merged and sorted.

    Windows that cross the horizon edges are clipped to it.
    """
    horizon = Interval(start, end)
    zone = ZoneInfo(rule.tz)
    first = horizon.start.astimezone(zone).date() - timedelta(days=1)
    last = horizon.end.astimezone(zone).date()
    if rule.valid_from is not None:
        first = max(first, rule.valid_from)
    if rule.valid_until is not None:
        last = min(last, rule.valid_until)
    found: list[Interval] = []
    day = first
    while day <= last:
        if day.weekday() in rule.weekdays:
            occ = _occurrence(rule, day, zone)
            if occ is not None and occ.overlaps(horizon):
                found.append(Interval(max(occ.start, horizon.start), min(occ.end, horizon.end)))
        day += timedelta(days=1)
    return merge(found)


def expand_rules(rules: Iterable[RecurringRule], start: datetime, end: datetime) -> list[Interval]:
    """The union of several rules' windows inside ``[start, end)``."""
    return merge(iv for rule in rules for iv in expand(rule, start, end))
