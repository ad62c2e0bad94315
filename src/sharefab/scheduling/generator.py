"""Deterministic synthetic manufacturing clusters for tests and benchmarks.

:func:`synthetic_cluster` builds a :class:`ProblemData` in minutes from Monday 00:00 that looks
like a regional cluster of shared factories: sites at random coordinates (transport time and
cost from distance), resources grouped into capability families of 3-15 machines (each
operation is eligible on one family), some k-capacity stations, calendars (24/7, two shifts,
day shift or night shift, weekdays only), existing bookings in the first two weeks, jobs with
release dates, due dates and weights, chains of operations (some resumable across calendar
breaks, some splittable into lots). The same arguments always give the same problem.

:func:`lower_bound` (from :mod:`sharefab.scheduling.bounds`) bounds any objective.
"""

from __future__ import annotations

import random
from math import ceil, hypot

from sharefab.scheduling.bounds import lower_bound
from sharefab.scheduling.model import (
    Booking,
    Job,
    Mode,
    Objective,
    Operation,
    ProblemData,
    Resource,
)

DAY = 24 * 60
WEEK = 7 * DAY
#: (name, daily windows as (start, end) minutes, weekdays only?)
CALENDARS: tuple[tuple[str, tuple[tuple[int, int], ...] | None, bool], ...] = (
    ("24/7", None, False),
    ("two-shift", ((6 * 60, 22 * 60),), True),
    ("day", ((8 * 60, 16 * 60),), True),
    ("night", ((18 * 60, 30 * 60),), True),
)
CALENDAR_WEIGHTS = (0.25, 0.4, 0.2, 0.15)
#: available minutes per week of each calendar, for sizing the horizon
WEEKLY_MINUTES = (7 * DAY, 5 * 16 * 60, 5 * 8 * 60, 5 * 12 * 60)

__all__ = ["lower_bound", "synthetic_cluster"]


def calendar_windows(kind: int, weeks: int) -> tuple[tuple[int, int], ...] | None:
    _, daily, weekdays_only = CALENDARS[kind]
    if daily is None:
        return None
    out = []
    for day in range(weeks * 7):
        if weekdays_only and day % 7 >= 5:
            continue
        for a, b in daily:
            out.append((day * DAY + a, day * DAY + b))
    return tuple(out)


def _bookings(
    rng: random.Random, windows: tuple[tuple[int, int], ...] | None, fill: float
) -> tuple[Booking, ...]:
    """Bookings covering about ``fill`` of the free time of the first two weeks."""
    spans = windows if windows is not None else ((0, 2 * WEEK),)
    out = []
    for a, b in spans:
        if a >= 2 * WEEK:
            break
        t = a
        while t < b:
            length = rng.randint(60, 300)
            gap = int(length * (1 - fill) / max(fill, 1e-9))
            t += rng.randint(0, max(1, gap))
            if t + length > b:
                break
            out.append(Booking(t, t + length, "existing"))
            t += length
    return tuple(out)


