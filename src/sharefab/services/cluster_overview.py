"""Read-only figures for the cluster overview pages: factories, public resources per
capability, idle hours published over the coming days and the booked share of them.

Clusters are platform-wide and readable by everyone; only **public** resources are counted,
so no tenant learns anything about another's private catalogue from these numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Select, distinct, extract, func, literal, select
from sqlalchemy.orm import Session

from sharefab.services.errors import NotFound
from sharefab.storage.models import (
    ACTIVE_BOOKING_STATUSES,
    Booking,
    CalendarWindow,
    Cluster,
    Organization,
    Resource,
    ResourceCapability,
    Site,
)
from sharefab.storage.types import UTCDateTime

DEFAULT_HORIZON_DAYS = 14


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    """One line of the cluster list."""

    id: int
    name: str
    region: str
    description: str
    factories: int
    resources: int
    idle_hours: float


@dataclass(frozen=True, slots=True)
class FactoryRow:
    """A factory (organization with a site in the cluster) and its public resource count."""

    org_name: str
    site_name: str
    resources: int


@dataclass(slots=True)
class ClusterOverview:
    """Everything the cluster page shows."""

    id: int
    name: str
    region: str
    description: str
    horizon_start: datetime
    horizon_days: int
    factories: int = 0
    resources: int = 0
    resources_per_capability: dict[str, int] = field(default_factory=dict)
    idle_hours_per_day: list[float] = field(default_factory=list)
    booked_hours: float = 0.0
    factory_rows: list[FactoryRow] = field(default_factory=list)

    @property
    def idle_hours(self) -> float:
        """Idle unit-hours published over the whole horizon."""
        return sum(self.idle_hours_per_day)

    @property
    def utilisation(self) -> float | None:
        """Booked hours as a share of published hours; ``None`` when nothing is published."""
        if self.idle_hours <= 0:
            return None
        return min(1.0, self.booked_hours / self.idle_hours)


def _is_provider(roles: object) -> bool:
    """Factories are the organizations with the provider role (buyers also have sites)."""
    return isinstance(roles, list) and "provider" in roles


def _horizon(now: datetime | None, days: int) -> tuple[datetime, datetime]:
    if days < 1 or days > 92:
        raise ValueError(f"horizon_days must be between 1 and 92, got {days}")
    start = (now or datetime.now(UTC)).astimezone(UTC)
    start = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=days)


def _public_resources_in(cluster_id: int) -> Select[tuple[int]]:
    return (
        select(Resource.id)
        .join(Site, Site.id == Resource.site_id)
        .where(Site.cluster_id == cluster_id, Resource.is_public.is_(True))
    )


def _day_offsets(
    session: Session, lo: datetime, hi: datetime
) -> tuple[ColumnElement[float], ColumnElement[float], Callable[..., ColumnElement[float]]]:
    """SQL for a window's clipped start and end as fractional days after ``lo`` (the window
    cut to ``[lo, hi)``), and the dialect's two-argument ``max``."""
    w_start, w_end = CalendarWindow.start_at, CalendarWindow.end_at
    a = literal(lo, UTCDateTime())
    b = literal(hi, UTCDateTime())
    if session.get_bind().dialect.name == "postgresql":
        begin = extract("epoch", func.greatest(w_start, a) - a) / 86400.0
        finish = extract("epoch", func.least(w_end, b) - a) / 86400.0
        return begin, finish, func.greatest
    j0 = func.julianday(a)
    begin = func.julianday(func.max(w_start, a)) - j0
    finish = func.julianday(func.min(w_end, b)) - j0
    return begin, finish, func.max


def _idle_hours_per_day(
    session: Session, cluster_id: int | None, start: datetime, days: int
) -> dict[int | None, list[float]]:
    """Published unit-hours per UTC day, per cluster (all clusters when ``cluster_id`` is
    None), summed by the database in one pass over the windows."""
    end = start + timedelta(days=days)
    begin, finish, biggest = _day_offsets(session, start, end)
    least = func.least if session.get_bind().dialect.name == "postgresql" else func.min
    inner = (
        select(
            Site.cluster_id.label("cid"),
            begin.label("b"),
            finish.label("f"),
            Resource.capacity.label("k"),
        )
        .select_from(CalendarWindow)
        .join(Resource, Resource.id == CalendarWindow.resource_id)
        .join(Site, Site.id == Resource.site_id)
        .where(
            Resource.is_public.is_(True),
            CalendarWindow.end_at > start,
            CalendarWindow.start_at < end,
        )
    )
    if cluster_id is not None:
        inner = inner.where(Site.cluster_id == cluster_id)
    # MATERIALIZED: compute each window's offsets once, not once per day column.
    w = inner.cte("clipped_windows").prefix_with("MATERIALIZED")
    columns = [
        func.coalesce(
            func.sum(w.c.k * biggest(0.0, least(w.c.f, day + 1.0) - biggest(w.c.b, float(day)))),
            0.0,
        )
        * 24.0
        for day in range(days)
    ]
    stmt = select(w.c.cid, *columns).group_by(w.c.cid)
    return {row[0]: [float(h) for h in row[1:]] for row in session.execute(stmt)}


