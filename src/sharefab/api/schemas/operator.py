"""Schemas of the platform operator's endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from sharefab.api.schemas.common import RequestModel, RowId


class OptimizeRequest(RequestModel):
    """Re-plan one cluster's not-yet-started work."""

    cluster_id: RowId
    time_limit_s: float = Field(default=10.0, gt=0, le=120)
    dry_run: bool = False


class KpisPublic(BaseModel):
    """Plan figures: utilisation (0..1), lateness against due dates, makespan, moves."""

    utilisation: float
    lateness_h: float
    late_orders: int
    makespan_h: float
    moved: int


class OptimizeRunPublic(BaseModel):
    """A re-optimisation run: its job status, KPIs before and after, and each move.

    ``status``: ``running``, ``applied``, ``dry_run`` (improvement found, nothing written),
    ``no_improvement``, ``conflict`` (the plan changed meanwhile; nothing written), ``failed``.
    """

    run_id: int
    cluster_id: int
    status: str
    dry_run: bool
    operations: int
    before: KpisPublic | None
    after: KpisPublic | None
    moves: list[dict[str, Any]]
    message: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runtime_s: float | None = None
