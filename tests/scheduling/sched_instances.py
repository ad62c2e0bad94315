"""Canonical small scheduling instances, each with a hand-checked valid solution.

Imported by ``conftest.py`` (fixtures) and by tests that need the helpers.

Tests derive bad solutions from the good ones (``bad = with_lot(sol, op, lot)``) and assert the
validator names the violation; solver tests schedule the same instances.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from sharefab.scheduling.model import (
    Booking,
    Job,
    Lot,
    Mode,
    Objective,
    Operation,
    ProblemData,
    Resource,
    Solution,
)


class Instance(NamedTuple):
    data: ProblemData
    solution: Solution


def with_lots(solution: Solution, op: int, *lots: Lot) -> Solution:
    """A copy of ``solution`` with operation ``op`` performed by ``lots``."""
    out = list(solution.lots)
    out[op] = tuple(lots)
    return Solution(tuple(out))


def make_tiny_fjsp() -> Instance:
    """Two jobs of two operations on three machines, no calendars (classic FJSP)."""
    data = ProblemData(
        jobs=(Job("j0"), Job("j1")),
        resources=(Resource("M0"), Resource("M1"), Resource("M2")),
        operations=(
            Operation(0, (Mode(0, 3), Mode(1, 5)), name="j0.o0"),
            Operation(0, (Mode(1, 4), Mode(2, 2)), name="j0.o1"),
            Operation(1, (Mode(0, 2), Mode(2, 4)), name="j1.o0"),
            Operation(1, (Mode(0, 3), Mode(1, 3)), name="j1.o1"),
        ),
        precedences=((0, 1), (2, 3)),
    )
    sol = Solution(
        (
            (Lot(0, 0, 3, 1),),
            (Lot(2, 4, 6, 1),),
            (Lot(2, 0, 4, 1),),
            (Lot(0, 4, 7, 1),),
        )
    )
    return Instance(data, sol)


#: Night shifts 18:00-06:00 in hours from Monday 00:00, for four nights.
NIGHTS = ((18, 30), (42, 54), (66, 78), (90, 102))


def make_calendar() -> Instance:
    """A night-shift machine: a resumable 20 h operation and a non-resumable 10 h one."""
    data = ProblemData(
        jobs=(Job("long"), Job("short")),
        resources=(Resource("night", windows=NIGHTS),),
        operations=(
            Operation(0, (Mode(0, 20),), name="long.weld", resumable=True),
            Operation(1, (Mode(0, 10),), name="short.weld"),
        ),
        horizon=120,
    )
    # The resumable op works 18-30 and 42-50; the short op fits in the third night.
    sol = Solution(((Lot(0, 18, 50, 1),), (Lot(0, 66, 76, 1),)))
    return Instance(data, sol)


def make_transport() -> Instance:
    """Two sites 5 time units apart (cost 7 per leg); the second operation runs on site 1."""
    data = ProblemData(
        jobs=(Job("j0", due=10, weight=2),),
        resources=(Resource("A", site=0), Resource("B", site=1)),
        operations=(
            Operation(0, (Mode(0, 4, cost=10),), name="cut"),
            Operation(0, (Mode(0, 6, cost=9), Mode(1, 3, cost=6)), name="paint"),
        ),
        precedences=((0, 1),),
        transport_time=((0, 5), (5, 0)),
        transport_cost=((0, 7), (7, 0)),
        objective=Objective.of(weighted_tardiness=1, cost=1),
    )
    sol = Solution(((Lot(0, 0, 4, 1),), (Lot(1, 9, 12, 1),)))
    return Instance(data, sol)


def make_lots() -> Instance:
    """A 100-unit operation that may be split into at most 3 lots of at least 20 units."""
    data = ProblemData(
        jobs=(Job("batch", release=2),),
        resources=(
            Resource("slow"),
            Resource("fast"),
            Resource("oven", capacity=2, bookings=(Booking(0, 40, "maintenance"),)),
        ),
        operations=(
            Operation(
                0,
                (
                    Mode(0, 100, cost=200, setup=10, setup_cost=20),
                    Mode(1, 50, cost=300, setup=5, setup_cost=30),
                ),
                name="mill",
                quantity=100,
                max_lots=3,
                min_lot=20,
            ),
            Operation(0, (Mode(2, 30, cost=50),), name="bake", quantity=100),
        ),
        precedences=((0, 1),),
        objective=Objective.of(makespan=1),
    )
    # slow: 10 + ceil(90 * 40 / 100) = 46; fast: 5 + ceil(45 * 60 / 100) = 32
    sol = Solution(((Lot(0, 2, 48, 40), Lot(1, 2, 34, 60)), (Lot(2, 48, 78, 100),)))
    return Instance(data, sol)


def make_oven() -> Instance:
    """A 2-unit oven, one unit booked over [0, 10), four 5-unit operations."""
    data = ProblemData(
        jobs=tuple(Job(f"j{i}") for i in range(4)),
        resources=(Resource("oven", capacity=2, bookings=(Booking(0, 10, "held"),)),),
        operations=tuple(Operation(i, (Mode(0, 5),), name=f"bake{i}") for i in range(4)),
    )
    sol = Solution(
        (
            (Lot(0, 0, 5, 1),),
            (Lot(0, 5, 10, 1),),
            (Lot(0, 10, 15, 1),),
            (Lot(0, 10, 15, 1),),
        )
    )
    return Instance(data, sol)


def random_problem(seed: int) -> ProblemData:
    """A small random problem: calendars, bookings, k-capacity, 2 sites, lots, horizon."""
    rng = random.Random(seed)
    resources = []
    for r in range(rng.randint(1, 4)):
        windows = None
        if rng.random() < 0.6:
            cuts = sorted(rng.sample(range(0, 200), 10))
            windows = tuple((cuts[i], cuts[i + 1]) for i in range(0, 10, 2))
        bookings = tuple(
            Booking(s, s + rng.randint(1, 8)) for s in sorted(rng.sample(range(0, 150), 3))
        )
        bookings = tuple(
            b for k, b in enumerate(bookings) if k == 0 or b.start >= bookings[k - 1].end
        )
        resources.append(Resource(f"r{r}", rng.randint(1, 2), rng.randint(0, 1), windows, bookings))
    jobs = tuple(
        Job(f"j{j}", release=rng.randint(0, 20), due=rng.randint(10, 80)) for j in range(3)
    )
    ops = []
    precedences = []
    for j in range(3):
        first = len(ops)
        for k in range(rng.randint(1, 3)):
            eligible = rng.sample(range(len(resources)), rng.randint(1, len(resources)))
            quantity = rng.randint(1, 10)
            modes = tuple(Mode(r, rng.randint(1, 12), rng.randint(0, 20)) for r in eligible)
            split = quantity >= 4 and rng.random() < 0.3
            ops.append(
                Operation(
                    j,
                    modes,
                    f"j{j}.{k}",
                    quantity,
                    resumable=rng.random() < 0.4,
                    max_lots=2 if split else 1,
                    min_lot=2 if split else 1,
                )
            )
            if k > 0:
                precedences.append((first + k - 1, first + k))
    return ProblemData(
        jobs,
        tuple(resources),
        tuple(ops),
        tuple(precedences),
        ((0, 3), (3, 0)),
        ((0, 5), (5, 0)),
        horizon=rng.choice((None, 200)),
        objective=Objective.of(weighted_tardiness=2, cost=1),
    )


ALL_INSTANCES = {
    "tiny_fjsp": make_tiny_fjsp,
    "calendar": make_calendar,
    "transport": make_transport,
    "lots": make_lots,
    "oven": make_oven,
}
