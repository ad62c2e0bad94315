"""Re-optimising several clusters at once: each cluster's solve is one task of an executor
(inline or Ray); every cluster's plan is applied in its own transaction with the same
guarantees as one cluster alone (started work untouched, promised dates hold, no overlap);
a cluster whose solve fails is reported by name and the others still apply. SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from sharefab.cli import app as cli
from sharefab.scheduling.executors import InlineExecutor, RayExecutor
from sharefab.services import optimize as service
from sharefab.services.errors import NotFound
from sharefab.services.optimize import optimize_clusters
from sharefab.storage.market_models import Order, WorkOrder
from sharefab.storage.models import Booking, Site
from sharefab.storage.ops_models import OptimizationRun

from .helpers import make_org
from .market_builders import make_cluster, make_machine, make_order

NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
LIMIT_S = 3.0

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    """A local Ray with 2 CPUs for this module, shut down at its end."""
    ray = pytest.importorskip("ray")
    executor = RayExecutor(num_cpus=2)
    executor.start()  # the CLI's own executor then uses this Ray (and leaves it running)
    yield executor
    executor.close()
    assert not ray.is_initialized()


def _late_cluster(session: Session, n: int) -> int:
    """Cluster ``n``: Z started on R1 until NOW+3h, its second step far too late; A late on
    R1 while R2 is idle (both fixable without breaking a promise)."""
    cluster = make_cluster(session, f"Cluster {n}")
    provider, _ = make_org(session, f"Parts {n}")
    buyer, _ = make_org(session, f"Buyer {n}")
    site = Site(org_id=provider.id, cluster_id=cluster.id, name="Plant", lat=31.3, lon=120.7)
    session.add(site)
    session.flush()
    window = [(NOW - 2 * H, NOW + 72 * H)]
    r1 = make_machine(session, provider, site, f"R1-{n}", windows=window)
    make_machine(session, provider, site, f"R2-{n}", windows=window)
    common = {"buyer": buyer, "provider": provider}
    make_order(
        session, ref=f"Z{n}", due_at=NOW + 10 * H, promised_at=NOW + 40 * H,
        lots=[(r1, NOW - H, 4, "started"), (r1, NOW + 30 * H, 2, "pending")], **common,
    )  # fmt: skip
    make_order(
        session, ref=f"A{n}", due_at=NOW + 8 * H, promised_at=NOW + 30 * H,
        lots=[(r1, NOW + 20 * H, 4, "pending")], **common,
    )  # fmt: skip
    return cluster.id


def _two_clusters(session_factory: sessionmaker[Session]) -> list[int]:
    with session_factory() as session, session.begin():
        return [_late_cluster(session, 1), _late_cluster(session, 2)]


def _snapshot(session_factory: sessionmaker[Session]) -> dict[str, list[tuple]]:
    """Order ref -> (progress, booking id, resource, start, end) of each work order."""
    with session_factory() as session:
        out: dict[str, list[tuple]] = {}
        stmt = select(Order.ref, WorkOrder).join(Order).order_by(WorkOrder.position)
        for ref, wo in session.execute(stmt):
            out.setdefault(ref, []).append(
                (wo.progress, wo.booking_id, wo.resource_id, wo.start_at, wo.end_at)
            )
        return out


def _overlaps(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.scalar(
            text(
                "SELECT count(*) FROM bookings a JOIN bookings b ON a.resource_id = b.resource_id"
                " AND a.unit = b.unit AND a.id < b.id AND a.start_at < b.end_at"
                " AND b.start_at < a.end_at"
                " WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'"
            )
        )


def test_two_clusters_on_ray_match_inline_and_apply_with_the_guarantees(
    session_factory: sessionmaker[Session], ray_executor: RayExecutor
) -> None:
    clusters = _two_clusters(session_factory)
    before = _snapshot(session_factory)

    dry = optimize_clusters(
        session_factory, clusters, executor=InlineExecutor(), time_limit_s=LIMIT_S, now=NOW,
        dry_run=True,
    )  # fmt: skip
    assert _snapshot(session_factory) == before
    stages: list[tuple[str, str]] = []
    results = optimize_clusters(
        session_factory, [*clusters, clusters[0]], executor=ray_executor, time_limit_s=LIMIT_S,
        now=NOW, progress=lambda stage, info: stages.append((stage, info)),
    )  # fmt: skip

    assert [r.cluster_id for r in results] == [r.cluster_id for r in dry] == clusters
    assert [r.status for r in dry] == ["dry_run", "dry_run"]
    assert [r.status for r in results] == ["applied", "applied"], [r.message for r in results]
    for inline, on_ray in zip(dry, results, strict=True):
        assert inline.before == on_ray.before and inline.before is not None
        assert inline.before.lateness_h == pytest.approx(22 + 16)
        assert inline.after is not None and on_ray.after is not None
        assert inline.after.lateness_h == on_ray.after.lateness_h == 0
        assert on_ray.after.moved == len(on_ray.moves) == 2
    assert ("solving", "2 cluster(s), 3 s each on ray") in stages
    assert sum(1 for stage, info in stages if "clusters solved" in info) == 2

    after = _snapshot(session_factory)
    for n in (1, 2):
        z, a = after[f"Z{n}"], after[f"A{n}"]
        assert z[0] == before[f"Z{n}"][0]  # started work: same booking, same times
        assert z[1][3] >= z[0][4]  # the next step waits for it
        assert z[1][4] <= NOW + 10 * H and a[0][4] <= NOW + 8 * H  # due, so promised too
        assert a[0][3] >= NOW + timedelta(minutes=30)  # frozen zone respected
    assert _overlaps(session_factory) == 0
    with session_factory() as session:
        runs = session.scalars(select(OptimizationRun).order_by(OptimizationRun.id)).all()
        assert [(r.cluster_id, r.status) for r in runs] == [
            (clusters[0], "dry_run"),
            (clusters[1], "dry_run"),
            (clusters[0], "applied"),
            (clusters[1], "applied"),
        ]
        cancelled = session.scalars(select(Booking).where(Booking.status == "cancelled")).all()
        assert len(cancelled) == 4


def test_a_cluster_whose_solve_fails_is_named_and_the_others_still_apply(
    session_factory: sessionmaker[Session], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clusters = _two_clusters(session_factory)
    before = _snapshot(session_factory)
    real = service._solve

    def solve_or_fail(plan, time_limit_s, progress):  # type: ignore[no-untyped-def]
        if plan.cluster_id == clusters[1]:
            raise RuntimeError("solver crashed")
        return real(plan, time_limit_s, progress)

    monkeypatch.setattr(service, "_solve", solve_or_fail)
    results = optimize_clusters(session_factory, clusters, time_limit_s=LIMIT_S, now=NOW)
    assert [r.status for r in results] == ["applied", "failed"]
    assert results[1].message == "RuntimeError: solver crashed"
    with session_factory() as session:
        run = session.get_one(OptimizationRun, results[1].run_id)
        assert (run.status, run.message, run.moves) == ("failed", results[1].message, [])
    after = _snapshot(session_factory)
    assert after["A1"] != before["A1"]  # cluster 1 applied
    assert {k: v for k, v in after.items() if k.endswith("2")} == {
        k: v for k, v in before.items() if k.endswith("2")
    }  # cluster 2 untouched

    with pytest.raises(NotFound):
        optimize_clusters(session_factory, [clusters[0], 999], time_limit_s=1, now=NOW)

    runner = CliRunner()
    out = runner.invoke(
        cli, ["optimize", "--cluster", "all", "--dry-run", "--time-limit", "2", "--db", db_url]
    )
    assert out.exit_code == 1
    assert f"cluster {clusters[1]}: RuntimeError: solver crashed" in out.output
    assert "1 of 2 cluster(s) failed" in out.output


def test_cli_runs_several_clusters_on_ray(
    session_factory: sessionmaker[Session], db_url: str, ray_executor: RayExecutor
) -> None:
    clusters = _two_clusters(session_factory)
    runner = CliRunner()
    out = runner.invoke(
        cli, ["optimize", "--cluster", "Cluster 1", "--cluster", str(clusters[1]),
              "--executor", "ray", "--time-limit", "2", "--db", db_url],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    for cid in clusters:
        assert f"Cluster {cid} re-optimisation: applied" in out.output
    assert _overlaps(session_factory) == 0
    bad = runner.invoke(cli, ["optimize", "--cluster", "all", "--executor", "dask"])
    assert bad.exit_code == 1 and "unknown executor 'dask'" in bad.output