def synthetic_cluster(
    n_jobs: int,
    n_ops_per_job: int = 5,
    n_resources: int = 500,
    n_sites: int = 20,
    seed: int = 0,
    *,
    booking_fill: float = 0.3,
    resumable_share: float = 0.3,
    split_share: float = 0.1,
    due_slack: float = 3.0,
    utilisation: float = 0.7,
    objective: Objective | None = None,
) -> ProblemData:
    """A seeded synthetic cluster (see the module docstring); objective by default
    ``weighted_tardiness``."""
    if n_jobs < 1 or n_ops_per_job < 1 or n_resources < 3 or n_sites < 1:
        raise ValueError("need n_jobs >= 1, n_ops_per_job >= 1, n_resources >= 3, n_sites >= 1")
    if not 0 < utilisation <= 1:
        raise ValueError("utilisation must be in (0, 1]")
    rng = random.Random(seed)
    coords = [(rng.uniform(0, 300), rng.uniform(0, 300)) for _ in range(n_sites)]
    dist = [[hypot(a[0] - b[0], a[1] - b[1]) for b in coords] for a in coords]
    ttime = [
        [0 if i == j else 30 + ceil(d) for j, d in enumerate(row)] for i, row in enumerate(dist)
    ]
    tcost = [
        [0 if i == j else 2000 + ceil(d * 150) for j, d in enumerate(row)]
        for i, row in enumerate(dist)
    ]

    # capability families of 3-15 resources
    families: list[list[int]] = []
    r = 0
    while r < n_resources:
        size = min(rng.randint(3, 15), n_resources - r)
        if size < 3 and families:
            families[-1].extend(range(r, r + size))
        else:
            families.append(list(range(r, r + size)))
        r += size

    kinds = rng.choices(range(len(CALENDARS)), weights=CALENDAR_WEIGHTS, k=n_resources)
    capacity = [rng.choice((2, 3, 4)) if rng.random() < 0.15 else 1 for _ in range(n_resources)]
    # demand for a family follows its weekly capacity, so every family is about equally loaded
    family_weights = [sum(WEEKLY_MINUTES[kinds[r]] * capacity[r] for r in f) for f in families]
    speed = [rng.uniform(0.7, 1.4) for _ in range(n_resources)]
    rate = [rng.randint(3000, 15000) for _ in range(n_resources)]  # minor units per hour
    setup = [rng.choice((0, 10, 20, 30)) for _ in range(n_resources)]

    weekly = sum(WEEKLY_MINUTES[k] * c for k, c in zip(kinds, capacity, strict=True))
    operations: list[Operation] = []
    precedences: list[tuple[int, int]] = []
    job_work: list[int] = []  # per job, sum of its operations' shortest durations
    mean_work = 0.0  # all operations, mean duration over their modes
    for j in range(n_jobs):
        first = len(operations)
        total = 0
        for k in range(n_ops_per_job):
            family = rng.choices(families, weights=family_weights)[0]
            resumable = rng.random() < resumable_share
            quantity = rng.randint(1, 50)
            unit_time = rng.uniform(1.0, 6.0) if not resumable else rng.uniform(4.0, 24.0)
            modes = []
            for res in family:
                d_setup = setup[res]
                work = ceil(quantity * unit_time / speed[res])
                if not resumable:
                    work = min(work, 400 - d_setup)
                duration = d_setup + work
                cost = ceil(rate[res] * duration / 60)
                setup_cost = ceil(rate[res] * d_setup / 60)
                modes.append(Mode(res, duration, cost, d_setup, setup_cost))
            total += min(m.duration for m in modes)
            mean_work += sum(m.duration for m in modes) / len(modes)
            splittable = quantity >= 8 and rng.random() < split_share
            operations.append(
                Operation(
                    j,
                    tuple(modes),
                    name=f"J{j}.{k}",
                    quantity=quantity,
                    resumable=resumable,
                    max_lots=rng.randint(2, 3) if splittable else 1,
                    min_lot=max(1, quantity // 4) if splittable else 1,
                )
            )
            if k > 0:
                precedences.append((first + k - 1, first + k))
        job_work.append(total)

    # releases spread so the cluster runs at about ``utilisation`` of its calendar capacity;
    # calendars long enough for three times the load after the last release
    load_weeks = mean_work / weekly
    release_spread = max(DAY, int(load_weeks / utilisation * WEEK))
    weeks = int(3 * load_weeks + release_spread / WEEK) + 3
    jobs = []
    for j in range(n_jobs):
        release = rng.randint(0, release_spread)
        due = release + int(due_slack * job_work[j]) + rng.randint(2, 7) * DAY
        jobs.append(Job(f"J{j}", release=release, due=due, weight=rng.randint(1, 5)))
    resources = []
    for i in range(n_resources):
        windows = calendar_windows(kinds[i], weeks)
        resources.append(
            Resource(
                f"R{i}-{CALENDARS[kinds[i]][0]}",
                capacity=capacity[i],
                site=rng.randrange(n_sites),
                windows=windows,
                bookings=_bookings(rng, windows, booking_fill),
            )
        )
    return ProblemData(
        jobs=tuple(jobs),
        resources=tuple(resources),
        operations=tuple(operations),
        precedences=tuple(precedences),
        transport_time=ttime,
        transport_cost=tcost,
        objective=objective if objective is not None else Objective.of(weighted_tardiness=1),
    )
