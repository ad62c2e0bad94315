"""Instant quotes: ranked, concrete plans for an RFQ against live windows and bookings.

Steps (:func:`compute_quote`, one transaction, nothing booked):

1. **Candidates** per operation (:func:`sharefab.services.capacity.find_candidates`), minus
   providers below the RFQ's minimum credit (scores from :mod:`sharefab.services.credit`).
2. **Capacity** of every candidate from the per-process cache (windows minus bookings).
3. **Shortlist** per operation (:mod:`sharefab.services.quote_shortlist`, memoised while
   capacity and credit are unchanged): the ``SHORTLIST`` resources finishing the operation
   earliest on their own, the cheapest, and the most credit-worthy (so the plan search stays
   small whatever the catalogue size).
4. **Plans**: :func:`sharefab.scheduling.quote.insert_job` on one index of the shortlisted
   resources, under several criteria: ``fastest``, ``cheapest``, ``reliable`` (earliest end
   plus a penalty of :data:`RELIABILITY_MINUTES_PER_POINT` minutes per credit point below
   1000), and single-provider plans (``single:<org>``) for the best providers able to do every
   operation. Without ``allow_split`` only single-provider plans are made; without
   ``allow_lots`` an operation is never split into lots.
5. **Transport** between sites from the haversine distance (:mod:`sharefab.services.transport`:
   50 km/h plus 60 minutes of handling per leg; 200 CNY plus 5 CNY per km). Legs run between
   consecutive operations on different sites and from the last operations to the delivery
   point when the RFQ has one.
6. **Ranking** with :func:`sharefab.domain.quotes.rank_quote_options` (budget ceiling, minimum
   credit, labels ``cheapest`` / ``fastest`` / ``most_reliable`` / ``best_overall`` and "why it
   ranks here"). Options are valid for :data:`VALIDITY` (15 minutes) and never block capacity.

Work starts no earlier than :data:`LEAD_TIME` after the quote; the plan horizon reaches two
weeks past the due date (weekly buckets, 21 to 120 days).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import is_
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from sharefab.domain.money import Money
from sharefab.domain.quotes import QuoteCandidate, QuoteValidity, rank_quote_options
from sharefab.scheduling.index import FreeIndex
from sharefab.scheduling.model import Mode, Operation
from sharefab.scheduling.quote import JobSpec, insert_job
from sharefab.services.capacity import (
    CACHE,
    VERSION_COLUMNS,
    Candidate,
    day_origin,
    find_candidates,
    from_minutes,
    prune_changes,
    to_minutes,
)
from sharefab.services.common import transaction
from sharefab.services.credit import EVIDENCE_VERSION_COLUMNS, credit_scores
from sharefab.services.errors import NotFound
from sharefab.services.quote_shortlist import ScoredOperation, score_operation, shortlist
from sharefab.services.rfqs import load_rfq, own_rfq
from sharefab.services.transport import transport_leg
from sharefab.storage.market_models import Quote, QuoteOption, Rfq, RfqOperation
from sharefab.storage.models import User
from sharefab.storage.types import utc_now

LEAD_TIME = timedelta(hours=2)
#: Catalogue, capacity and credit-evidence versions, read with one statement per quote.
_VERSIONS = select(*VERSION_COLUMNS, *EVIDENCE_VERSION_COLUMNS)
VALIDITY = QuoteValidity(ttl=timedelta(minutes=15), start_margin=timedelta(hours=1))
RELIABILITY_MINUTES_PER_POINT = 6.0
MAX_LOTS = 3
SINGLE_PROVIDER_PLANS = 2


def duration_minutes(op: RfqOperation, c: Candidate) -> int:
    """Setup plus quantity x unit time divided by the resource's speed factor, in minutes."""
    return op.setup_minutes + math.ceil(op.quantity * op.unit_minutes / c.speed_factor)


def price_minor(minutes: int, c: Candidate) -> int:
    """Setup cost plus the hourly rate over the whole duration."""
    return c.setup_cost_minor + math.ceil(c.hourly_rate_minor * minutes / 60)


def horizon_minutes(origin: datetime, due_at: datetime) -> int:
    """The plan horizon: two weeks past the due date, whole weeks, 21..120 days."""
    weeks = math.ceil(max(0.0, (due_at - origin).total_seconds()) / (7 * 86_400))
    return min(120, max(21, 7 * weeks + 14)) * 1440


@dataclass
class _Context:
    rfq: Rfq
    ops: list[RfqOperation]
    origin: datetime
    release: int
    due: int
    cands: list[list[Candidate]]
    credit: dict[int, int]
    diagnosis: list[str]
    single_orgs: list[int] = field(default_factory=list)


