"""The quoting screen's inlined earliest-end search agrees with the scheduler's FreeIndex, and
its memoised scoring follows capacity and credit changes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sharefab.scheduling.index import FreeIndex
from sharefab.scheduling.model import Booking, Resource
from sharefab.services.capacity import Candidate, ResourceCapacity
from sharefab.services.quote_shortlist import clear_memo, score_operation, shortlist

intervals = st.lists(
    st.tuples(st.integers(0, 2000), st.integers(1, 400)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(
    windows=intervals,
    bookings=intervals,
    capacity=st.integers(1, 3),
    release=st.integers(0, 2500),
    duration=st.integers(1, 500),
    horizon=st.integers(500, 3000),
)
def test_earliest_end_matches_the_free_index(
    windows: list[tuple[int, int]],
    bookings: list[tuple[int, int]],
    capacity: int,
    release: int,
    duration: int,
    horizon: int,
) -> None:
    res = Resource("r", capacity, 0, tuple(windows), tuple(Booking(s, e) for s, e in bookings))
    index = FreeIndex([res], horizon)
    free = tuple(
        ([a for a, _ in index.free(u)], [b for _, b in index.free(u)]) for u in index.units(0)
    )
    cached = ResourceCapacity(res.windows or (), tuple(bookings), capacity, index, free)
    expected = index.earliest(0, release, duration, False)[1]
    assert cached.earliest_end(release, duration, False) == expected


def _capacity(windows: list[tuple[int, int]], bookings: list[tuple[int, int]]) -> ResourceCapacity:
    res = Resource("r", 1, 0, tuple(windows), tuple(Booking(s, e) for s, e in bookings))
    index = FreeIndex([res], 5000)
    free = tuple(
        ([a for a, _ in index.free(u)], [b for _, b in index.free(u)]) for u in index.units(0)
    )
    return ResourceCapacity(res.windows or (), tuple(bookings), 1, index, free)


def _candidate(rid: int, org: int) -> Candidate:
    return Candidate(rid, org, ("provider",), rid, None, None, 6000, 0, 1.0, 1, "x")


def test_memoised_scoring_follows_capacity_and_credit_changes() -> None:
    clear_memo()
    cands = [_candidate(1, 10), _candidate(2, 20)]
    capacity = {1: _capacity([(0, 1000)], []), 2: _capacity([(0, 1000)], [(0, 300)])}
    credit = {10: 500, 20: 500}

    def score() -> list[tuple[int, int, int]]:
        scored = score_operation("db", ("op",), cands, capacity, credit, 0, 0, 120, False)
        return [(row[3], row[0], row[2]) for row in scored.rows]

    assert score() == [(1, 120, -500), (2, 420, -500)]
    assert score() == [(1, 120, -500), (2, 420, -500)]  # served again while nothing changed
    capacity[1] = _capacity([(0, 1000)], [(0, 500)])  # resource 1 booked meanwhile
    assert score() == [(1, 620, -500), (2, 420, -500)]
    credit[20] = 900
    assert score() == [(1, 620, -500), (2, 420, -900)]
    short, singles = shortlist(
        [score_operation("db", ("op",), cands, capacity, credit, 0, 0, 120, False)], credit, 1
    )
    assert [c.resource_id for c in short[0]] == [1, 2]
    assert singles == [20]  # the more credit-worthy provider
