"""Candidate resources and their free capacity, loaded for quoting with few queries and cached.

* :func:`find_candidates` (in :mod:`sharefab.services.candidates`, re-exported here) — one
  SQL join per requested capability selects the public resources
  of provider organizations whose capability is the requested one or a descendant (the
  taxonomy's subsumption), in the RFQ's currency, other than the buyer's own; attribute values
  are then checked with one prepared :meth:`Taxonomy.matcher` per operation.
* :class:`CapacityCache` — per process, the published windows and the non-cancelled bookings
  of each resource in the quoting horizon, as a one-resource
  :class:`~sharefab.scheduling.index.FreeIndex` in minutes from a daily origin (midnight UTC).
  Entries are loaded in bulk for the resources that are missing. Changes are found through the
  append-only log ``capacity_changes`` (:mod:`sharefab.storage.capacity_models`), which
  database triggers write for every insert, relevant update and delete of a booking or window,
  whoever the writer is (the marketplace, the optimiser, raw SQL). Each quote reads
  ``max(id)`` of the log (with the catalogue version, one round trip); when it is above the
  cache's cursor, the log rows above the cursor are read (a primary-key range scan,
  :func:`changed_resources`) and each resource named by a row not applied before is reloaded
  by the next quote that needs it. PostgreSQL allocates ids when a row is written, not when
  its transaction commits, so the cursor trails the newest id seen by :data:`LAG_S` seconds
  and every id above it is remembered once applied: a transaction committing within that time
  after writing is still seen. Each resource is also reloaded after a lifetime between
  ``MAX_AGE_S / 2`` and :data:`MAX_AGE_S` spread by id (the last bound for a writer that stays
  open longer than the lag); accepting re-checks every slot anyway and a refused slot is
  reloaded at once (:meth:`CapacityCache.invalidate`). A reloaded resource whose windows and
  bookings read back unchanged keeps its cached object. Loading runs two queries per batch of
  ids, with the ids as one array (PostgreSQL) or JSON (SQLite) parameter and the instants as
  integer epoch milliseconds computed in SQL. :func:`prune_changes` deletes log rows older than
  :data:`PRUNE_AGE_S` (called by quoting at most once per :data:`PRUNE_EVERY_S` per process).
"""

from __future__ import annotations

import json
import math
import threading
import time
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
    delete,
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
from sharefab.storage.capacity_models import CapacityChange
from sharefab.storage.models import (
    Booking,
    CalendarWindow,
    Resource,
    ResourceCapability,
)
from sharefab.storage.types import utc_now

#: Cached capacity is reloaded at least this often (seconds).
MAX_AGE_S = 60.0
#: The change cursor trails the newest change id seen by this many seconds.
LAG_S = 5.0
#: Change-log rows older than this are deleted by :func:`prune_changes` (seconds).
PRUNE_AGE_S = 600.0
#: Each process prunes the log at most this often (seconds).
PRUNE_EVERY_S = 60.0
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


def capacity_version(session: Session) -> int:
    """The highest id of the capacity change log (see the module doc)."""
    return int(session.scalar(select(func.coalesce(func.max(CapacityChange.id), 0))) or 0)


def versions(session: Session) -> tuple[tuple[int, int], int]:
    """:func:`catalogue_version` and :func:`capacity_version` in one round trip."""
    row = session.execute(_VERSIONS).one()
    return (int(row[0]), int(row[1])), int(row[2])


#: The columns of :func:`versions` (quoting adds the credit evidence version to them).
VERSION_COLUMNS = tuple(
    select(func.coalesce(func.max(col), 0)).scalar_subquery()
    for col in (Resource.id, ResourceCapability.id, CapacityChange.id)
)
_VERSIONS = select(*VERSION_COLUMNS)


def changed_resources(session: Session, since: int) -> list[tuple[int, int]]:
    """``(change id, resource id)`` of every logged capacity change above id ``since``."""
    return [(int(cid), int(rid)) for cid, rid in session.execute(_CHANGES, {"since": since})]


_CHANGES = select(CapacityChange.id, CapacityChange.resource_id).where(
    CapacityChange.id > bindparam("since")
)


_last_prune = 0.0


