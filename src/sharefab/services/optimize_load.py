"""Loading a cluster's current plan as a scheduling problem for re-optimisation.

What is **movable**: a work order on a resource of the cluster whose progress is ``pending``,
whose booking is ``held`` or ``confirmed`` and starts at least :data:`FROZEN` from now, of an
order in ``accepted``, ``scheduled`` or ``in_production``, and whose operation is not
resumable. A movable work order may move in time and to another resource **of the same
provider** in the cluster whose capabilities serve the operation (the agreed price and the
provider stay as accepted; the duration follows the new resource's speed factor).

Everything else is **fixed**: every other non-cancelled booking on the cluster's resources is
a fixed booking, and the other work orders of the affected orders (started, done, outside the
cluster) are *pinned* operations: each on its own dummy resource whose only window is exactly
its current interval, so precedences and transport times to and from them still hold.

Time is in minutes from ``origin`` (now, or the start of the earliest pinned operation, to the
minute). Each order is one job: released at now + :data:`FROZEN`, due at the RFQ's due date
(soft: lateness), with a hard **deadline** — the promised date minus the transport leg to the
delivery point, or the current completion if that is later — which the optimiser's result is
checked against (no operation ever ends later than its order's deadline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharefab.domain.geo import haversine_km
from sharefab.scheduling.model import Booking as PlanBooking
from sharefab.scheduling.model import (
    Job,
    Lot,
    Mode,
    Objective,
    Operation,
    ProblemData,
    Solution,
)
from sharefab.scheduling.model import Resource as PlanResource
from sharefab.services.errors import NotFound
from sharefab.services.resources import taxonomy
from sharefab.services.transport import TRANSPORT_HANDLING_MIN, TRANSPORT_SPEED_KMH
from sharefab.storage.market_models import Order, QuoteOption, Rfq, RfqOperation, WorkOrder
from sharefab.storage.models import Booking, CalendarWindow, Cluster, Resource, ResourceCapability
from sharefab.storage.models import Site as SiteRow

#: Work starting sooner than this is never moved.
FROZEN = timedelta(minutes=30)
MOVABLE_ORDER_STATES = ("accepted", "scheduled", "in_production")
MOVABLE_BOOKING_STATUSES = ("held", "confirmed")
#: Pinned operations that ended longer ago than this cannot constrain anything any more.
PINNED_LOOKBACK = timedelta(days=2)


def minutes_between(a: datetime, b: datetime) -> float:
    """``b - a`` in minutes."""
    return (b - a).total_seconds() / 60.0


def travel_minutes(
    a: tuple[float | None, float | None], b: tuple[float | None, float | None]
) -> int:
    """Transport time between two sites, as quoting computes it (0 without coordinates)."""
    if None in a or None in b:
        return 0
    km = haversine_km(a[0], a[1], b[0], b[1])  # type: ignore[arg-type]
    return TRANSPORT_HANDLING_MIN + math.ceil(60 * km / TRANSPORT_SPEED_KMH)


@dataclass
class PlanOp:
    """One operation of the problem: a movable or pinned work order (one lot)."""

    index: int
    job: int
    work_order_id: int
    booking_id: int
    order_id: int
    order_ref: str
    resource_id: int
    start_at: datetime
    end_at: datetime
    booking_status: str
    movable: bool
    #: Real resource id of each mode (movable) or the pinned one.
    mode_resources: list[int] = field(default_factory=list)


@dataclass
class JobInfo:
    """One order as a job: due (soft) and deadline (hard), in minutes from the origin."""

    order_id: int
    order_ref: str
    due: int
    deadline: int
    promised_at: datetime


@dataclass
class ClusterPlan:
    """A cluster's re-plannable work as a :class:`ProblemData` plus the current plan."""

    cluster_id: int
    now: datetime
    origin: datetime
    data: ProblemData | None
    hint: Solution | None
    ops: list[PlanOp]
    jobs: list[JobInfo]
    #: Real resource id of each problem resource (None for pinned dummies).
    resource_ids: list[int | None]
    #: Fixed busy intervals (minutes) of each real problem resource.
    fixed_busy: dict[int, list[tuple[int, int]]]
    capacity: dict[int, int]

    @property
    def movable(self) -> list[PlanOp]:
        """The operations the optimiser may move."""
        return [op for op in self.ops if op.movable]

    def at(self, minutes: float) -> datetime:
        """The instant ``minutes`` after the origin."""
        return self.origin + timedelta(minutes=minutes)

    def offset(self, when: datetime) -> float:
        """Minutes from the origin to ``when``."""
        return minutes_between(self.origin, when)


