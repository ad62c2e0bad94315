"""The quoting screen's inlined earliest-end search agrees with the scheduler's FreeIndex."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sharefab.scheduling.index import FreeIndex
from sharefab.scheduling.model import Booking, Resource
from sharefab.services.capacity import ResourceCapacity

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