def prune_changes(session: Session, now: datetime | None = None, *, force: bool = False) -> int:
    """Delete change-log rows older than :data:`PRUNE_AGE_S` (never the newest row, so ids keep
    growing on every backend); at most once per :data:`PRUNE_EVERY_S` per process unless
    ``force``. On PostgreSQL only one transaction prunes at a time (a transaction-scoped
    advisory lock; the others skip). Returns the number of rows deleted."""
    global _last_prune
    clock = time.monotonic()
    if not force and clock - _last_prune < PRUNE_EVERY_S:
        return 0
    _last_prune = clock
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        select(func.pg_try_advisory_xact_lock(0x5F0C_A9AC))
    ):
        return 0
    cutoff = (now or utc_now()) - timedelta(seconds=PRUNE_AGE_S)
    newest = select(func.max(CapacityChange.id)).scalar_subquery()
    result = session.execute(
        delete(CapacityChange).where(CapacityChange.changed_at < cutoff, CapacityChange.id < newest)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass
class _Entry:
    #: Every logged change with an id above this one is looked at by the next quote.
    cursor: int
    resources: dict[int, ResourceCapacity]
    #: POSIX time after which each resource is reloaded (0: at the next lookup).
    expires: dict[int, float] = field(default_factory=dict)
    #: Change ids above the cursor already applied.
    applied: set[int] = field(default_factory=set)
    #: ``(monotonic time, newest change id seen)`` not yet older than :data:`LAG_S`.
    seen: list[tuple[float, int]] = field(default_factory=list)
    #: Bumped whenever a resource is marked changed, so a load that began before the change
    #: does not mark its (possibly stale) result as fresh.
    generation: dict[int, int] = field(default_factory=dict)

    def expire(self, resource_id: int) -> None:
        """Reload ``resource_id`` at the next lookup (its object is kept for comparison)."""
        if resource_id in self.expires:
            self.expires[resource_id] = 0.0
        self.generation[resource_id] = self.generation.get(resource_id, 0) + 1

    def advance(self, clock: float, newest: int) -> None:
        """Note ``newest`` as seen at ``clock`` and move the cursor to the newest id seen at
        least :data:`LAG_S` seconds ago."""
        if not self.seen or newest > self.seen[-1][1]:
            self.seen.append((clock, newest))
        old = [v for c, v in self.seen if c <= clock - LAG_S]
        if old:
            self.cursor = max(self.cursor, old[-1])
            self.seen = [(c, v) for c, v in self.seen if c > clock - LAG_S]
            self.applied = {i for i in self.applied if i > self.cursor}


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
                    entry.expire(rid)

    def invalidate_unless_busy(self, resource_id: int, start: datetime, end: datetime) -> None:
        """After a refused booking of ``[start, end)``: reload the resource at the next lookup
        unless its cached capacity already shows every unit busy then (the change log has
        shown the competing booking already; the losers of one race then all keep the same
        cached object, and so the same memoised shortlist and plans)."""
        with self._lock:
            for (_db, origin, _horizon), entry in self._entries.items():
                cap = entry.resources.get(resource_id)
                if cap is None:
                    continue
                a = to_minutes(origin, start)
                b = to_minutes(origin, end, up=True)
                overlapping = sum(1 for s, e in cap.bookings if s < b and e > a)
                if overlapping < cap.capacity:
                    entry.expire(resource_id)

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
        version: int | None = None,
    ) -> dict[int, ResourceCapacity]:
        """Capacity of each resource in ``capacities`` (id -> parallel units) over
        ``[origin, origin + horizon minutes)``, loading only what is not cached, was logged as
        changed (see the module doc), or is older than its lifetime (:func:`_lifetime`).
        ``version`` is :func:`capacity_version` if the caller read it."""
        t = (now or utc_now()).timestamp()
        clock = time.monotonic()
        key = (str(session.get_bind().engine.url), origin, horizon)
        if version is None:
            version = capacity_version(session)
        with self._lock:
            for k in [k for k in self._entries if k[1] != origin]:
                del self._entries[k]  # yesterday's origin is never used again
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(version, {})
            cursor = entry.cursor
        if version > cursor:
            changes = changed_resources(session, cursor)
            with self._lock:
                for cid, rid in changes:
                    if cid > entry.cursor and cid not in entry.applied:
                        entry.applied.add(cid)
                        entry.expire(rid)
                entry.advance(clock, max(version, *(cid for cid, _ in changes)))
        with self._lock:
            have, expires, generation = entry.resources, entry.expires, entry.generation
            # a resource is absent from ``expires`` exactly when it is not cached
            due = [r for r in capacities if expires.get(r, 0.0) <= t]
            expired = {r: have[r] for r in due if r in have}
            started = {r: generation.get(r, 0) for r in due}
        if due:
            loaded = _load(session, due, capacities, origin, horizon, expired)
            with self._lock:
                have.update(loaded)
                for rid in loaded:
                    # changed again while loading: keep the object, reload at the next lookup
                    fresh = generation.get(rid, 0) == started[rid]
                    expires[rid] = t + _lifetime(rid) if fresh else 0.0
        with self._lock:
            return dict(zip(capacities, map(have.__getitem__, capacities), strict=True))


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
