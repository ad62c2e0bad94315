"""Platform re-optimisation of a cluster's not-yet-started work (issue 4, item 5).

:func:`optimize_cluster` loads the movable work orders of a cluster and everything that
constrains them (:mod:`sharefab.services.optimize_load`), warm-starts the scheduling engine
with the current plan (``solve(method="auto")``: CP-SAT hinted with it, then LNS), validates
the result with :func:`sharefab.scheduling.validator.validate`, and rewrites the bookings in
**one transaction** only when the new plan is strictly better on (weighted lateness against the
RFQ due dates, then makespan of the re-planned work).

Guarantees:

* **started work is never touched**: only ``pending`` work orders whose booking is ``held`` or
  ``confirmed`` and starts at least 30 minutes from now move; every other booking is fixed;
* **no operation ends after its order's promised date** (less the delivery leg), or after its
  current end when that is already later: when a plan breaks it, the offending orders get a
  hard deadline (a sentinel operation pinned at the deadline that all their operations must
  precede) and the solver runs again, up to :data:`REPAIR_ROUNDS` times; a plan still
  breaking it is never applied;
* a moved work order stays with its provider (same organization, same agreed price);
* bookings are rewritten by cancelling the old booking and inserting the new one through
  :func:`sharefab.storage.bookings.insert_booking` (the overlap guard of the database holds
  throughout); if anything changed since the plan was loaded, nothing is written
  (status ``conflict``).

Every run is recorded in ``optimization_runs`` (its job status, KPIs and each move) and each
moved booking emits a ``booking.rescheduled`` webhook to its provider.

KPIs (:class:`Kpis`), over the window from now to the end of the re-planned work:
utilisation of the resources involved (busy unit-minutes / capacity unit-minutes),
total lateness of the affected orders against their due dates (hours, weight 1 per order),
makespan (hours from now), and the number of moved operations.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.scheduling.executors import Executor, InlineExecutor, TaskFailed
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
from sharefab.scheduling.solve import solve
from sharefab.scheduling.validator import validate
from sharefab.services.capacity import CACHE
from sharefab.services.errors import InvalidInput, NotFound, PermissionDenied
from sharefab.services.optimize_load import FROZEN, ClusterPlan, load_cluster_plan
from sharefab.services.webhooks import emit_booking
from sharefab.storage.bookings import insert_booking
from sharefab.storage.errors import BookingConflict
from sharefab.storage.market_models import WorkOrder
from sharefab.storage.models import Booking, Cluster, Resource, User
from sharefab.storage.ops_models import OptimizationRun
from sharefab.storage.types import utc_now

REPAIR_ROUNDS = 3
MAX_TIME_LIMIT_S = 600.0
#: Lateness first, then compaction.
OBJECTIVE = Objective.of(lexicographic=True, weighted_tardiness=1, makespan=1)

Progress = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class Kpis:
    """Before/after figures of one plan."""

    utilisation: float
    lateness_h: float
    late_orders: int
    makespan_h: float
    moved: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Move:
    """One work order moved by a run."""

    work_order_id: int
    order_ref: str
    from_resource_id: int
    to_resource_id: int
    from_start: datetime
    from_end: datetime
    to_start: datetime
    to_end: datetime

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON (ISO datetimes)."""
        return {
            k: v.isoformat() if isinstance(v, datetime) else v
            for k, v in dataclasses.asdict(self).items()
        }


@dataclass
class OptimizeResult:
    """What a run did: its job status, the KPIs before and after, and the moves."""

    run_id: int
    cluster_id: int
    status: str
    dry_run: bool
    operations: int
    before: Kpis | None
    after: Kpis | None
    moves: list[Move] = field(default_factory=list)
    message: str = ""
    runtime_s: float = 0.0


def _completion(plan: ClusterPlan, solution: Solution) -> list[int]:
    ends: dict[int, int] = {}
    for op in plan.ops:
        end = solution.lots[op.index][0].end
        ends[op.order_id] = max(ends.get(op.order_id, end), end)
    return [ends[info.order_id] for info in plan.jobs]


