"""Candidate resources and their free capacity, loaded for quoting with few queries and cached.

* :func:`find_candidates` (in :mod:`sharefab.services.candidates`, re-exported here) — one
  SQL join per requested capability selects the public resources
  of provider organizations whose capability is the requested one or a descendant (the
  taxonomy's subsumption), in the RFQ's currency, other than the buyer's own; attribute values
  are then checked with one prepared :meth:`Taxonomy.matcher` per operation.
* :class:`CapacityCache` — per process, the published windows and the non-cancelled bookings
  of each resource in the quoting horizon, as a one-resource
  :class:`~sharefab.scheduling.index.FreeIndex` in minutes from a daily origin (midnight UTC).
  Entries are loaded in bulk for the resources that are missing. When the *capacity
  version* ``(max booking id, max window id, max order event id)`` changes, only the
  resources touched since the cached version are dropped (:func:`changed_resources`: new
  bookings, new windows, resources of orders with new events — every booking cancellation by
  the marketplace writes an order event in the same transaction). Each resource is reloaded
  after a lifetime between ``MAX_AGE_S / 2`` and :data:`MAX_AGE_S` spread by id (never the
  whole catalogue at once), which bounds what the version cannot see (a deleted window, a
  booking whose id committed out of order); accepting re-checks every slot anyway and a
  refused slot is invalidated at once (:meth:`CapacityCache.invalidate`). Loading runs two
  queries per batch of ids, with the ids as one array (PostgreSQL) or JSON (SQLite)
  parameter and the instants as integer epoch milliseconds computed in SQL.
"""

from __future__ import annotations

import json
import math
import threading
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    any_,
    bindparam,
    cast,
    extract,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from sharefab.scheduling.index import FreeIndex
from sharefab.scheduling.model import Booking as PlanBooking
from sharefab.scheduling.model import Resource as PlanResource
from sharefab.services.candidates import CATALOGUE_MAX_AGE_S as CATALOGUE_MAX_AGE_S
from sharefab.services.candidates import Candidate as Candidate
from sharefab.services.candidates import catalogue_version as catalogue_version
from sharefab.services.candidates import clear_candidates
from sharefab.services.candidates import find_candidates as find_candidates
from sharefab.storage.market_models import OrderEvent, WorkOrder
from sharefab.storage.models import (
    Booking,
    CalendarWindow,
    Resource,
    ResourceCapability,
)
from sharefab.storage.types import utc_now

#: Cached capacity is reloaded at least this often (seconds).
MAX_AGE_S = 60.0
_CHUNK = 900