def list_cluster_summaries(
    session: Session, *, now: datetime | None = None, horizon_days: int = DEFAULT_HORIZON_DAYS
) -> list[ClusterSummary]:
    """Every cluster with its factory count, public resources and idle hours ahead."""
    start, _ = _horizon(now, horizon_days)
    provider_orgs: dict[int | None, set[int]] = {}
    for cid, org_id, roles in session.execute(
        select(Site.cluster_id, Site.org_id, Organization.roles).join(
            Organization, Organization.id == Site.org_id
        )
    ):
        if _is_provider(roles):
            provider_orgs.setdefault(cid, set()).add(org_id)
    resources = dict(
        session.execute(
            select(Site.cluster_id, func.count(Resource.id))
            .join(Resource, Resource.site_id == Site.id)
            .where(Resource.is_public.is_(True))
            .group_by(Site.cluster_id)
        ).all()
    )
    idle = _idle_hours_per_day(session, None, start, horizon_days)
    return [
        ClusterSummary(
            id=c.id,
            name=c.name,
            region=c.region,
            description=c.description,
            factories=len(provider_orgs.get(c.id, ())),
            resources=int(resources.get(c.id, 0)),
            idle_hours=sum(idle.get(c.id, [])),
        )
        for c in session.scalars(select(Cluster).order_by(Cluster.name))
    ]


def cluster_overview(
    session: Session,
    cluster_id: int,
    *,
    now: datetime | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> ClusterOverview:
    """The figures of cluster ``cluster_id``; :class:`NotFound` when there is no such cluster."""
    cluster = session.get(Cluster, cluster_id)
    if cluster is None:
        raise NotFound("cluster", cluster_id)
    start, end = _horizon(now, horizon_days)
    overview = ClusterOverview(
        id=cluster.id,
        name=cluster.name,
        region=cluster.region,
        description=cluster.description,
        horizon_start=start,
        horizon_days=horizon_days,
    )
    public_ids = _public_resources_in(cluster_id)
    per_site = session.execute(
        select(Organization.name, Organization.roles, Site.name, func.count(Resource.id))
        .select_from(Site)
        .join(Organization, Organization.id == Site.org_id)
        .outerjoin(Resource, (Resource.site_id == Site.id) & Resource.is_public.is_(True))
        .where(Site.cluster_id == cluster_id)
        .group_by(Organization.id, Organization.name, Organization.roles, Site.id, Site.name)
        .order_by(Organization.name, Site.name)
    ).all()
    overview.factory_rows = [
        FactoryRow(org, site, int(n)) for org, roles, site, n in per_site if _is_provider(roles)
    ]
    overview.factories = len({row.org_name for row in overview.factory_rows})
    overview.resources = sum(row.resources for row in overview.factory_rows)
    counts: Counter[str] = Counter()
    for code, n in session.execute(
        select(ResourceCapability.code, func.count(distinct(ResourceCapability.resource_id)))
        .where(ResourceCapability.resource_id.in_(public_ids))
        .group_by(ResourceCapability.code)
    ):
        counts[code] = int(n)
    overview.resources_per_capability = dict(counts.most_common())
    idle = _idle_hours_per_day(session, cluster_id, start, horizon_days)
    overview.idle_hours_per_day = idle.get(cluster_id, [0.0] * horizon_days)
    booked = 0.0
    for b_start, b_end in session.execute(
        select(Booking.start_at, Booking.end_at).where(
            Booking.resource_id.in_(public_ids),
            Booking.status.in_(ACTIVE_BOOKING_STATUSES),
            Booking.end_at > start,
            Booking.start_at < end,
        )
    ):
        booked += (min(b_end, end) - max(b_start, start)).total_seconds() / 3600.0
    overview.booked_hours = booked
    return overview
