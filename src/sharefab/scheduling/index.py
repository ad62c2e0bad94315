"""Per-resource free-interval indexes: where and when can a lot still run?

Each resource of capacity ``k`` is split into ``k`` units. Every unit keeps two sorted, disjoint
interval lists as parallel Python lists (searched with :mod:`bisect`):

* ``occupied`` — fixed bookings assigned to this unit plus the lots reserved on it;
* ``free`` — the resource's calendar windows minus ``occupied``.

A non-resumable lot must lie inside one free interval. A resumable lot starts inside a free
interval, works only in free time, and holds its unit until its work is done, so no occupied
interval may start before it ends (the breaks it spans are non-window time).

Fixed bookings carry no unit in the problem model; they are assigned to units greedily by start
time (best fit), which never needs more than ``k`` units when the bookings respect capacity.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from sharefab.scheduling.model import ProblemData, Resource

#: "For ever": the end of the free interval of an always-available resource.
INF = 1 << 62


def subtract(
    ws: Sequence[int], we: Sequence[int], os_: Sequence[int], oe: Sequence[int]
) -> tuple[list[int], list[int]]:
    """Windows minus occupied intervals (both sorted and disjoint)."""
    fs: list[int] = []
    fe: list[int] = []
    j = 0
    n_occ = len(os_)
    for a, b in zip(ws, we, strict=True):
        cur = a
        while j < n_occ and oe[j] <= cur:
            j += 1
        k = j
        while k < n_occ and os_[k] < b:
            if os_[k] > cur:
                fs.append(cur)
                fe.append(os_[k])
            cur = max(cur, oe[k])
            if cur >= b:
                break
            k += 1
        if cur < b:
            fs.append(cur)
            fe.append(b)
    return fs, fe


class FreeIndex:
    """Free intervals of every unit of every resource, with reservation and release.

    ``horizon`` (default: the problem's) bounds every lot's end; ``None`` means unbounded.
    """

    __slots__ = (
        "_fe",
        "_fs",
        "_oe",
        "_os",
        "_we",
        "_ws",
        "horizon",
        "resources",
        "site",
        "transport_cost",
        "transport_time",
        "unit_start",
    )

    def __init__(
        self,
        resources: Sequence[Resource],
        horizon: int | None = None,
        transport_time: Sequence[Sequence[int]] = (),
        transport_cost: Sequence[Sequence[int]] = (),
    ) -> None:
        self.resources = tuple(resources)
        self.horizon = INF if horizon is None else horizon
        self.site = [r.site for r in self.resources]
        n_sites = max(self.site, default=-1) + 1
        self.transport_time = _square(transport_time, n_sites)
        self.transport_cost = _square(transport_cost, n_sites)
        self.unit_start: list[int] = []
        self._ws: list[list[int] | None] = []
        self._we: list[list[int] | None] = []
        self._fs: list[list[int]] = []
        self._fe: list[list[int]] = []
        self._os: list[list[int]] = []
        self._oe: list[list[int]] = []
        for res in self.resources:
            self.unit_start.append(len(self._fs))
            if res.windows is None:
                ws, we = [0], [INF]
                self._ws.append(None)
                self._we.append(None)
            else:
                ws = [a for a, _ in res.windows]
                we = [b for _, b in res.windows]
                self._ws.append(ws)
                self._we.append(we)
            for os_, oe in _assign_units(res):
                fs, fe = subtract(ws, we, os_, oe)
                self._fs.append(fs)
                self._fe.append(fe)
                self._os.append(os_)
                self._oe.append(oe)
        self.unit_start.append(len(self._fs))

    @classmethod
    def from_problem(cls, data: ProblemData) -> FreeIndex:
        """The index of ``data``'s resources (windows and fixed bookings) and horizon."""
        return cls(data.resources, data.horizon, data.transport_time, data.transport_cost)

    def units(self, resource: int) -> range:
        """Unit ids of ``resource``."""
        return range(self.unit_start[resource], self.unit_start[resource + 1])

    # -- queries -------------------------------------------------------------------------------

    def earliest_on_unit(
        self, unit: int, t: int, duration: int, resumable: bool
    ) -> tuple[int, int]:
        """Earliest ``(start, end)`` with ``start >= t`` on ``unit``; ``(-1, -1)`` if none."""
        fs = self._fs[unit]
        fe = self._fe[unit]
        n = len(fe)
        i = bisect_right(fe, t)
        if not resumable:
            while i < n:
                s = fs[i] if fs[i] > t else t
                if fe[i] - s >= duration:
                    e = s + duration
                    return (s, e) if e <= self.horizon else (-1, -1)
                i += 1
            return -1, -1
        os_ = self._os[unit]
        oe = self._oe[unit]
        while i < n:
            s = fs[i] if fs[i] > t else t
            j = bisect_right(os_, s)
            limit = os_[j] if j < len(os_) else INF
            rem = duration
            k = i
            cur = s
            end = -1
            while cur < limit:
                avail = fe[k] - cur
                if avail >= rem:
                    end = cur + rem
                    break
                rem -= avail
                k += 1
                if k >= n:
                    return -1, -1
                cur = fs[k]
            if end >= 0 and end <= limit:
                return (s, end) if end <= self.horizon else (-1, -1)
            if limit >= INF:
                return -1, -1
            i = bisect_left(fs, oe[j])
        return -1, -1

    def earliest(
        self, resource: int, t: int, duration: int, resumable: bool
    ) -> tuple[int, int, int]:
        """Earliest ``(start, end, unit)`` over the units of ``resource``; ``(-1, -1, -1)``."""
        first = self.unit_start[resource]
        last = self.unit_start[resource + 1]
        if last - first == 1:
            s, e = self.earliest_on_unit(first, t, duration, resumable)
            return (s, e, first) if s >= 0 else (-1, -1, -1)
        best = (-1, -1, -1)
        for u in range(first, last):
            s, e = self.earliest_on_unit(u, t, duration, resumable)
            if s >= 0 and (best[0] < 0 or e < best[1]):
                best = (s, e, u)
                if s == t:
                    break
        return best

    def is_free(self, unit: int, start: int, end: int) -> bool:
        """Whether ``[start, end)`` overlaps nothing occupied on ``unit``."""
        j = bisect_right(self._os[unit], start)
        if j > 0 and self._oe[unit][j - 1] > start:
            return False
        return j >= len(self._os[unit]) or self._os[unit][j] >= end

    def occupied(self, unit: int) -> list[tuple[int, int]]:
        """The occupied intervals of ``unit`` (bookings and reservations), sorted."""
        return list(zip(self._os[unit], self._oe[unit], strict=True))

    def free(self, unit: int) -> list[tuple[int, int]]:
        """The free intervals of ``unit`` (windows minus occupied), sorted."""
        return list(zip(self._fs[unit], self._fe[unit], strict=True))

    # -- updates -------------------------------------------------------------------------------

    def reserve(self, unit: int, start: int, end: int) -> None:
        """Occupy ``[start, end)`` on ``unit`` (the caller checked it is free)."""
        if end <= start:
            return
        os_ = self._os[unit]
        j = bisect_right(os_, start)
        os_.insert(j, start)
        self._oe[unit].insert(j, end)
        fs = self._fs[unit]
        fe = self._fe[unit]
        i = bisect_right(fe, start)
        k = i
        pieces_s: list[int] = []
        pieces_e: list[int] = []
        while k < len(fs) and fs[k] < end:
            if fs[k] < start:
                pieces_s.append(fs[k])
                pieces_e.append(start)
            if fe[k] > end:
                pieces_s.append(end)
                pieces_e.append(fe[k])
            k += 1
        fs[i:k] = pieces_s
        fe[i:k] = pieces_e

    def release(self, unit: int, start: int, end: int) -> None:
        """Undo :meth:`reserve` of exactly ``[start, end)`` on ``unit``."""
        if end <= start:
            return
        os_ = self._os[unit]
        oe = self._oe[unit]
        j = bisect_left(os_, start)
        if j >= len(os_) or os_[j] != start or oe[j] != end:
            raise ValueError(f"unit {unit}: [{start}, {end}) is not reserved")
        del os_[j]
        del oe[j]
        resource = bisect_right(self.unit_start, unit) - 1
        ws = self._ws[resource]
        we = self._we[resource]
        if ws is None or we is None:
            new_s, new_e = [start], [end]
        else:
            new_s, new_e = [], []
            w = bisect_right(we, start)
            while w < len(ws) and ws[w] < end:
                new_s.append(max(ws[w], start))
                new_e.append(min(we[w], end))
                w += 1
        if not new_s:
            return
        fs = self._fs[unit]
        fe = self._fe[unit]
        i = bisect_left(fs, start)
        if i > 0 and fe[i - 1] == new_s[0]:
            new_s[0] = fs[i - 1]
            i -= 1
            del fs[i]
            del fe[i]
        if i < len(fs) and fs[i] == new_e[-1]:
            new_e[-1] = fe[i]
            del fs[i]
            del fe[i]
        fs[i:i] = new_s
        fe[i:i] = new_e


def _square(matrix: Sequence[Sequence[int]], n_sites: int) -> list[list[int]]:
    """The matrix as lists, zero on the diagonal; all zeros when it is empty."""
    n = max(n_sites, len(matrix))
    if not matrix:
        return [[0] * n for _ in range(n)]
    out = [list(row) for row in matrix]
    for i in range(len(out)):
        out[i][i] = 0
    return out


def _assign_units(res: Resource) -> list[tuple[list[int], list[int]]]:
    """Spread fixed bookings over the units (greedy by start, best fit); occupied per unit."""
    units: list[tuple[list[int], list[int]]] = [([], []) for _ in range(res.capacity)]
    for b in res.bookings:  # sorted by start in Resource.__post_init__
        best = -1
        best_end = -2
        for u, (_, oe) in enumerate(units):
            last = oe[-1] if oe else -1
            if last <= b.start and last > best_end:
                best, best_end = u, last
        if best < 0:  # over capacity already: stack on the unit that frees first
            best = min(range(res.capacity), key=lambda u: units[u][1][-1])
            oe = units[best][1]
            oe[-1] = max(oe[-1], b.end)
            continue
        units[best][0].append(b.start)
        units[best][1].append(b.end)
    return units
