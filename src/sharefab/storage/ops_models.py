"""Tables of platform operations: re-optimisation runs of a cluster (the audit record of
every plan change they made).

Registered on ``Base.metadata`` by one import line in :mod:`sharefab.storage.models`; created
by the migration ``0005_ops``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sharefab.storage.models import Base, JSONType, _one_of
from sharefab.storage.types import utc_now

RUN_STATUSES = ("running", "applied", "dry_run", "no_improvement", "conflict", "failed")


class OptimizationRun(Base):
    """One re-optimisation of a cluster's not-yet-started work and what it changed.

    ``kpis_before`` / ``kpis_after`` hold utilisation, weighted lateness, makespan and moves;
    ``moves`` lists every work order moved (old and new resource, start and end).
    """

    __tablename__ = "optimization_runs"
    __table_args__ = (CheckConstraint(_one_of("status", RUN_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(
        ForeignKey("clusters.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="running")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    time_limit_s: Mapped[float] = mapped_column(Float)
    operations: Mapped[int] = mapped_column(Integer, default=0)
    kpis_before: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    kpis_after: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    moves: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None]