def day_origin(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day: minute 0 of every plan built that day."""
    n = now.astimezone(UTC)
    return datetime(n.year, n.month, n.day, tzinfo=UTC)


def to_minutes(origin: datetime, at: datetime, *, up: bool = False) -> int:
    """Minutes from ``origin`` to ``at`` (rounded down, or up with ``up``)."""
    seconds = (at - origin).total_seconds()
    return math.ceil(seconds / 60) if up else math.floor(seconds / 60)


def from_minutes(origin: datetime, minutes: int) -> datetime:
    """The instant ``minutes`` after ``origin``."""
    return origin + timedelta(minutes=minutes)


@dataclass(frozen=True, slots=True)
class ResourceCapacity:
    """Windows and bookings of one resource in minutes from the origin, and its index."""

    windows: tuple[tuple[int, int], ...]
    bookings: tuple[tuple[int, int], ...]
    capacity: int
    index: FreeIndex
    free: tuple[tuple[list[int], list[int]], ...] = ()
    #: Memo of :meth:`earliest_end` by ``(release, duration, resumable)``; it lives as long as
    #: this object, which the cache replaces whenever the resource's capacity changes.
    ends: dict[tuple[int, int, bool], int] = field(default_factory=dict)
    #: The windows as read (before merging), to tell whether a reload changed anything.
    raw_windows: tuple[tuple[int, int], ...] = ()

    def cached_end(self, release: int, duration: int, resumable: bool) -> int:
        """:meth:`earliest_end`, memoised (repeated quotes and the fresh quote after a
        refused accept ask the same questions within the same minute)."""
        key = (release, duration, resumable)
        end = self.ends.get(key)
        if end is None:
            if len(self.ends) >= 512:
                self.ends.clear()
            end = self.ends[key] = self.earliest_end(release, duration, resumable)
        return end

    def earliest_end(self, release: int, duration: int, resumable: bool) -> int:
        """Earliest end of a lot of ``duration`` starting at or after ``release`` on any unit
        (-1 if none before the horizon). The non-resumable case is an inlined bisect over the
        free intervals: quoting calls this once per candidate resource."""
        if resumable:
            return self.index.earliest(0, release, duration, True)[1]
        best = -1
        horizon = self.index.horizon
        for fs, fe in self.free:
            i = bisect_right(fe, release)
            n = len(fe)
            while i < n:
                start = fs[i] if fs[i] > release else release
                if fe[i] - start >= duration:
                    end = start + duration
                    if end <= horizon and (best < 0 or end < best):
                        best = end
                    break
                i += 1
        return best

    def plan_resource(self, name: str, site: int) -> PlanResource:
        """The resource as scheduling data on local site index ``site``."""
        return PlanResource(
            name,
            self.capacity,
            site,
            self.windows,
            tuple(PlanBooking(s, e) for s, e in self.bookings),
        )


def capacity_version(session: Session) -> tuple[int, int, int]:
    """``(max booking id, max window id, max order event id)`` (see the module doc)."""
    row = session.execute(
        select(
            select(func.coalesce(func.max(Booking.id), 0)).scalar_subquery(),
            select(func.coalesce(func.max(CalendarWindow.id), 0)).scalar_subquery(),
            select(func.coalesce(func.max(OrderEvent.id), 0)).scalar_subquery(),
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def versions(session: Session) -> tuple[tuple[int, int], tuple[int, int, int]]:
    """:func:`catalogue_version` and :func:`capacity_version` in one round trip."""
    row = session.execute(
        select(
            *(
                select(func.coalesce(func.max(col), 0)).scalar_subquery()
                for col in (
                    Resource.id,
                    ResourceCapability.id,
                    Booking.id,
                    CalendarWindow.id,
                    OrderEvent.id,
                )
            )
        )
    ).one()
    return (int(row[0]), int(row[1])), (int(row[2]), int(row[3]), int(row[4]))


def changed_resources(
    session: Session, old: tuple[int, int, int], new: tuple[int, int, int]
) -> set[int]:
    """Resources whose capacity may differ between two capacity versions: new bookings, new
    windows, and the resources of orders with new events (cancellations free bookings)."""
    changed: set[int] = set()
    if new[0] != old[0]:
        changed.update(
            session.scalars(select(Booking.resource_id).where(Booking.id > old[0]).distinct())
        )
    if new[1] != old[1]:
        changed.update(
            session.scalars(
                select(CalendarWindow.resource_id).where(CalendarWindow.id > old[1]).distinct()
            )
        )
    if new[2] != old[2]:
        changed.update(
            session.scalars(
                select(WorkOrder.resource_id)
                .join(OrderEvent, OrderEvent.order_id == WorkOrder.order_id)
                .where(OrderEvent.id > old[2])
                .distinct()
            )
        )
    return changed


@dataclass
class _Entry:
    version: tuple[int, int, int]
    resources: dict[int, ResourceCapacity]
    #: POSIX time after which each resource is reloaded.
    expires: dict[int, float] = field(default_factory=dict)


def _lifetime(resource_id: int) -> float:
    """Seconds a loaded resource stays cached: spread over ``[MAX_AGE_S / 2, MAX_AGE_S)`` by
    id, so resources loaded together expire a few at a time instead of all at once."""
    return MAX_AGE_S * (0.5 + ((resource_id * 2_654_435_761) % 1009) / 2018)


class CapacityCache:
    """Per-process cache of :class:`ResourceCapacity` per (database, origin, horizon)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, datetime, int], _Entry] = {}

    def invalidate(self, resource_ids: Iterable[int]) -> None:
        """Drop the cached capacity of these resources (e.g. after a booking conflict, so a
        fresh quote never repeats a slot the database just refused)."""
        ids = set(resource_ids)
        with self._lock:
            for entry in self._entries.values():
                for rid in ids:
                    entry.resources.pop(rid, None)
                    entry.expires.pop(rid, None)

    def clear(self) -> None:
        """Forget everything, candidate lists too (tests, or after bulk changes)."""
        with self._lock:
            self._entries.clear()
        clear_candidates()

    def get(
        self,
        session: Session,
        capacities: dict[int, int],
        origin: datetime,
        horizon: int,
        now: datetime | None = None,
        version: tuple[int, int, int] | None = None,
    ) -> dict[int, ResourceCapacity]:
        """Capacity of each resource in ``capacities`` (id -> parallel units) over
        ``[origin, origin + horizon minutes)``, loading only what is not cached, was touched
        since the cached capacity version, or is older than its lifetime (:func:`_lifetime`)."""
        t = (now or utc_now()).timestamp()
        key = (str(session.get_bind().engine.url), origin, horizon)
        if version is None:
            version = capacity_version(session)
        with self._lock:
            for k in [k for k in self._entries if k[1] != origin]:
                del self._entries[k]  # yesterday's origin is never used again
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(version, {})
            old = entry.version
        if old != version:
            changed = changed_resources(session, old, version)
            with self._lock:
                for rid in changed:
                    entry.resources.pop(rid, None)
                    entry.expires.pop(rid, None)
                if entry.version == old:
                    entry.version = version
        with self._lock:
            have, expires = entry.resources, entry.expires
            # a resource is absent from ``expires`` exactly when it is not cached
            due = [r for r in capacities if expires.get(r, 0.0) <= t]
            expired = {r: have[r] for r in due if r in have}
        if due:
            loaded = _load(session, due, capacities, origin, horizon, expired)
            with self._lock:
                have.update(loaded)
                for rid in loaded:
                    expires[rid] = t + _lifetime(rid)
        with self._lock:
            try:
                return dict(zip(capacities, map(have.__getitem__, capacities), strict=True))
            except KeyError:  # invalidated meanwhile by another thread: load it again
                pass
        return self.get(session, capacities, origin, horizon, now, version)


