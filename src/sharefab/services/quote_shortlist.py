"""Shortlisting for instant quotes: score every candidate of an operation, keep a few.

Each candidate resource is scored as ``(earliest end on its own, price, -credit, resource id)``
(:func:`score_operation`); the shortlist of an operation is the union of the
:data:`SHORTLIST` best rows by end, by price and by credit, plus the two best resources of each
single provider (:func:`shortlist`). Scoring walks every candidate (thousands on a large
catalogue), so a scored operation is memoised per process and reused while it provably gives
the same answer: same candidate list, same release minute, same durations, the very same
cached :class:`~sharefab.services.capacity.ResourceCapacity` objects (the capacity cache
replaces an object whenever its resource's windows or bookings change) and the same credit
scores. Checking that is three C-level passes over the candidates.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import is_, itemgetter
from typing import Any

from sharefab.services.capacity import Candidate, ResourceCapacity

#: Per operation, how many resources each ranking (end, price, credit) contributes.
SHORTLIST = 6

Row = tuple[int, int, int, int, Candidate]
"""A scored candidate: (end, price, -credit, resource id, candidate)."""

#: Shortlist orders of the scored rows: by end, by price, by credit (ties: end, resource id).
_RANK_KEYS = (itemgetter(0, 0, 3), itemgetter(1, 0, 3), itemgetter(2, 0, 3))


@dataclass(slots=True)
class ScoredOperation:
    """Every feasible candidate of one operation scored, with what shortlisting needs."""

    rows: list[Row]
    #: Earliest end per provider organization.
    first: dict[int, int]
    #: Rows picked by the three rankings.
    top: list[Row]
    cands: list[Candidate] = field(default_factory=list)
    caps: list[ResourceCapacity] = field(default_factory=list)
    credits: list[int] = field(default_factory=list)
    _of_org: dict[int, list[Row]] = field(default_factory=dict)

    def best_of(self, org: int, n: int = 2) -> list[Row]:
        """The ``n`` best rows (end, then price, ...) of provider ``org`` (memoised)."""
        got = self._of_org.get(org)
        if got is None:
            got = self._of_org[org] = heapq.nsmallest(
                n, (r for r in self.rows if r[4].org_id == org)
            )
        return got


_memo_lock = threading.Lock()
_memo: dict[tuple[Any, ...], ScoredOperation] = {}


def clear_memo() -> None:
    """Forget memoised scored operations."""
    with _memo_lock:
        _memo.clear()


def score_operation(
    db: str,
    key: tuple[Any, ...],
    cands: list[Candidate],
    capacity: dict[int, ResourceCapacity],
    credit: dict[int, int],
    release: int,
    setup: int,
    work: float,
    resumable: bool,
) -> ScoredOperation:
    """Score ``cands`` for an operation of ``setup`` + ``work`` / speed minutes released at
    minute ``release`` (see the module doc); ``key`` names the operation for the memo."""
    memo_key = (db, key, release, setup, work, resumable)
    with _memo_lock:
        hit = _memo.get(memo_key)
    if hit is not None and _still_valid(hit, cands, capacity, credit):
        return hit
    rows: list[Row] = []
    durations: dict[float, int] = {}
    caps = list(map(capacity.__getitem__, [c.resource_id for c in cands]))
    for c, cap in zip(cands, caps, strict=True):
        speed = c.speed_factor
        d = durations.get(speed)
        if d is None:
            d = durations[speed] = setup + math.ceil(work / speed)
        e = cap.ends.get((release, d, resumable))
        if e is None:
            e = cap.cached_end(release, d, resumable)
        if e >= 0:
            price = c.setup_cost_minor + math.ceil(c.hourly_rate_minor * d / 60)
            rows.append((e, price, -credit[c.org_id], c.resource_id, c))
    first: dict[int, int] = {}
    for row in rows:
        org = row[4].org_id
        if org not in first or row[0] < first[org]:
            first[org] = row[0]
    top = [row for rank in _RANK_KEYS for row in sorted(rows, key=rank)[:SHORTLIST]]
    scored = ScoredOperation(
        rows,
        first,
        top,
        list(cands),
        caps,
        list(map(credit.__getitem__, [c.org_id for c in cands])),
    )
    with _memo_lock:
        if len(_memo) >= 1024:
            _memo.clear()
        _memo[memo_key] = scored
    return scored


def _still_valid(
    hit: ScoredOperation,
    cands: list[Candidate],
    capacity: dict[int, ResourceCapacity],
    credit: dict[int, int],
) -> bool:
    if hit.cands != cands:
        return False
    caps = map(capacity.get, [c.resource_id for c in cands])
    if not all(map(is_, caps, hit.caps)):
        return False
    return list(map(credit.get, [c.org_id for c in cands])) == hit.credits


def shortlist(
    scored_ops: Sequence[ScoredOperation], credit: dict[int, int], single_plans: int
) -> tuple[list[list[Candidate]], list[int]]:
    """Per operation the shortlisted candidates (by resource id), and the providers able to
    run every operation alone that get single-provider plans: most credit-worthy, then
    fastest (latest of their earliest operation ends), then by id; at most ``single_plans``."""
    common: set[int] | None = None
    for scored in scored_ops:
        common = set(scored.first) if common is None else common & scored.first.keys()
    slowest = {o: max(s.first[o] for s in scored_ops) for o in common or ()}
    singles = sorted(slowest, key=lambda o: (-credit[o], slowest[o], o))[:single_plans]
    out = []
    for scored in scored_ops:
        picked: dict[int, Candidate] = {row[3]: row[4] for row in scored.top}
        for org in singles:  # each single provider's two best resources
            for row in scored.best_of(org):
                picked.setdefault(row[3], row[4])
        out.append(sorted(picked.values(), key=lambda c: c.resource_id))
    return out, singles