@dataclass
class _Row:
    wo: WorkOrder
    booking: Booking
    order: Order
    rfq_op: RfqOperation
    rfq: Rfq


def _cluster_resources(session: Session, cluster_id: int) -> dict[int, tuple]:
    rows = session.execute(
        select(
            Resource.id,
            Resource.org_id,
            Resource.site_id,
            Resource.capacity,
            Resource.speed_factor,
        )
        .join(SiteRow, SiteRow.id == Resource.site_id)
        .where(SiteRow.cluster_id == cluster_id)
    ).all()
    return {r.id: (r.org_id, r.site_id, r.capacity, r.speed_factor) for r in rows}


def _order_rows(session: Session, order_ids: set[int]) -> list[_Row]:
    stmt = (
        select(WorkOrder, Booking, Order, RfqOperation, Rfq)
        .join(Booking, Booking.id == WorkOrder.booking_id)
        .join(Order, Order.id == WorkOrder.order_id)
        .join(RfqOperation, RfqOperation.id == WorkOrder.rfq_operation_id)
        .join(Rfq, Rfq.id == Order.rfq_id)
        .where(WorkOrder.order_id.in_(order_ids), Booking.status != "cancelled")
        .order_by(WorkOrder.order_id, WorkOrder.position, WorkOrder.id)
    )
    return [_Row(*row) for row in session.execute(stmt).all()]


def _is_movable(row: _Row, cluster: dict[int, tuple], now: datetime) -> bool:
    return (
        row.wo.resource_id in cluster
        and row.wo.progress == "pending"
        and row.booking.status in MOVABLE_BOOKING_STATUSES
        and row.booking.start_at >= now + FROZEN
        and row.order.state in MOVABLE_ORDER_STATES
        and not row.rfq_op.resumable
    )


