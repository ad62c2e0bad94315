"""Resource search (``sharefab.services.search``) on a seeded demo cluster.

Seeds a temporary SQLite database (``SEARCH_BENCH_FACTORIES`` factories, default 1,000, about
10,000 resources), then times each kind of search (median of 5) and prints it as a ratio
against a baseline measured in the same run: loading every visible resource with its
capabilities and site and filtering in Python (what a search without SQL pre-filters costs).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from sharefab.services.search import ResourceQuery, search_resources
from sharefab.services.seed import seed_database
from sharefab.storage.db import make_engine, make_session_factory
from sharefab.storage.models import Resource, User


def _median_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _baseline(session: Session, actor: User) -> int:
    """Every visible resource loaded with capabilities and site, filtered in Python."""
    rows = session.scalars(
        select(Resource)
        .where(or_(Resource.org_id == actor.org_id, Resource.is_public.is_(True)))
        .options(selectinload(Resource.capabilities), selectinload(Resource.site))
    ).all()
    session.expunge_all()
    return sum(
        1 for r in rows if any(c.code.startswith("separating.machining") for c in r.capabilities)
    )


def main() -> None:
    """Seed, then time the searches."""
    factories = int(os.environ.get("SEARCH_BENCH_FACTORIES", "1000"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'search.db'}"
        now = datetime(2026, 11, 23, tzinfo=UTC)
        seed_database(url, factories=factories, now=now)
        engine = make_engine(url)
        try:
            with make_session_factory(engine)() as session:
                actor = session.scalars(select(User).order_by(User.id).limit(1)).one()
                base = _median_ms(lambda: _baseline(session, actor))
                lo = now + timedelta(days=2)
                queries = {
                    "capability (subtree)": ResourceQuery(capability="separating.machining"),
                    "capability + 50 km": ResourceQuery(
                        capability="separating.machining", near=(31.3, 120.6), radius_km=50
                    ),
                    "capability + attributes": ResourceQuery(
                        capability="separating.machining.milling",
                        attributes={"tolerance_mm": 0.02, "materials": ["steel"]},
                    ),
                    "capability + free 8 h": ResourceQuery(
                        capability="separating.machining",
                        available_from=lo,
                        available_to=lo + timedelta(hours=8),
                    ),
                }
                print(
                    f"{factories} factories; baseline (load all, filter in Python): {base:.1f} ms"
                )
                print(f"{'search':<26} {'matches':>8} {'ms':>8} {'x baseline':>11}")
                for name, query in queries.items():
                    count = search_resources(session, actor, query).count
                    ms = _median_ms(lambda q=query: search_resources(session, actor, q))
                    print(f"{name:<26} {count:>8} {ms:>8.1f} {ms / base:>11.2f}")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