def _real_resource(plan: ClusterPlan, op_index: int, resource: int) -> int:
    """The problem index of the real resource a lot runs on (a pinned lot keeps its own)."""
    if resource < len(plan.resource_ids) and plan.resource_ids[resource] is not None:
        return resource
    assert plan.hint is not None
    return plan.hint.lots[op_index][0].resource


def compute_kpis(plan: ClusterPlan, solution: Solution, scope: set[int], moved: int = 0) -> Kpis:
    """KPIs of ``solution`` over the problem resources ``scope`` (see the module doc)."""
    now = plan.offset(plan.now)
    completion = _completion(plan, solution)
    lateness = [max(0, c - info.due) for c, info in zip(completion, plan.jobs, strict=True)]
    movable_ends = [solution.lots[op.index][0].end for op in plan.movable]
    end = max(movable_ends)
    span = max(1.0, end - now)
    busy = 0.0
    for r in scope:
        intervals = list(plan.fixed_busy.get(r, []))
        intervals += [
            (lot.start, lot.end)
            for op in plan.movable
            for lot in solution.lots[op.index]
            if _real_resource(plan, op.index, lot.resource) == r
        ]
        busy += sum(max(0.0, min(e, end) - max(s, now)) for s, e in intervals)
    capacity = sum(plan.capacity[r] for r in scope) * span
    return Kpis(
        utilisation=round(busy / capacity, 4) if capacity else 0.0,
        lateness_h=round(sum(lateness) / 60, 2),
        late_orders=sum(1 for x in lateness if x > 0),
        makespan_h=round(span / 60, 2),
        moved=moved,
    )


def _bound(
    data: ProblemData, hint: Solution, deadlines: dict[int, tuple[int, list[int]]]
) -> tuple[ProblemData, Solution]:
    """Make deadlines hard: for each job ``j -> (deadline, its operations)`` a sentinel
    operation pinned at ``[deadline, deadline + 1)`` on its own resource and site (no transport
    to it) that every operation of the job must precede."""
    resources = list(data.resources)
    operations = list(data.operations)
    jobs = list(data.jobs)
    precedences = list(data.precedences)
    lots = list(hint.lots)
    n_sites = len(data.transport_time) or max(r.site for r in resources) + 1
    matrix = [list(row) for row in data.transport_time] or [[0] * n_sites for _ in range(n_sites)]
    for row in matrix:
        row.append(0)
    matrix.append([0] * (n_sites + 1))
    for j, (deadline, members) in deadlines.items():
        resource = len(resources)
        resources.append(PlanResource(f"deadline {j}", 1, n_sites, ((deadline, deadline + 1),)))
        jobs.append(Job(f"deadline {j}", 0, None, 0))
        sentinel = len(operations)
        operations.append(Operation(len(jobs) - 1, (Mode(resource, 1),), f"deadline {j}"))
        precedences += [(i, sentinel) for i in members]
        lots.append((Lot(resource, deadline, deadline + 1, 1),))
    bounded = dataclasses.replace(
        data,
        resources=tuple(resources),
        operations=tuple(operations),
        jobs=tuple(jobs),
        precedences=tuple(precedences),
        transport_time=tuple(tuple(row) for row in matrix),
    )
    return bounded, Solution(tuple(lots))


def _solve(
    plan: ClusterPlan, time_limit_s: float, progress: Progress | None
) -> tuple[Solution | None, str]:
    """The best plan found that passes validation and every deadline, and a message."""
    assert plan.data is not None and plan.hint is not None
    data, hint = plan.data, plan.hint
    started = time.perf_counter()
    message = ""
    for _ in range(REPAIR_ROUNDS):
        left = time_limit_s - (time.perf_counter() - started)
        if left <= 0.05:
            break
        hint_ok = validate(data, hint).ok
        result = solve(
            data,
            method="auto",
            time_limit=left,
            hint=hint if hint_ok else None,
            progress=(lambda stage, value: progress("solving", f"{stage}: {value:g}"))
            if progress
            else None,
        )
        if not result.feasible or result.solution is None:
            return None, f"solver found no plan ({result.status})"
        solution = result.solution
        report = validate(data, solution)
        if not report.ok:
            return None, "solver plan failed validation: " + "; ".join(report.violations[:3])
        late = [
            j
            for j, (c, info) in enumerate(zip(_completion(plan, solution), plan.jobs, strict=True))
            if c > info.deadline
        ]
        if not late:
            return solution, message
        message = f"bounded {len(late)} order(s) that would have missed their promised date"
        bounds = {
            j: (
                plan.jobs[j].deadline,
                [op.index for op in plan.movable if op.order_id == plan.jobs[j].order_id],
            )
            for j in late
        }
        data, hint = _bound(data, hint, bounds)
    return None, message or "no time left to repair the plan"