def _epoch_ms(dialect: str, col: Any) -> Any:
    """SQL for ``col`` as integer milliseconds since the Unix epoch, computed by the database
    (so loading thousands of rows builds no datetime objects)."""
    if dialect == "postgresql":
        return cast(func.round(extract("epoch", col) * 1000), BigInteger)
    return cast(func.round((func.julianday(col) - 2440587.5) * 86_400_000.0), Integer)


def _id_filter(dialect: str, col: Any, ids: Sequence[int]) -> Any:
    """``col`` in ``ids`` with ONE bound parameter however many ids (an array on PostgreSQL,
    a JSON list read by ``json_each`` on SQLite): the SQL text never grows with the list."""
    if dialect == "postgresql":
        return col == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
    values = select(literal_column("value")).select_from(
        func.json_each(bindparam("ids", json.dumps(list(ids))))
    )
    return col.in_(values.scalar_subquery())


def _load(
    session: Session,
    resource_ids: Sequence[int],
    capacities: dict[int, int],
    origin: datetime,
    horizon: int,
    previous: dict[int, ResourceCapacity] | None = None,
) -> dict[int, ResourceCapacity]:
    """Windows and bookings of ``resource_ids`` in the horizon as one-resource indexes: two
    queries per chunk of ids; instants arrive as integer epoch milliseconds. A resource whose
    ``previous`` capacity reads back unchanged keeps that very object (no index rebuilt, and
    memos keyed on it stay valid)."""
    previous = previous or {}
    dialect = session.get_bind().dialect.name
    end = from_minutes(origin, horizon)
    o_ms = round(origin.timestamp() * 1000)
    windows: dict[int, list[tuple[int, int]]] = {r: [] for r in resource_ids}
    bookings: dict[int, list[tuple[int, int]]] = {r: [] for r in resource_ids}
    big = dialect in ("postgresql", "sqlite")
    for chunk in _chunks(resource_ids, 50_000 if big else _CHUNK):
        w_ids = (
            _id_filter(dialect, CalendarWindow.resource_id, chunk)
            if big
            else CalendarWindow.resource_id.in_(chunk)
        )
        for rid, s, e in session.execute(
            select(
                CalendarWindow.resource_id,
                _epoch_ms(dialect, CalendarWindow.start_at),
                _epoch_ms(dialect, CalendarWindow.end_at),
            )
            .where(w_ids, CalendarWindow.end_at > origin, CalendarWindow.start_at < end)
            .order_by(CalendarWindow.resource_id, CalendarWindow.start_at)
        ):
            a = max(0, -((o_ms - s) // 60_000))  # rounded up
            b = min(horizon, (e - o_ms) // 60_000)  # rounded down
            if b > a:
                windows[rid].append((a, b))
        b_ids = (
            _id_filter(dialect, Booking.resource_id, chunk)
            if big
            else Booking.resource_id.in_(chunk)
        )
        for rid, s, e in session.execute(
            select(
                Booking.resource_id,
                _epoch_ms(dialect, Booking.start_at),
                _epoch_ms(dialect, Booking.end_at),
            ).where(
                b_ids,
                Booking.status != "cancelled",
                Booking.end_at > origin,
                Booking.start_at < end,
            )
        ):
            a = max(0, (s - o_ms) // 60_000)  # rounded down
            b = min(horizon, -((o_ms - e) // 60_000))  # rounded up
            if b > a:
                bookings[rid].append((a, b))
    out = {}
    for rid in resource_ids:
        prev = previous.get(rid)
        if (
            prev is not None
            and prev.capacity == capacities[rid]
            and prev.raw_windows == tuple(windows[rid])
            and prev.bookings == tuple(sorted(bookings[rid]))
        ):
            out[rid] = prev
            continue
        res = PlanResource(
            str(rid),
            capacities[rid],
            0,
            tuple(windows[rid]),
            tuple(PlanBooking(s, e) for s, e in bookings[rid]),
        )
        index = FreeIndex([res], horizon)
        free = tuple(
            ([a for a, _ in index.free(u)], [b for _, b in index.free(u)]) for u in index.units(0)
        )
        out[rid] = ResourceCapacity(
            res.windows or (),
            tuple(sorted(bookings[rid])),
            capacities[rid],
            index,
            free,
            raw_windows=tuple(windows[rid]),
        )
    return out


def _chunks(ids: Sequence[int], size: int = _CHUNK) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


CACHE = CapacityCache()
"""The process-wide capacity cache used by quoting."""
