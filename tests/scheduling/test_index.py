"""Free-interval index: earliest-start queries agree with a brute-force scan, reservations and
releases keep the free lists exact."""

from __future__ import annotations

import random

import pytest

from sharefab.scheduling.index import INF, FreeIndex
from sharefab.scheduling.model import Booking, Resource
from sharefab.scheduling.validator import work_end

HORIZON = 120


def brute_earliest(
    windows: tuple[tuple[int, int], ...] | None,
    busy: set[int],
    t: int,
    d: int,
    resumable: bool,
) -> tuple[int, int]:
    def in_window(x: int) -> bool:
        return windows is None or any(a <= x < b for a, b in windows)

    for s in range(t, HORIZON):
        if not in_window(s) or s in busy:
            continue
        if resumable:
            end = work_end(windows, s, d)
        else:
            end = s + d
            if not all(in_window(x) for x in range(s, end)):
                continue
        if end is None:
            return -1, -1
        if end <= HORIZON and not any(x in busy for x in range(s, end)):
            return s, end
    return -1, -1


def random_resource(rng: random.Random) -> Resource:
    windows = None
    if rng.random() < 0.8:
        cuts = sorted(rng.sample(range(0, HORIZON), 12))
        windows = tuple((cuts[i], cuts[i + 1]) for i in range(0, 12, 2))
    bookings = []
    t = 0
    while t < HORIZON - 5:
        t += rng.randint(1, 15)
        length = rng.randint(1, 6)
        bookings.append(Booking(t, t + length))
        t += length
    return Resource("r", windows=windows, bookings=tuple(bookings))


@pytest.mark.parametrize("seed", range(25))
def test_queries_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    res = random_resource(rng)
    index = FreeIndex([res], horizon=HORIZON)
    busy = {x for b in res.bookings for x in range(b.start, b.end)}
    reserved: list[tuple[int, int]] = []
    for _ in range(40):
        t = rng.randint(0, HORIZON - 1)
        d = rng.randint(1, 12)
        resumable = rng.random() < 0.5
        got = index.earliest(0, t, d, resumable)[:2]
        assert got == brute_earliest(res.windows, busy, t, d, resumable), (t, d, resumable)
        if got[0] >= 0 and rng.random() < 0.7:
            assert index.is_free(0, *got)
            index.reserve(0, *got)
            reserved.append(got)
            busy.update(range(*got))
        elif reserved and rng.random() < 0.5:
            s, e = reserved.pop(rng.randrange(len(reserved)))
            index.release(0, s, e)
            busy.difference_update(range(s, e))
        # the free list always equals windows minus busy time
        expected = [
            x
            for x in range(HORIZON)
            if (res.windows is None or any(a <= x < b for a, b in res.windows)) and x not in busy
        ]
        got_free = [x for a, b in index.free(0) for x in range(a, min(b, HORIZON))]
        assert got_free == expected


def test_always_available_resource_is_one_interval() -> None:
    index = FreeIndex([Resource("r")])
    assert index.free(0) == [(0, INF)]
    assert index.earliest(0, 7, 3, False) == (7, 10, 0)


def test_resumable_spans_night_shifts() -> None:
    nights = ((18, 30), (42, 54), (66, 78))
    index = FreeIndex([Resource("night", windows=nights)])
    # 20 h of work from 18:00: 12 h the first night, 8 h the second
    assert index.earliest(0, 0, 20, True) == (18, 50, 0)
    # non-resumable 20 h fits no night
    assert index.earliest(0, 0, 20, False) == (-1, -1, -1)


def test_resumable_may_not_hold_unit_over_a_booking() -> None:
    nights = ((18, 30), (42, 54), (66, 78))
    res = Resource("night", windows=nights, bookings=(Booking(35, 40),))
    index = FreeIndex([res])
    # the break 30-42 contains a booking, so the work cannot span it: start the second night
    assert index.earliest(0, 0, 20, True) == (42, 74, 0)


def test_k_capacity_units_and_booking_assignment() -> None:
    res = Resource("oven", capacity=2, bookings=(Booking(0, 10), Booking(0, 5), Booking(5, 20)))
    index = FreeIndex([res])
    assert list(index.units(0)) == [0, 1]
    # best fit: [5, 20) goes after [0, 5) on the same unit, so one unit is busy to 10, one to 20
    ends = sorted(max(e for _, e in index.occupied(u)) for u in index.units(0))
    assert ends == [10, 20]
    assert index.earliest(0, 0, 4, False) == (10, 14, 0)


def test_horizon_bounds_end() -> None:
    index = FreeIndex([Resource("r", bookings=(Booking(0, 8),))], horizon=10)
    assert index.earliest(0, 0, 2, False)[:2] == (8, 10)
    assert index.earliest(0, 0, 3, False) == (-1, -1, -1)


def test_release_unknown_interval_is_an_error() -> None:
    index = FreeIndex([Resource("r")])
    with pytest.raises(ValueError, match="not reserved"):
        index.release(0, 1, 2)