def _shortlist(
    ctx: _Context, capacity: dict[int, Any], db: str
) -> tuple[list[list[Candidate]], list[ScoredOperation]]:
    """Per operation the few resources worth planning with (see the module doc, step 3, and
    :mod:`sharefab.services.quote_shortlist`); also picks ``ctx.single_orgs``, the providers
    offered as single-provider plans. ``db`` names the database (for the memo)."""
    scored_ops = []
    for op, cands in zip(ctx.ops, ctx.cands, strict=True):
        key = (op.capability, repr(sorted(op.attributes.items())), ctx.rfq.currency)
        scored = score_operation(
            db,
            key,
            cands,
            capacity,
            ctx.credit,
            ctx.release,
            op.setup_minutes,
            op.quantity * op.unit_minutes,
            op.resumable,
        )
        if not scored.rows:
            ctx.diagnosis.append(
                f"operation {op.position} {op.name!r}: no candidate has a free window long "
                "enough before the horizon"
            )
        scored_ops.append(scored)
    out, ctx.single_orgs = shortlist(scored_ops, ctx.credit, SINGLE_PROVIDER_PLANS)
    return out, scored_ops


def _plans(
    ctx: _Context, short: list[list[Candidate]], capacity: dict[int, Any]
) -> dict[str, tuple[Any, list[Candidate]]]:
    pool = sorted(
        {c.resource_id: c for cands in short for c in cands}.values(), key=lambda c: c.resource_id
    )
    pos = {c.resource_id: i for i, c in enumerate(pool)}
    site_ix: dict[int, int] = {}
    for c in pool:
        site_ix.setdefault(c.site_id, len(site_ix))
    site_cand = {site_ix[c.site_id]: c for c in pool}
    n = len(site_ix)
    tt = [[0] * n for _ in range(n)]
    tc = [[0] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            if i != j:
                leg = transport_leg(site_cand[i], site_cand[j])
                tt[i][j], tc[i][j] = leg.minutes, leg.cost_minor
    horizon = capacity[pool[0].resource_id].index.horizon
    index = FreeIndex(
        [
            capacity[c.resource_id].plan_resource(str(c.resource_id), site_ix[c.site_id])
            for c in pool
        ],
        horizon,
        tt,
        tc,
    )
    precedences = tuple((a, op.position) for op in ctx.ops for a in op.after)

    def spec(allowed: set[int] | None) -> JobSpec:
        operations = []
        for op, cands in zip(ctx.ops, short, strict=True):
            modes = []
            for c in cands:
                if allowed is not None and c.org_id not in allowed:
                    continue
                d = duration_minutes(op, c)
                modes.append(
                    Mode(
                        pos[c.resource_id],
                        d,
                        price_minor(d, c),
                        min(op.setup_minutes, d),
                        c.setup_cost_minor,
                    )
                )
            lots = MAX_LOTS if ctx.rfq.allow_lots else 1
            operations.append(
                Operation(
                    0,
                    tuple(modes),
                    op.name,
                    op.quantity,
                    op.resumable,
                    lots,
                    max(1, op.quantity // 10),
                )
            )
        return JobSpec(tuple(operations), precedences, ctx.release, ctx.due, 1, str(ctx.rfq.id))

    penalty = [(1000 - ctx.credit[c.org_id]) * RELIABILITY_MINUTES_PER_POINT for c in pool]
    runs: list[tuple[str, set[int] | None, dict[str, Any]]] = []
    if ctx.rfq.allow_split:
        runs += [
            ("fastest", None, {"criterion": "fastest"}),
            ("cheapest", None, {"criterion": "cheapest"}),
            ("reliable", None, {"criterion": "weighted", "penalty": penalty}),
        ]
    singles = ctx.single_orgs
    for org in singles[:SINGLE_PROVIDER_PLANS]:
        runs.append((f"single:{org}", {org}, {"criterion": "fastest"}))
        if not ctx.rfq.allow_split:
            runs.append((f"single-cheapest:{org}", {org}, {"criterion": "cheapest"}))
    if not ctx.rfq.allow_split and not singles:
        ctx.diagnosis.append("no single provider can run every operation (allow_split is off)")
    out: dict[str, tuple[Any, list[Candidate]]] = {}
    for key, allowed, kwargs in runs:
        job = spec(allowed)
        if any(not op.modes for op in job.operations):
            continue
        result = insert_job(index, job, allow_split=ctx.rfq.allow_lots, **kwargs)
        if result.feasible:
            out[key] = (result, pool)
        else:
            ctx.diagnosis += [d.message for d in result.diagnosis]
    return out


def _option_plan(ctx: _Context, result: Any, pool: list[Candidate]) -> dict[str, Any]:
    delivery = None
    if ctx.rfq.delivery_lat is not None and ctx.rfq.delivery_lon is not None:
        delivery = (ctx.rfq.delivery_lat, ctx.rfq.delivery_lon)
    lots = []
    processing = 0
    for lot in result.lots:
        op = ctx.ops[lot.operation]
        c = pool[lot.resource]
        d = duration_minutes(op, c)
        lot_price = (
            price_minor(d, c)
            if lot.quantity == op.quantity
            else c.setup_cost_minor
            + math.ceil((price_minor(d, c) - c.setup_cost_minor) * lot.quantity / op.quantity)
        )
        processing += lot_price
        lots.append(
            {
                "operation": op.position,
                "operation_name": op.name,
                "capability": op.capability,
                "resource_id": c.resource_id,
                "org_id": c.org_id,
                "site_id": c.site_id,
                "start_at": from_minutes(ctx.origin, lot.start).isoformat(),
                "end_at": from_minutes(ctx.origin, lot.end).isoformat(),
                "quantity": lot.quantity,
                "price_minor": lot_price,
                "_end": lot.end,
                "_c": c,
            }
        )
    legs = []
    by_op: dict[int, list[dict[str, Any]]] = {}
    for lot in lots:
        by_op.setdefault(lot["operation"], []).append(lot)
    for op in ctx.ops:
        for a in op.after:
            for la in by_op.get(a, []):
                for lb in by_op.get(op.position, []):
                    leg = transport_leg(la["_c"], lb["_c"])
                    if leg.cost_minor or leg.minutes:
                        legs.append(_leg_json(la, lb["site_id"], leg))
    sinks = {op.position for op in ctx.ops} - {a for op in ctx.ops for a in op.after}
    delivery_min = 0
    for lot in lots:
        end = lot["_end"]
        if delivery is not None and lot["operation"] in sinks:
            leg = transport_leg(lot["_c"], None, delivery)
            if leg.cost_minor or leg.minutes:
                legs.append(_leg_json(lot, "delivery", leg))
            end += leg.minutes
        if lot["operation"] in sinks:
            delivery_min = max(delivery_min, end)
    for lot in lots:
        del lot["_end"], lot["_c"]
    transport = sum(leg["cost_minor"] for leg in legs)
    return {
        "lots": lots,
        "transport": legs,
        "processing_minor": processing,
        "transport_minor": transport,
        "total_minor": processing + transport,
        "delivery_at": from_minutes(ctx.origin, delivery_min),
        "earliest_start": from_minutes(ctx.origin, min(lot.start for lot in result.lots)),
    }


def _leg_json(lot: dict[str, Any], to: int | str, leg: Any) -> dict[str, Any]:
    return {
        "from_site_id": lot["site_id"],
        "to_site_id": to,
        "after_operation": lot["operation"],
        "km": leg.km,
        "minutes": leg.minutes,
        "cost_minor": leg.cost_minor,
    }


def compute_quote(
    session: Session, actor: User, rfq_id: int, *, now: datetime | None = None
) -> Quote:
    """Compute, rank and store quote options for the caller's RFQ (see the module doc)."""
    now = now or utc_now()
    with transaction(session):
        rfq = own_rfq(session, actor, rfq_id)
        return _compute(session, rfq, now)


def _compute(session: Session, rfq: Rfq, now: datetime) -> Quote:
    ctx, options = _plan_options(session, rfq, now)
    quote = _store(session, ctx, now, options)
    prune_changes(session, now)  # at most once a minute per process
    return quote


def _plan_options(
    session: Session, rfq: Rfq, now: datetime
) -> tuple[_Context, list[tuple[str, dict[str, Any], Any]]]:
    """Steps 1-5 of the module doc: the context and the distinct option plans."""
    origin = day_origin(now)
    ops = list(rfq.operations)
    ctx = _Context(
        rfq,
        ops,
        origin,
        to_minutes(origin, now + LEAD_TIME, up=True),
        to_minutes(origin, rfq.due_at),
        [],
        {},
        [],
    )
    row = session.execute(_VERSIONS).one()  # catalogue, capacity, credit: one round trip
    catalogue, capacity_version = (int(row[0]), int(row[1])), int(row[2])
    evidence = (int(row[3]), int(row[4]), int(row[5]))
    for op in ops:
        ctx.cands.append(
            find_candidates(
                session,
                op.capability,
                op.attributes,
                currency=rfq.currency,
                exclude_org=rfq.buyer_org_id,
                version=catalogue,
            )
        )
    orgs = {c.org_id: c.org_roles for cands in ctx.cands for c in cands}
    ctx.credit = credit_scores(session, orgs, evidence)
    if rfq.min_provider_credit is not None:
        ctx.cands = [
            [c for c in cands if ctx.credit[c.org_id] >= rfq.min_provider_credit]
            for cands in ctx.cands
        ]
    for op, cands in zip(ops, ctx.cands, strict=True):
        if not cands:
            extra = (
                f" with credit >= {rfq.min_provider_credit}"
                if rfq.min_provider_credit is not None
                else ""
            )
            ctx.diagnosis.append(
                f"operation {op.position} {op.name!r}: no public resource{extra} offers "
                f"{op.capability} with the requested attributes in {rfq.currency}"
            )
    options: list[tuple[str, dict[str, Any], Any]] = []
    if all(ctx.cands):
        horizon = horizon_minutes(origin, rfq.due_at)
        caps = {c.resource_id: c.capacity for cands in ctx.cands for c in cands}
        capacity = CACHE.get(session, caps, origin, horizon, now, capacity_version)
        db = str(session.get_bind().engine.url)
        short, scored = _shortlist(ctx, capacity, db)
        if all(short):
            memo_key = (db, _shape(rfq, ops), ctx.release, ctx.due, origin, horizon)
            hit = _plan_memo_get(memo_key, scored)
            if hit is not None:
                options, diagnosis = hit
                ctx.diagnosis = list(diagnosis)
            else:
                options = _options(ctx, short, capacity)
                _plan_memo_put(memo_key, scored, options, ctx.diagnosis)
    return ctx, options


def _options(
    ctx: _Context, short: list[list[Candidate]], capacity: dict[int, Any]
) -> list[tuple[str, dict[str, Any], Any]]:
    """The distinct plans of every strategy, as option plans (see the module doc, step 4-5)."""
    options = []
    seen: set[tuple[Any, ...]] = set()
    for key, (result, pool) in _plans(ctx, short, capacity).items():
        sig = tuple((lot.operation, lot.resource, lot.start, lot.quantity) for lot in result.lots)
        if sig in seen:
            continue
        seen.add(sig)
        options.append((key, _option_plan(ctx, result, pool), result))
    return options


def _shape(rfq: Rfq, ops: list[RfqOperation]) -> tuple[Any, ...]:
    """Everything of an RFQ the plans depend on besides its candidates and their capacity
    (which the plan memo checks through the scored operations)."""
    return (
        tuple(
            (
                op.position,
                op.name,
                op.capability,
                repr(sorted(op.attributes.items())),
                op.quantity,
                op.unit_minutes,
                op.setup_minutes,
                op.resumable,
                tuple(op.after),
            )
            for op in ops
        ),
        rfq.currency,
        rfq.allow_split,
        rfq.allow_lots,
        rfq.min_provider_credit,
        rfq.delivery_lat,
        rfq.delivery_lon,
    )


#: Plans of recently quoted routings: key -> (scored operations, options, diagnosis).
_plan_memo: dict[tuple[Any, ...], tuple[list[ScoredOperation], list[Any], list[str]]] = {}
_plan_memo_lock = threading.Lock()


def _plan_memo_get(
    key: tuple[Any, ...], scored: list[ScoredOperation]
) -> tuple[list[Any], list[str]] | None:
    """The options computed for the same routing, release minute and horizon from the very
    same scored operations. A scored operation is reused by the shortlist only while its
    candidates, their cached capacity objects and their credit scores are unchanged, so the
    same objects mean the same shortlist, the same free capacity and the same plans: many RFQs
    of one routing (the losers of an accept race asking for fresh quotes) plan once."""
    with _plan_memo_lock:
        hit = _plan_memo.get(key)
    if hit is None or len(hit[0]) != len(scored) or not all(map(is_, hit[0], scored)):
        return None
    return hit[1], hit[2]


def _plan_memo_put(
    key: tuple[Any, ...], scored: list[ScoredOperation], options: list[Any], diagnosis: list[str]
) -> None:
    with _plan_memo_lock:
        if len(_plan_memo) >= 256:
            _plan_memo.clear()
        _plan_memo[key] = (list(scored), options, list(diagnosis))


def clear_plan_memo() -> None:
    """Forget memoised plans (tests)."""
    with _plan_memo_lock:
        _plan_memo.clear()


def _store(
    session: Session,
    ctx: _Context,
    now: datetime,
    options: Sequence[tuple[str, dict[str, Any], Any]],
) -> Quote:
    """Rank and store the options as a :class:`Quote` (ORM objects, for the API answer)."""
    quote_row, option_rows = _ranked_rows(ctx, now, options)
    quote = Quote(**quote_row)
    quote.options.extend(QuoteOption(**row) for row in option_rows)
    session.add(quote)
    session.flush()
    return quote


def _store_rows(
    session: Session,
    ctx: _Context,
    now: datetime,
    options: Sequence[tuple[str, dict[str, Any], Any]],
) -> tuple[int, int]:
    """Rank and store the options with two INSERT statements (no ORM objects);
    ``(quote id, number of options)``."""
    quote_row, option_rows = _ranked_rows(ctx, now, options)
    quote_id = int(session.execute(_INSERT_QUOTE, quote_row).scalar_one())
    if option_rows:
        session.execute(_INSERT_OPTION, [{**row, "quote_id": quote_id} for row in option_rows])
    return quote_id, len(option_rows)


#: Core INSERTs of the tables (no ORM bulk-persistence pass), built once.
_INSERT_QUOTE = insert(Quote.__table__).returning(Quote.__table__.c.id)
_INSERT_OPTION = insert(QuoteOption.__table__)


def _ranked_rows(
    ctx: _Context,
    now: datetime,
    options: Sequence[tuple[str, dict[str, Any], Any]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Column values of the quote and of its ranked options (step 6 of the module doc)."""
    rfq = ctx.rfq
    candidates = []
    plans = {}
    for key, plan, _result in options:
        orgs = sorted({lot["org_id"] for lot in plan["lots"]})
        plans[key] = plan
        candidates.append(
            QuoteCandidate(
                key,
                Money(plan["total_minor"], rfq.currency),
                plan["delivery_at"],
                rfq.due_at,
                {o: ctx.credit[o] for o in orgs},
                VALIDITY.valid_until(now, plan["earliest_start"]),
            )
        )
    budget = Money(rfq.budget_minor, rfq.currency) if rfq.budget_minor is not None else None
    ranking = rank_quote_options(
        candidates, now=now, min_provider_credit=rfq.min_provider_credit, budget_ceiling=budget
    )
    excluded = [
        {
            "option": e.candidate.option_id,
            "total_minor": e.candidate.total_price.amount_minor,
            "reasons": list(e.reasons),
        }
        for e in ranking.excluded
    ]
    valid = [c.valid_until for c in candidates] or [now + VALIDITY.ttl]
    quote = {
        "rfq_id": rfq.id,
        "buyer_org_id": rfq.buyer_org_id,
        "computed_at": now,
        "valid_until": min(valid),
        "excluded": excluded,
        "diagnosis": list(dict.fromkeys(ctx.diagnosis)),
    }
    rows = []
    for ranked in ranking.ranked:
        c = ranked.candidate
        plan = plans[c.option_id]
        rows.append(
            {
                "label": ranked.labels[0] if ranked.labels else "alternative",
                "labels": list(ranked.labels),
                "rank": ranked.rank,
                "total_minor": plan["total_minor"],
                "processing_minor": plan["processing_minor"],
                "transport_minor": plan["transport_minor"],
                "currency": rfq.currency,
                "delivery_at": plan["delivery_at"],
                "explanation": {
                    "why": ranked.why,
                    "score": round(ranked.score, 4),
                    "terms": {k: round(v, 4) for k, v in ranked.terms.items()},
                    "strategy": c.option_id,
                    "provider_credit": {str(k): v for k, v in c.provider_credit.items()},
                    "late": c.lateness > timedelta(0),
                },
                "plan": {"lots": plan["lots"], "transport": plan["transport"]},
                "provider_org_ids": sorted(c.provider_credit),
            }
        )
    return quote, rows


def get_quote(session: Session, actor: User, quote_id: int) -> Quote:
    """A quote of the caller's organization (404 for anyone else's)."""
    quote = session.get(Quote, quote_id)
    if quote is None or quote.buyer_org_id != actor.org_id:
        raise NotFound("quote", quote_id)
    return quote


def fresh_quote(session: Session, rfq_id: int, now: datetime | None = None) -> tuple[int, int]:
    """A new quote for RFQ ``rfq_id`` in its own transaction (after a failed accept), stored
    without ORM objects; ``(quote id, number of options)``. Losers of one accept race ask for
    the same routing against the same capacity, so after the first one the plans come from
    the plan memo and only the two INSERTs remain."""
    now = now or utc_now()
    with transaction(session):
        rfq = load_rfq(session, rfq_id)
        assert rfq is not None
        ctx, options = _plan_options(session, rfq, now)
        stored = _store_rows(session, ctx, now, options)
        prune_changes(session, now)
        return stored
