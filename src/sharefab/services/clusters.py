"""Industrial clusters (platform-wide reference data, readable by every tenant)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharefab.services.common import Page
from sharefab.storage.models import Cluster


def list_clusters(session: Session, *, limit: int, offset: int) -> Page[Cluster]:
    """All clusters, by name."""
    count = session.scalar(select(func.count()).select_from(Cluster)) or 0
    rows = session.scalars(select(Cluster).order_by(Cluster.name).limit(limit).offset(offset))
    return Page(list(rows), count)
