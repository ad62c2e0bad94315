"""A quick randomised list-scheduling warm start for unary-resource problems."""

from __future__ import annotations

import bisect
import random
import time

from sharefab.scheduling.model import Lot, ProblemData, Solution, topological_order


def list_schedule(
    data: ProblemData, rng: random.Random | None = None, deadline: float | None = None
) -> Solution | None:
    """A quick list-scheduling plan: repeatedly insert the ready (operation, resource) pair that
    completes earliest into the first gap that fits (ties broken at random when ``rng``).

    Handles unary resources, bookings, releases, precedences and transport times; returns
    ``None`` for problems it does not cover (calendars, lot splitting, capacity > 1), which then
    start from CP-SAT's first plan instead, and when ``deadline`` (``time.perf_counter()``) passes.
    """
    ops = data.operations
    if any(r.windows is not None or r.capacity != 1 for r in data.resources) or any(
        op.splittable for op in ops
    ):
        return None
    site = [r.site for r in data.resources]
    busy: list[list[tuple[int, int]]] = [
        [(b.start, b.end) for b in r.bookings] for r in data.resources
    ]
    preds = data.predecessors()
    succs = data.successors()
    missing = [len(p) for p in preds]
    ready = {i for i in range(len(ops)) if missing[i] == 0}
    placed: dict[int, Lot] = {}
    tail = _work_remaining(data, succs)
    while ready:
        if deadline is not None and time.perf_counter() > deadline:
            return None
        best: tuple[float, int, int, int] | None = None
        for i in ready:
            op = ops[i]
            release = data.jobs[op.job].release
            priority = -tail[i] * (1.0 + (rng.random() * 0.3 if rng else 0.0))
            for mode in op.modes:
                earliest = release
                for a in preds[i]:
                    la = placed[a]
                    earliest = max(
                        earliest, la.end + data.travel(site[la.resource], site[mode.resource])
                    )
                s = _first_gap(busy[mode.resource], earliest, mode.duration)
                key = (priority, s + mode.duration, i, mode.resource)
                if best is None or key < best:
                    best = key
        if best is None:
            return None
        _, _, i, r = best
        s = best[1] - next(m.duration for m in ops[i].modes if m.resource == r)
        duration = next(m.duration for m in ops[i].modes if m.resource == r)
        placed[i] = Lot(r, s, s + duration, ops[i].quantity)
        bisect.insort(busy[r], (s, s + duration))
        ready.discard(i)
        for b in succs[i]:
            missing[b] -= 1
            if missing[b] == 0:
                ready.add(b)
    if len(placed) != len(ops) or any(not op.modes for op in ops):
        return None
    return Solution(tuple((placed[i],) for i in range(len(ops))))


def _first_gap(busy: list[tuple[int, int]], earliest: int, duration: int) -> int:
    """Earliest start >= ``earliest`` of a ``duration``-long gap between sorted busy spans."""
    t = earliest
    for s, e in busy:
        if e <= t:
            continue
        if s >= t + duration and (duration > 0 or s > t):
            return t
        t = max(t, e)
    return t


def _work_remaining(data: ProblemData, succs: list[list[int]]) -> list[float]:
    """Per operation: its mean processing time plus the longest such path after it."""
    mean = [
        sum(m.duration for m in op.modes) / len(op.modes) if op.modes else 0.0
        for op in data.operations
    ]
    out = [0.0] * len(mean)
    for i in reversed(topological_order(len(succs), data.precedences)):
        out[i] = mean[i] + max((out[b] for b in succs[i]), default=0.0)
    return out
