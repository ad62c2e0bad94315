"""Placing one operation into a :class:`FreeIndex`: the step shared by ``construct`` and quotes.

For every mode the operation is tried at the earliest time its release and its predecessors'
lots (plus transport from their sites) allow; the mode with the best score wins, where the
score is ``(time_weight * end + cost_weight * cost + penalty, tie-break)``. A splittable
operation also tries 2..``max_lots`` lots on its best resources, with quantities chosen so that
the lots finish together, and keeps the split when it scores better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import floor

from sharefab.scheduling.index import FreeIndex
from sharefab.scheduling.model import Operation

#: A placed lot: (resource, unit, start, end, quantity).
PlacedLot = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class Weights:
    """How a placement is scored: lower is better.

    ``primary = time * end + cost * (processing + transport cost) + penalty[resource]``;
    ties are broken by end when ``time_first`` else by cost.
    """

    time: float = 1.0
    cost: float = 0.0
    time_first: bool = True
    penalty: Sequence[float] | None = None


FASTEST = Weights(1.0, 0.0, True)
CHEAPEST = Weights(0.0, 1.0, False)


def place(
    index: FreeIndex,
    op: Operation,
    release: int,
    pred_lots: Sequence[tuple[int, int]],
    weights: Weights,
    allow_split: bool = True,
) -> tuple[list[PlacedLot], int] | None:
    """Choose and reserve lots for ``op``; returns them with their cost (None: no room).

    ``pred_lots`` lists ``(site, end)`` of every lot of every predecessor.
    """
    site = index.site
    tt = index.transport_time
    tc = index.transport_cost
    resumable = op.resumable
    wt, wc, pen = weights.time, weights.cost, weights.penalty
    time_first = weights.time_first
    splittable = allow_split and op.splittable
    best: tuple[float, float] | None = None
    best_lots: list[PlacedLot] = []
    best_cost = 0
    cands: list[tuple[int, int, int, int, int, int]] = []  # (end, start, unit, mode_idx, t0, tc)
    # ready time and transport cost per mode, and a lower bound on its score (end >= t0 + d)
    order: list[tuple[float, int, int, int]] = []
    for k, mode in enumerate(op.modes):
        ms = site[mode.resource]
        t0 = release
        trans = 0
        for ps, pe in pred_lots:
            if ps != ms:
                lag = pe + tt[ps][ms]
                trans += tc[ps][ms]
            else:
                lag = pe
            if lag > t0:
                t0 = lag
        bound = wt * (t0 + mode.duration) + wc * (mode.cost + trans)
        if pen is not None:
            bound += pen[mode.resource]
        order.append((bound, k, t0, trans))
    if not splittable:
        order.sort()
    for bound, k, t0, trans in order:
        if best is not None and not splittable and bound > best[0]:
            break  # sorted by bound: no remaining mode can score better
        mode = op.modes[k]
        r = mode.resource
        s, e, u = index.earliest(r, t0, mode.duration, resumable)
        if s < 0:
            continue
        cost = mode.cost + trans
        primary = wt * e + wc * cost
        if pen is not None:
            primary += pen[r]
        score = (primary, e if time_first else cost)
        if splittable:
            cands.append((e, s, u, k, t0, trans))
        if best is None or score < best:
            best = score
            best_lots = [(r, u, s, e, op.quantity)]
            best_cost = cost
    if best is None:
        return None
    if splittable and len(cands) >= 2:
        split = _best_split(index, op, cands, weights, len(pred_lots))
        if split is not None and split[0] < best:
            _, best_lots, best_cost = split
    for _r, u, s, e, _q in best_lots:
        index.reserve(u, s, e)
    return best_lots, best_cost


def _best_split(
    index: FreeIndex,
    op: Operation,
    cands: list[tuple[int, int, int, int, int, int]],
    weights: Weights,
    n_pred_lots: int,
) -> tuple[tuple[float, float], list[PlacedLot], int] | None:
    """Try splitting into 2..max_lots lots on the resources that finish a full lot first."""
    cands = sorted(cands)
    q_total = op.quantity
    best: tuple[tuple[float, float], list[PlacedLot], int] | None = None
    max_l = min(op.max_lots, len(cands), q_total // op.min_lot)
    for n_lots in range(2, max_l + 1):
        chosen = cands[:n_lots]
        quantities = _balance(op, chosen)
        if quantities is None:
            continue
        lots: list[PlacedLot] = []
        cost = 0
        end = 0
        for (_e, _s, _u, k, t0, trans), q in zip(chosen, quantities, strict=True):
            mode = op.modes[k]
            d = mode.lot_duration(q, q_total)
            s, e, u = index.earliest(mode.resource, t0, d, op.resumable)
            if s < 0:
                break
            lots.append((mode.resource, u, s, e, q))
            cost += mode.lot_cost(q, q_total) + trans
            end = max(end, e)
        else:
            primary = weights.time * end + weights.cost * cost
            if weights.penalty is not None:
                primary += sum(weights.penalty[lot[0]] for lot in lots)
            score = (primary, end if weights.time_first else cost)
            if best is None or score < best[0]:
                best = (score, lots, cost)
    return best


def _balance(op: Operation, chosen: list[tuple[int, int, int, int, int, int]]) -> list[int] | None:
    """Lot quantities that make the chosen lots finish together (each >= min_lot)."""
    q_total = op.quantity
    rates: list[float] = []
    offsets: list[float] = []
    for _e, s, _u, k, _t0, _tc in chosen:
        mode = op.modes[k]
        per_unit = (mode.duration - mode.setup) / q_total
        if per_unit <= 0:
            return None
        rates.append(1.0 / per_unit)
        offsets.append(s + mode.setup)
    finish = (q_total + sum(o * r for o, r in zip(offsets, rates, strict=True))) / sum(rates)
    raw = [max(0.0, (finish - o) * r) for o, r in zip(offsets, rates, strict=True)]
    quantities = [max(op.min_lot, floor(x)) for x in raw]
    excess = sum(quantities) - q_total
    order = sorted(range(len(quantities)), key=lambda i: -quantities[i])
    i = 0
    while excess != 0 and i < 4 * len(order) + 4:
        j = order[i % len(order)]
        if excess > 0:
            take = min(excess, quantities[j] - op.min_lot)
            quantities[j] -= take
            excess -= take
        else:
            quantities[j] -= excess
            excess = 0
        i += 1
    if excess != 0 or any(q < op.min_lot for q in quantities):
        return None
    return quantities
