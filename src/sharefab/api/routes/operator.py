"""Platform operator endpoints: cluster re-optimisation.

Only users with ``is_platform_operator`` may call them; anyone else gets **403** (the route is
public knowledge in the API docs, so hiding it behind a 404 would protect nothing).
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from sharefab.api.deps import CurrentUser, SessionDep
from sharefab.api.schemas.common import PROBLEM_RESPONSES, IdPath
from sharefab.api.schemas.operator import KpisPublic, OptimizeRequest, OptimizeRunPublic
from sharefab.services import optimize as service
from sharefab.services.errors import NotFound
from sharefab.storage.ops_models import OptimizationRun

router = APIRouter(prefix="/operator", tags=["operator"], responses=PROBLEM_RESPONSES)


def _kpis(data: dict | None) -> KpisPublic | None:
    return KpisPublic(**data) if data else None


@router.post("/optimize")
def optimize(
    body: OptimizeRequest, request: Request, session: SessionDep, user: CurrentUser
) -> OptimizeRunPublic:
    """Re-plan the cluster's movable work within ``time_limit_s`` and apply it if better
    (unless ``dry_run``); returns the run with KPIs before and after."""
    service.check_operator(user)
    # The run takes seconds and uses its own transactions: release the request's one first
    # (on SQLite it holds the write lock). ``user`` stays readable, detached.
    session.close()
    result = service.optimize_cluster(
        request.app.state.session_factory,
        body.cluster_id,
        time_limit_s=body.time_limit_s,
        dry_run=body.dry_run,
        actor=user,
    )
    return OptimizeRunPublic(
        run_id=result.run_id,
        cluster_id=result.cluster_id,
        status=result.status,
        dry_run=result.dry_run,
        operations=result.operations,
        before=_kpis(result.before.as_dict() if result.before else None),
        after=_kpis(result.after.as_dict() if result.after else None),
        moves=[m.as_dict() for m in result.moves],
        message=result.message,
        runtime_s=round(result.runtime_s, 3),
    )


@router.get("/optimize/{run_id}")
def read_run(run_id: IdPath, session: SessionDep, user: CurrentUser) -> OptimizeRunPublic:
    """A past or running re-optimisation run (its job status and results)."""
    service.check_operator(user)
    run = session.get(OptimizationRun, run_id)
    if run is None:
        raise NotFound("optimization run", run_id)
    return OptimizeRunPublic(
        run_id=run.id,
        cluster_id=run.cluster_id,
        status=run.status,
        dry_run=run.dry_run,
        operations=run.operations,
        before=_kpis(run.kpis_before),
        after=_kpis(run.kpis_after),
        moves=run.moves,
        message=run.message,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )
