"""Recurring availability rules and the interval algebra."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sharefab.domain.calendar import (
    Interval,
    RecurringRule,
    expand,
    expand_rules,
    intersect,
    merge,
    parse_rule,
    parse_weekdays,
    subtract,
    total_duration,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def iv(a: tuple[int, ...], b: tuple[int, ...]) -> Interval:
    return Interval(utc(*a), utc(*b))


def test_night_shift_rule_over_a_week_in_shanghai() -> None:
    rule = parse_rule("Mon-Fri 18:00-06:00 until 2027-03-31", tz="Asia/Shanghai")
    assert rule.weekdays == frozenset({0, 1, 2, 3, 4})
    assert rule.start == time(18) and rule.end == time(6) and rule.wraps_midnight
    assert rule.valid_until == date(2027, 3, 31)
    # Monday 2026-11-23 00:00 local (UTC+8) to the next Monday 00:00 local.
    windows = expand(rule, utc(2026, 11, 22, 16), utc(2026, 11, 29, 16))
    assert windows == [iv((2026, 11, d, 10), (2026, 11, d, 22)) for d in range(23, 28)]
    assert total_duration(windows) == timedelta(hours=60)


def test_horizon_clips_windows_and_wrap_from_previous_day_is_included() -> None:
    rule = parse_rule("Mon-Fri 18:00-06:00", tz="Asia/Shanghai")
    # Tuesday 2026-11-24 03:00 local = Monday 19:00 UTC; the Monday-night window is running.
    windows = expand(rule, utc(2026, 11, 23, 19), utc(2026, 11, 24, 12))
    assert windows == [
        iv((2026, 11, 23, 19), (2026, 11, 23, 22)),
        iv((2026, 11, 24, 10), (2026, 11, 24, 12)),
    ]


def test_until_is_respected_inclusive() -> None:
    rule = parse_rule("Mon-Fri 18:00-06:00 until 2027-03-31", tz="Asia/Shanghai")
    windows = expand(rule, utc(2027, 3, 28), utc(2027, 4, 10))
    starts = [w.start.astimezone(timezone(timedelta(hours=8))).date() for w in windows]
    assert starts == [date(2027, 3, 29), date(2027, 3, 30), date(2027, 3, 31)]
    # the last window still runs to its normal end on 1 April, 06:00 local
    assert windows[-1].end == utc(2027, 3, 31, 22)


def test_valid_from_is_respected() -> None:
    rule = parse_rule("daily 08:00-12:00 from 2026-12-03", tz="Asia/Shanghai")
    windows = expand(rule, utc(2026, 12, 1), utc(2026, 12, 5))
    assert [w.start for w in windows] == [utc(2026, 12, 3, 0), utc(2026, 12, 4, 0)]


def test_dst_in_berlin_keeps_local_times() -> None:
    rule = parse_rule("Sat 22:00-06:00", tz="Europe/Berlin")
    # 2027-03-28 (Sunday) clocks go forward at 02:00 CET -> 03:00 CEST.
    spring = expand(rule, utc(2027, 3, 20), utc(2027, 4, 5))
    assert spring == [
        iv((2027, 3, 20, 21), (2027, 3, 21, 5)),  # CET, 8 h
        iv((2027, 3, 27, 21), (2027, 3, 28, 4)),  # 22:00 CET -> 06:00 CEST, 7 h
        iv((2027, 4, 3, 20), (2027, 4, 4, 4)),  # CEST, 8 h
    ]
    # 2026-10-25 (Sunday) clocks go back at 03:00 CEST -> 02:00 CET: that night is 9 h.
    autumn = expand(rule, utc(2026, 10, 24), utc(2026, 10, 26))
    assert autumn == [iv((2026, 10, 24, 20), (2026, 10, 25, 5))]
    assert autumn[0].duration == timedelta(hours=9)


def test_day_windows_in_berlin_follow_offset_change() -> None:
    rule = RecurringRule(weekdays="mon", start="08:00", end="16:00", tz="Europe/Berlin")
    windows = expand(rule, utc(2027, 3, 22), utc(2027, 4, 2))
    assert [w.start for w in windows] == [utc(2027, 3, 22, 7), utc(2027, 3, 29, 6)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon-Fry 18:00-06:00", "unknown weekday 'fry'"),
        ("Mon-Fri 25:00-06:00", "'25:00' is not a valid HH:MM time"),
        ("Mon-Fri 18:00", "cannot read rule"),
        ("", "the rule is empty"),
        ("Mon-Fri 18:00-06:00 until 2027-02-30", "until date '2027-02-30'"),
        ("Mon-Fri 18:00-06:00 from 2027-05-01 until 2027-03-31", "rule ends before it starts"),
    ],
)
def test_bad_rules_give_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rule(text, tz="Asia/Shanghai")


def test_unknown_time_zone_and_empty_weekdays_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        parse_rule("daily 08:00-17:00", tz="Mars/Base")
    with pytest.raises(ValueError, match="at least one weekday"):
        RecurringRule(weekdays=frozenset(), start=time(8), end=time(9), tz="UTC")
    with pytest.raises(ValueError, match=r"0 \(Monday\) \.\. 6"):
        RecurringRule(weekdays=frozenset({7}), start=time(8), end=time(9), tz="UTC")


def test_weekday_forms_and_round_trip() -> None:
    assert parse_weekdays("mon,tue") == frozenset({0, 1})
    assert parse_weekdays("Fri-Mon") == frozenset({4, 5, 6, 0})
    assert parse_weekdays("weekends") == frozenset({5, 6})
    assert parse_weekdays("Monday, Wednesday") == frozenset({0, 2})
    rule = parse_rule("Mon-Fri 18:00-06:00 until 2027-03-31", tz="Asia/Shanghai")
    assert rule.weekdays_str == "mon,tue,wed,thu,fri"
    assert parse_rule(rule.describe(), tz="Asia/Shanghai") == rule


def test_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="window ends before it starts"):
        Interval(utc(2026, 12, 1, 10), utc(2026, 12, 1, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        Interval(datetime(2026, 12, 1, 10), datetime(2026, 12, 1, 11))
    with pytest.raises(ValueError, match="window ends before it starts"):
        expand(parse_rule("daily 08:00-09:00", tz="UTC"), utc(2026, 12, 2), utc(2026, 12, 1))


def test_interval_is_normalised_to_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    w = Interval(
        datetime(2026, 12, 1, 18, tzinfo=shanghai), datetime(2026, 12, 2, 6, tzinfo=shanghai)
    )
    assert w.start == utc(2026, 12, 1, 10) and w.start.tzinfo is UTC


def test_merge_joins_overlapping_and_touching() -> None:
    merged = merge(
        [
            iv((2026, 1, 1, 8), (2026, 1, 1, 10)),
            iv((2026, 1, 1, 9), (2026, 1, 1, 11)),
            iv((2026, 1, 1, 11), (2026, 1, 1, 12)),
            iv((2026, 1, 1, 14), (2026, 1, 1, 15)),
        ]
    )
    assert merged == [iv((2026, 1, 1, 8), (2026, 1, 1, 12)), iv((2026, 1, 1, 14), (2026, 1, 1, 15))]
    assert total_duration([iv((2026, 1, 1, 8), (2026, 1, 1, 10))] * 2) == timedelta(hours=2)


def test_subtract_bookings_from_windows() -> None:
    windows = [iv((2026, 1, 1, 8), (2026, 1, 1, 18)), iv((2026, 1, 2, 8), (2026, 1, 2, 18))]
    bookings = [
        iv((2026, 1, 1, 7), (2026, 1, 1, 9)),  # overlaps the start
        iv((2026, 1, 1, 12), (2026, 1, 1, 13)),  # inside
        iv((2026, 1, 1, 17), (2026, 1, 2, 10)),  # spans both windows
    ]
    free = subtract(windows, bookings)
    assert free == [
        iv((2026, 1, 1, 9), (2026, 1, 1, 12)),
        iv((2026, 1, 1, 13), (2026, 1, 1, 17)),
        iv((2026, 1, 2, 10), (2026, 1, 2, 18)),
    ]
    assert subtract(windows, []) == windows
    assert subtract(windows, [iv((2025, 1, 1), (2027, 1, 1))]) == []


def test_intersect_and_multiple_rules() -> None:
    a = [iv((2026, 1, 1, 8), (2026, 1, 1, 12)), iv((2026, 1, 1, 14), (2026, 1, 1, 18))]
    b = [iv((2026, 1, 1, 10), (2026, 1, 1, 15))]
    assert intersect(a, b) == [
        iv((2026, 1, 1, 10), (2026, 1, 1, 12)),
        iv((2026, 1, 1, 14), (2026, 1, 1, 15)),
    ]
    rules = [parse_rule("sat,sun 00:00-00:00", tz="UTC"), parse_rule("fri 18:00-06:00", tz="UTC")]
    # Friday 2026-11-27 18:00 to Monday 00:00 is one continuous idle stretch.
    windows = expand_rules(rules, utc(2026, 11, 23), utc(2026, 11, 30))
    assert windows == [iv((2026, 11, 27, 18), (2026, 11, 30))]


_BASE = datetime(2026, 1, 1, tzinfo=UTC)
_spans = st.lists(
    st.tuples(st.integers(0, 60), st.integers(1, 12)).map(
        lambda t: Interval(_BASE + timedelta(hours=t[0]), _BASE + timedelta(hours=t[0] + t[1]))
    ),
    max_size=8,
)


def _hours(intervals: list[Interval]) -> set[int]:
    out: set[int] = set()
    for w in intervals:
        first = int((w.start - _BASE).total_seconds() // 3600)
        out |= set(range(first, first + int(w.duration.total_seconds() // 3600)))
    return out


def _canonical(intervals: list[Interval]) -> bool:
    return all(a.end < b.start for a, b in pairwise(intervals))


@given(_spans, _spans)
@settings(max_examples=150, deadline=None)
def test_interval_algebra_agrees_with_hour_sets(a: list[Interval], b: list[Interval]) -> None:
    merged, diff, both = merge(a), subtract(a, b), intersect(a, b)
    assert _hours(merged) == _hours(a) and _canonical(merged)
    assert _hours(diff) == _hours(a) - _hours(b)
    assert _hours(both) == _hours(a) & _hours(b)
    assert all(x.end <= y.start for x, y in pairwise(diff))
    assert total_duration(a) == timedelta(hours=len(_hours(a)))


def test_an_instant_outside_the_utc_range_is_a_value_error() -> None:
    """0001-01-01 at +14:00 has no UTC equivalent: a ValueError, not an OverflowError."""
    east = timezone(timedelta(hours=14))
    with pytest.raises(ValueError, match="out of range in UTC"):
        Interval(datetime(1, 1, 1, tzinfo=east), datetime(2027, 1, 1, tzinfo=UTC))