def _moves(plan: ClusterPlan, solution: Solution, resource_ids: list[int | None]) -> list[Move]:
    moves = []
    for op in plan.movable:
        lot = solution.lots[op.index][0]
        rid = resource_ids[lot.resource] if lot.resource < len(resource_ids) else None
        to_resource = op.resource_id if rid is None else rid
        to_start, to_end = plan.at(lot.start), plan.at(lot.end)
        if to_resource == op.resource_id and to_start == op.start_at.replace(
            second=0, microsecond=0
        ):
            continue
        moves.append(
            Move(
                op.work_order_id,
                op.order_ref,
                op.resource_id,
                to_resource,
                op.start_at,
                op.end_at,
                to_start,
                to_end,
            )
        )
    return moves


def _apply(session: Session, plan: ClusterPlan, moves: list[Move]) -> None:
    """Rewrite the moved bookings and work orders (caller's transaction)."""
    by_wo = {op.work_order_id: op for op in plan.movable}
    ids = [by_wo[m.work_order_id].booking_id for m in moves]
    current = {
        b.id: b
        for b in session.scalars(select(Booking).where(Booking.id.in_(ids)).with_for_update())
    }
    progress = {
        wid: state
        for wid, state in session.execute(
            select(WorkOrder.id, WorkOrder.progress)
            .where(WorkOrder.id.in_(list(by_wo)))
            .with_for_update()
        )
    }
    for m in moves:
        op = by_wo[m.work_order_id]
        b = current.get(op.booking_id)
        if (
            b is None
            or progress.get(m.work_order_id) != "pending"
            or (b.status, b.start_at, b.end_at, b.resource_id)
            != (op.booking_status, op.start_at, op.end_at, op.resource_id)
        ):
            raise BookingConflict(
                resource_id=op.resource_id,
                start_at=op.start_at,
                end_at=op.end_at,
                booking_id=op.booking_id,
            )
        b.status = "cancelled"
    session.flush()
    for m in moves:
        op = by_wo[m.work_order_id]
        new = insert_booking(
            session,
            m.to_resource_id,
            m.to_start,
            m.to_end,
            order_ref=current[op.booking_id].order_ref,
            status=op.booking_status,
        )
        wo = session.get_one(WorkOrder, m.work_order_id)
        wo.booking_id = new.id
        wo.resource_id = m.to_resource_id
        wo.site_id = session.get_one(Resource, m.to_resource_id).site_id
        wo.start_at, wo.end_at = m.to_start, m.to_end
        emit_booking(
            session,
            new,
            "booking.rescheduled",
            work_order_id=m.work_order_id,
            previous={
                "booking_id": op.booking_id,
                "resource_id": m.from_resource_id,
                "start_at": m.from_start,
                "end_at": m.from_end,
            },
        )


def _finish(
    session_factory: sessionmaker[Session], run_id: int, result: OptimizeResult
) -> OptimizeResult:
    with session_factory() as session, session.begin():
        run = session.get_one(OptimizationRun, run_id)
        _record(run, result)
    return result


def _record(run: OptimizationRun, result: OptimizeResult) -> None:
    run.status = result.status
    run.operations = result.operations
    run.kpis_before = result.before.as_dict() if result.before else {}
    run.kpis_after = result.after.as_dict() if result.after else {}
    run.moves = [m.as_dict() for m in result.moves]
    run.message = result.message
    run.finished_at = utc_now()


def check_operator(actor: User) -> None:
    """Only platform operators may re-plan a cluster (403 otherwise)."""
    if not actor.is_platform_operator:
        raise PermissionDenied("only platform operators may re-optimise a cluster")


