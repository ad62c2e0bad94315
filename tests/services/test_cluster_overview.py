"""Cluster overview figures on both backends, checked against a plain recount."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.services.cluster_overview import cluster_overview, list_cluster_summaries
from sharefab.services.resource_calendar import resource_calendar
from sharefab.services.seed import seed_database
from sharefab.storage.models import CalendarWindow, Cluster, Resource, Site, User

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _expected_idle(session: Session, cluster_id: int, start: datetime, days: int) -> list[float]:
    hours = [0.0] * days
    rows = session.execute(
        select(CalendarWindow.start_at, CalendarWindow.end_at, Resource.capacity)
        .join(Resource, Resource.id == CalendarWindow.resource_id)
        .join(Site, Site.id == Resource.site_id)
        .where(Site.cluster_id == cluster_id, Resource.is_public.is_(True))
    )
    for w_start, w_end, capacity in rows:
        for d in range(days):
            lo, hi = start + timedelta(days=d), start + timedelta(days=d + 1)
            overlap = (min(w_end, hi) - max(w_start, lo)).total_seconds()
            if overlap > 0:
                hours[d] += capacity * overlap / 3600
    return hours


def test_overview_matches_a_recount(db_url: str, session_factory: sessionmaker[Session]) -> None:
    seed_database(db_url, factories=3, seed=5, now=NOW)
    with session_factory() as session:
        summaries = list_cluster_summaries(session, now=NOW)
        assert sum(s.factories for s in summaries) == 3  # buyers are not factories
        start = NOW.replace(hour=0)
        for summary in summaries:
            overview = cluster_overview(session, summary.id, now=NOW)
            expected = _expected_idle(session, summary.id, start, 14)
            assert [round(h, 3) for h in overview.idle_hours_per_day] == [
                round(h, 3) for h in expected
            ]
            assert abs(summary.idle_hours - sum(expected)) < 1e-6
            assert overview.resources == summary.resources
            assert sum(overview.resources_per_capability.values()) >= overview.resources
        assert any(s.idle_hours > 0 for s in summaries)
        assert session.scalar(select(Cluster.id).where(Cluster.id == summaries[0].id))


def test_calendar_shows_bookings_to_the_owner_only(
    db_url: str, session_factory: sessionmaker[Session]
) -> None:
    seed_database(db_url, factories=3, seed=5, now=NOW)
    with session_factory() as session:
        resource = session.scalars(
            select(Resource).where(Resource.is_public.is_(True)).join(Resource.bookings).limit(1)
        ).first()
        assert resource is not None
        owner = session.scalars(select(User).where(User.org_id == resource.org_id)).first()
        other = session.scalars(select(User).where(User.org_id != resource.org_id)).first()
        assert owner is not None and other is not None
        mine = resource_calendar(session, owner, resource.id, start=NOW, days=21)
        theirs = resource_calendar(session, other, resource.id, start=NOW, days=21)
        assert mine.owner and mine.bookings
        assert not theirs.owner and theirs.bookings == []
        assert [w.start for w in theirs.windows] == [w.start for w in mine.windows]