def _delivery_leg_minutes(session: Session, option_ids: set[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for option_id, plan in session.execute(
        select(QuoteOption.id, QuoteOption.plan).where(QuoteOption.id.in_(option_ids))
    ):
        legs = (plan or {}).get("transport", [])
        out[option_id] = max(
            (int(leg.get("minutes", 0)) for leg in legs if leg.get("to_site_id") == "delivery"),
            default=0,
        )
    return out


def _eligible(
    session: Session, rows: list[_Row], cluster: dict[int, tuple]
) -> dict[int, list[int]]:
    """Work order id -> resource ids of its provider in the cluster able to run it."""
    orgs = {row.wo.provider_org_id for row in rows}
    own = [rid for rid, (org, *_rest) in cluster.items() if org in orgs]
    caps: dict[int, list[tuple[str, dict]]] = {}
    for rid, code, attrs in session.execute(
        select(
            ResourceCapability.resource_id, ResourceCapability.code, ResourceCapability.attributes
        ).where(ResourceCapability.resource_id.in_(own))
    ):
        caps.setdefault(rid, []).append((code, attrs or {}))
    tax = taxonomy()
    out: dict[int, list[int]] = {}
    for row in rows:
        found = [row.wo.resource_id]
        try:
            match = tax.matcher(row.rfq_op.capability, row.rfq_op.attributes or {})
        except ValueError:
            out[row.wo.id] = found
            continue
        for rid in own:
            if rid == row.wo.resource_id or cluster[rid][0] != row.wo.provider_org_id:
                continue
            if any(match(code, attrs).ok for code, attrs in caps.get(rid, [])):
                found.append(rid)
        out[row.wo.id] = found
    return out


def load_cluster_plan(
    session: Session, cluster_id: int, now: datetime, *, objective: Objective
) -> ClusterPlan:
    """The cluster's movable work as a problem, with the current plan as ``hint``."""
    if session.get(Cluster, cluster_id) is None:
        raise NotFound("cluster", cluster_id)
    cluster = _cluster_resources(session, cluster_id)
    in_cluster = (
        select(Resource.id)
        .join(SiteRow, SiteRow.id == Resource.site_id)
        .where(SiteRow.cluster_id == cluster_id)
    )
    candidates = session.execute(
        select(WorkOrder.order_id)
        .join(Booking, Booking.id == WorkOrder.booking_id)
        .join(Order, Order.id == WorkOrder.order_id)
        .where(
            WorkOrder.resource_id.in_(in_cluster),
            WorkOrder.progress == "pending",
            Booking.status.in_(MOVABLE_BOOKING_STATUSES),
            Booking.start_at >= now + FROZEN,
            Order.state.in_(MOVABLE_ORDER_STATES),
        )
    ).scalars()
    order_ids = set(candidates)
    rows = [
        r
        for r in _order_rows(session, order_ids)
        if _is_movable(r, cluster, now) or r.booking.end_at > now - PINNED_LOOKBACK
    ]
    movable_rows = [r for r in rows if _is_movable(r, cluster, now)]
    if not movable_rows:
        return ClusterPlan(cluster_id, now, now, None, None, [], [], [], {}, {})
    return _build(session, cluster_id, now, cluster, rows, movable_rows, objective)


def _build(
    session: Session,
    cluster_id: int,
    now: datetime,
    cluster: dict[int, tuple],
    rows: list[_Row],
    movable_rows: list[_Row],
    objective: Objective,
) -> ClusterPlan:
    movable_ids = {r.wo.id for r in movable_rows}
    pinned_rows = [r for r in rows if r.wo.id not in movable_ids]
    earliest = min([now, *(r.booking.start_at for r in pinned_rows)])
    origin = earliest.replace(second=0, microsecond=0)

    def off(when: datetime) -> float:
        return minutes_between(origin, when)

    eligible = _eligible(session, movable_rows, cluster)
    used = sorted({rid for ids in eligible.values() for rid in ids})
    horizon_end = max(
        [r.order.promised_at for r in rows] + [r.booking.end_at for r in rows]
    ) + timedelta(days=1)
    windows: dict[int, list[tuple[int, int]]] = {rid: [] for rid in used}
    for rid, start, end in session.execute(
        select(CalendarWindow.resource_id, CalendarWindow.start_at, CalendarWindow.end_at).where(
            CalendarWindow.resource_id.in_(used),
            CalendarWindow.end_at > origin,
            CalendarWindow.start_at < horizon_end,
        )
    ):
        s, e = max(0, math.ceil(off(start))), math.floor(off(end))
        if e > s:
            windows[rid].append((s, e))
    movable_booking_ids = {r.booking.id for r in movable_rows}
    fixed: dict[int, list[tuple[int, int]]] = {rid: [] for rid in used}
    for rid, start, end, bid in session.execute(
        select(Booking.resource_id, Booking.start_at, Booking.end_at, Booking.id).where(
            Booking.resource_id.in_(used),
            Booking.status != "cancelled",
            Booking.end_at > origin,
            Booking.start_at < horizon_end,
        )
    ):
        if bid not in movable_booking_ids:
            fixed[rid].append((max(0, math.floor(off(start))), math.ceil(off(end))))

    site_ids = sorted({cluster[rid][1] for rid in used} | {r.wo.site_id for r in pinned_rows})
    where = {
        sid: (lat, lon)
        for sid, lat, lon in session.execute(
            select(SiteRow.id, SiteRow.lat, SiteRow.lon).where(SiteRow.id.in_(site_ids))
        )
    }
    site_index = {sid: i for i, sid in enumerate(site_ids)}
    travel = [
        [0 if a == b else travel_minutes(where[a], where[b]) for b in site_ids] for a in site_ids
    ]

    # Current plan of each movable op, and the booked length on its current resource.
    current: dict[int, tuple[int, int]] = {}
    for r in movable_rows:
        s = math.floor(off(r.booking.start_at))
        current[r.wo.id] = (s, s + math.ceil(off(r.booking.end_at) - s))
        windows[r.wo.resource_id].append(current[r.wo.id])

    resource_ids: list[int | None] = list(used)
    res_index = {rid: i for i, rid in enumerate(used)}
    plan_resources = [
        PlanResource(
            name=f"resource {rid}",
            capacity=cluster[rid][2],
            site=site_index[cluster[rid][1]],
            windows=tuple(windows[rid]),
            bookings=tuple(PlanBooking(s, e, "fixed") for s, e in fixed[rid] if e > s),
        )
        for rid in used
    ]
    jobs: list[Job] = []
    job_infos: list[JobInfo] = []
    job_of_order: dict[int, int] = {}
    options = _delivery_leg_minutes(session, {r.order.option_id for r in rows})
    release = math.ceil(off(now + FROZEN))
    for r in movable_rows:
        if r.order.id in job_of_order:
            continue
        job_of_order[r.order.id] = len(jobs)
        first = min(current[x.wo.id][0] for x in movable_rows if x.order.id == r.order.id)
        jobs.append(Job(r.order.ref, min(release, first), math.floor(off(r.rfq.due_at)), 1))
        job_infos.append(
            JobInfo(
                r.order.id,
                r.order.ref,
                math.floor(off(r.rfq.due_at)),
                math.floor(off(r.order.promised_at)) - options.get(r.order.option_id, 0),
                r.order.promised_at,
            )
        )

    operations: list[Operation] = []
    lots: list[tuple[Lot, ...]] = []
    ops: list[PlanOp] = []
    for r in rows:
        index = len(operations)
        if r.wo.id in movable_ids:
            modes = []
            for rid in eligible[r.wo.id]:
                if rid == r.wo.resource_id:
                    s, e = current[r.wo.id]
                    duration = e - s
                else:
                    if not windows[rid]:
                        continue
                    duration = r.rfq_op.setup_minutes + math.ceil(
                        r.wo.quantity * r.rfq_op.unit_minutes / cluster[rid][3]
                    )
                modes.append((rid, Mode(res_index[rid], max(1, duration))))
            job = job_of_order[r.order.id]
            s, e = current[r.wo.id]
            lots.append((Lot(res_index[r.wo.resource_id], s, e, r.wo.quantity),))
            mode_resources = [rid for rid, _ in modes]
            operations.append(
                Operation(job, tuple(m for _, m in modes), f"wo{r.wo.id}", r.wo.quantity)
            )
        else:
            s = max(0, math.floor(off(r.booking.start_at)))
            e = max(s + 1, math.ceil(off(r.booking.end_at)))
            dummy = len(plan_resources)
            plan_resources.append(
                PlanResource(f"pinned wo{r.wo.id}", 1, site_index[r.wo.site_id], ((s, e),))
            )
            resource_ids.append(None)
            job = len(jobs)
            jobs.append(Job(f"pinned wo{r.wo.id}", 0, None, 0))
            lots.append((Lot(dummy, s, e, r.wo.quantity),))
            mode_resources = [r.wo.resource_id]
            operations.append(Operation(job, (Mode(dummy, e - s),), f"wo{r.wo.id}", r.wo.quantity))
        ops.append(
            PlanOp(
                index,
                job,
                r.wo.id,
                r.booking.id,
                r.order.id,
                r.order.ref,
                r.wo.resource_id,
                r.booking.start_at,
                r.booking.end_at,
                r.booking.status,
                r.wo.id in movable_ids,
                mode_resources,
            )
        )

    precedences = []
    by_order: dict[int, list[tuple[_Row, int]]] = {}
    for op, r in zip(ops, rows, strict=True):
        by_order.setdefault(r.order.id, []).append((r, op.index))
    for members in by_order.values():
        for ra, ia in members:
            for rb, ib in members:
                if ra.rfq_op.position in (rb.rfq_op.after or []) and ia != ib:
                    precedences.append((ia, ib))

    hint_completion: dict[int, int] = {}
    for op, lot_tuple in zip(ops, lots, strict=True):
        if op.order_id in job_of_order:
            j = job_of_order[op.order_id]
            hint_completion[j] = max(hint_completion.get(j, 0), lot_tuple[0].end)
    for j, info in enumerate(job_infos):
        info.deadline = max(info.deadline, hint_completion.get(j, 0))

    data = ProblemData(
        jobs=tuple(jobs),
        resources=tuple(plan_resources),
        operations=tuple(operations),
        precedences=tuple(precedences),
        transport_time=tuple(tuple(row) for row in travel),
        objective=objective,
    )
    capacity = {i: cluster[rid][2] for i, rid in enumerate(used)}
    fixed_busy = {res_index[rid]: fixed[rid] for rid in used}
    return ClusterPlan(
        cluster_id,
        now,
        origin,
        data,
        Solution(tuple(lots)),
        ops,
        job_infos,
        resource_ids,
        fixed_busy,
        capacity,
    )