@dataclass(frozen=True, slots=True)
class ClusterSolve:
    """The pure part of one cluster's run, as data an executor can ship (it pickles)."""

    plan: ClusterPlan
    time_limit_s: float


def solve_cluster(task: ClusterSolve) -> tuple[Solution | None, str]:
    """The best valid plan of ``task.plan`` within its promised dates, and a message (no I/O:
    what an :class:`~sharefab.scheduling.executors.Executor` runs)."""
    return _solve(task.plan, task.time_limit_s, None)


def _check(actor: User | None, time_limit_s: float) -> None:
    if actor is not None:
        check_operator(actor)
    if not 0 < time_limit_s <= MAX_TIME_LIMIT_S:
        raise InvalidInput.single("time_limit_s", f"must be in (0, {MAX_TIME_LIMIT_S:g}] seconds")


def _load(
    session_factory: sessionmaker[Session],
    cluster_id: int,
    *,
    time_limit_s: float,
    dry_run: bool,
    actor: User | None,
    now: datetime,
) -> tuple[ClusterPlan, OptimizeResult]:
    """Load the cluster's plan and record its run as ``running`` (one transaction)."""
    with session_factory() as session, session.begin():
        plan = load_cluster_plan(session, cluster_id, now, objective=OBJECTIVE)
        run = OptimizationRun(
            cluster_id=cluster_id,
            requested_by=actor.id if actor is not None else None,
            status="running",
            dry_run=dry_run,
            time_limit_s=time_limit_s,
            operations=len(plan.movable),
            started_at=utc_now(),
        )
        session.add(run)
        session.flush()
        run_id = run.id
    result = OptimizeResult(
        run_id, cluster_id, "no_improvement", dry_run, len(plan.movable), None, None
    )
    if plan.data is None or plan.hint is None:
        result.message = "no movable work in this cluster"
    return plan, result


def _conclude(
    session_factory: sessionmaker[Session],
    plan: ClusterPlan,
    result: OptimizeResult,
    solved: tuple[Solution | None, str],
    started: float,
    notify: Progress,
) -> OptimizeResult:
    """Compare the solved plan with the current one and apply it when strictly better."""
    assert plan.hint is not None
    solution, message = solved
    result.message = message
    scope_before = {lot.resource for op in plan.movable for lot in plan.hint.lots[op.index]}
    if solution is None:
        result.before = compute_kpis(plan, plan.hint, scope_before)
        result.runtime_s = time.perf_counter() - started
        return _finish(session_factory, result.run_id, result)
    moves = _moves(plan, solution, plan.resource_ids)
    scope = scope_before | {
        lot.resource
        for op in plan.movable
        for lot in solution.lots[op.index]
        if lot.resource < len(plan.resource_ids) and plan.resource_ids[lot.resource] is not None
    }
    before = compute_kpis(plan, plan.hint, scope)
    after = compute_kpis(plan, solution, scope, moved=len(moves))
    result.before, result.after = before, after
    better = (after.lateness_h, after.makespan_h) < (before.lateness_h, before.makespan_h)
    if not better or not moves:
        result.after = dataclasses.replace(before)
        result.message = message or "the current plan is already as good as the solver found"
    elif result.dry_run:
        result.status, result.moves = "dry_run", moves
    elif time.perf_counter() - started >= FROZEN.total_seconds():
        # Loaded work starts at least FROZEN after the load: past that, it may have begun.
        result.status = "conflict"
        result.message = "the frozen zone was reached while optimising; nothing was written"
    else:
        notify("applying", f"{len(moves)} moves")
        result.moves = moves
        try:
            with session_factory() as session, session.begin():
                _apply(session, plan, moves)
                _record(session.get_one(OptimizationRun, result.run_id), _applied(result))
            result.status = "applied"
            # Quote caches see new bookings by id but not the cancelled old slots: drop them
            # here (other processes reload within capacity.MAX_AGE_S; stale means busier).
            CACHE.invalidate({m.from_resource_id for m in moves})
        except BookingConflict as exc:
            result.status = "conflict"
            result.message = f"the plan changed while optimising; nothing was written ({exc})"
    result.runtime_s = time.perf_counter() - started
    return _finish(session_factory, result.run_id, result)


def optimize_cluster(
    session_factory: sessionmaker[Session],
    cluster_id: int,
    *,
    time_limit_s: float = 10.0,
    dry_run: bool = False,
    actor: User | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> OptimizeResult:
    """Re-plan the cluster's movable work; see the module doc. ``actor`` (when given) must be
    a platform operator; the CLI runs without one."""
    _check(actor, time_limit_s)
    now = now or utc_now()
    started = time.perf_counter()
    notify = progress or (lambda _stage, _text: None)
    notify("loading", f"cluster {cluster_id}")
    plan, result = _load(
        session_factory,
        cluster_id,
        time_limit_s=time_limit_s,
        dry_run=dry_run,
        actor=actor,
        now=now,
    )
    if plan.data is None:
        return _finish(session_factory, result.run_id, result)
    notify("solving", f"{len(plan.movable)} movable operations, {time_limit_s:g} s")
    try:
        solved = _solve(plan, time_limit_s, progress)
    except Exception as exc:  # recorded as the run's status, then raised to the caller
        result.status, result.message = "failed", f"{exc.__class__.__name__}: {exc}"
        _finish(session_factory, result.run_id, result)
        raise
    return _conclude(session_factory, plan, result, solved, started, notify)


def optimize_clusters(
    session_factory: sessionmaker[Session],
    cluster_ids: list[int],
    *,
    executor: Executor | None = None,
    time_limit_s: float = 10.0,
    dry_run: bool = False,
    actor: User | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> list[OptimizeResult]:
    """Re-plan several clusters: each one's plan is loaded (its own transaction), the pure
    solves (:func:`solve_cluster`, ``time_limit_s`` each) run on ``executor`` (in process,
    one after the other, by default; side by side with a
    :class:`~sharefab.scheduling.executors.RayExecutor`), then each plan is judged and
    applied in its own transaction exactly as :func:`optimize_cluster` does. A cluster whose
    solve raised gets status ``failed`` with the error as its message; the others still
    apply. Results in the order of ``cluster_ids`` (duplicates dropped)."""
    _check(actor, time_limit_s)
    ids = list(dict.fromkeys(cluster_ids))
    if not ids:
        raise InvalidInput.single("cluster_ids", "name at least one cluster")
    with session_factory() as session:
        known = set(session.scalars(select(Cluster.id).where(Cluster.id.in_(ids))))
    for cid in ids:
        if cid not in known:
            raise NotFound("cluster", cid)
    now = now or utc_now()
    started = time.perf_counter()
    notify = progress or (lambda _stage, _text: None)
    loaded = []
    for cid in ids:
        notify("loading", f"cluster {cid}")
        loaded.append(
            _load(
                session_factory,
                cid,
                time_limit_s=time_limit_s,
                dry_run=dry_run,
                actor=actor,
                now=now,
            )
        )
    todo = [(plan, result) for plan, result in loaded if plan.data is not None]
    runner = executor or InlineExecutor()
    notify("solving", f"{len(todo)} cluster(s), {time_limit_s:g} s each on {runner.name}")
    solved = runner.run(
        solve_cluster,
        [ClusterSolve(plan, time_limit_s) for plan, _ in todo],
        labels=[f"cluster {plan.cluster_id}" for plan, _ in todo],
        progress=lambda done, total, label: notify(
            "solving", f"{done}/{total} clusters solved ({label})"
        ),
        return_exceptions=True,
    )
    by_cluster = dict(zip((plan.cluster_id for plan, _ in todo), solved, strict=True))
    out = []
    for plan, result in loaded:
        outcome = by_cluster.get(plan.cluster_id)
        if outcome is None:
            out.append(_finish(session_factory, result.run_id, result))
        elif isinstance(outcome, TaskFailed):
            cause = outcome.cause
            result.status, result.message = "failed", f"{cause.__class__.__name__}: {cause}"
            result.runtime_s = time.perf_counter() - started
            out.append(_finish(session_factory, result.run_id, result))
        else:
            out.append(_conclude(session_factory, plan, result, outcome, started, notify))
    return out


def _applied(result: OptimizeResult) -> OptimizeResult:
    return dataclasses.replace(result, status="applied")
