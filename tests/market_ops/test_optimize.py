"""Re-optimisation of a hand-made cluster on both backends: lateness provably drops, started
work and promised dates hold, a dry run writes nothing, bookings never overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from sharefab.cli import app as cli
from sharefab.services import webhooks
from sharefab.services.errors import NotFound, PermissionDenied
from sharefab.services.optimize import optimize_cluster
from sharefab.storage.market_models import Order, WorkOrder
from sharefab.storage.models import Booking, Site, User
from sharefab.storage.ops_models import OptimizationRun
from sharefab.storage.webhook_models import WebhookDelivery

from .conftest import register
from .helpers import make_org
from .market_builders import MILL as MILL_CODE
from .market_builders import make_cluster, make_machine, make_order

API = "/api/v1"
NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)
LIMIT_S = 3.0


def _world(session_factory: sessionmaker[Session], *, two_machines: bool = True) -> dict:
    """Cluster with provider P (mills R1 and, optionally, R2 on one site) and buyer B."""
    with session_factory() as session, session.begin():
        cluster = make_cluster(session)
        provider, admin = make_org(session, "Precision Parts")
        buyer, _ = make_org(session, "Buyer Co")
        site = Site(org_id=provider.id, cluster_id=cluster.id, name="Plant", lat=31.3, lon=120.7)
        session.add(site)
        session.flush()
        window = [(NOW - 2 * H, NOW + 72 * H)]
        r1 = make_machine(session, provider, site, "R1", windows=window)
        r2 = make_machine(session, provider, site, "R2", windows=window) if two_machines else None
        return {
            "cluster": cluster.id,
            "provider": provider,
            "admin": admin,
            "buyer": buyer,
            "r1": r1,
            "r2": r2,
        }


def _bookings(session_factory: sessionmaker[Session]) -> list[tuple]:
    with session_factory() as session:
        rows = session.scalars(select(Booking).order_by(Booking.id))
        return [(b.id, b.resource_id, b.unit, b.start_at, b.end_at, b.status) for b in rows]


def _work_orders(session_factory: sessionmaker[Session]) -> dict[str, list[WorkOrder]]:
    with session_factory() as session:
        out: dict[str, list[WorkOrder]] = {}
        stmt = select(Order.ref, WorkOrder).join(Order).order_by(WorkOrder.position)
        for ref, wo in session.execute(stmt):
            out.setdefault(ref, []).append(wo)
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


def _late_world(session_factory: sessionmaker[Session]) -> dict:
    """Z: started on R1 until NOW+3h, its second step far too late; A: late on R1, R2 idle."""
    w = _world(session_factory)
    with session_factory() as session, session.begin():
        make_order(
            session,
            ref="Z",
            buyer=w["buyer"],
            provider=w["provider"],
            due_at=NOW + 10 * H,
            promised_at=NOW + 40 * H,
            lots=[(w["r1"], NOW - H, 4, "started"), (w["r1"], NOW + 30 * H, 2, "pending")],
        )
        make_order(
            session,
            ref="A",
            buyer=w["buyer"],
            provider=w["provider"],
            due_at=NOW + 8 * H,
            promised_at=NOW + 30 * H,
            lots=[(w["r1"], NOW + 20 * H, 4, "pending")],
        )
    return w


def test_reoptimisation_cuts_lateness_without_touching_started_work(
    session_factory: sessionmaker[Session],
) -> None:
    w = _late_world(session_factory)
    with session_factory() as session:
        webhooks.create_subscription(
            session, w["admin"], url="https://mes.example.com/h", event_types=["*"]
        )
    started_before = _work_orders(session_factory)["Z"][0]
    started_booking = [b for b in _bookings(session_factory) if b[0] == started_before.booking_id]

    result = optimize_cluster(session_factory, w["cluster"], time_limit_s=LIMIT_S, now=NOW)

    assert result.status == "applied", result.message
    assert result.before is not None and result.after is not None
    assert result.before.lateness_h == pytest.approx(22 + 16)  # Z 22 h late, A 16 h late
    assert result.after.lateness_h == 0 < result.before.lateness_h
    assert result.after.makespan_h < result.before.makespan_h
    assert result.after.utilisation > result.before.utilisation
    assert result.after.moved == len(result.moves) == 2
    orders = _work_orders(session_factory)
    # Started work: the same booking, untouched.
    assert orders["Z"][0].booking_id == started_before.booking_id
    assert [b for b in _bookings(session_factory) if b[0] == started_before.booking_id] == (
        started_booking
    )
    # Z's next step waits for the started step; nothing ends after its promised date.
    assert orders["Z"][1].start_at >= orders["Z"][0].end_at
    assert orders["Z"][1].end_at <= NOW + 40 * H and orders["A"][0].end_at <= NOW + 30 * H
    assert orders["A"][0].end_at <= NOW + 8 * H and orders["Z"][1].end_at <= NOW + 10 * H
    assert orders["A"][0].start_at >= NOW + timedelta(minutes=30)  # frozen zone respected
    assert _overlaps(session_factory) == 0
    with session_factory() as session:
        for wo in orders["A"] + orders["Z"][1:]:
            booking = session.get_one(Booking, wo.booking_id)
            assert (booking.resource_id, booking.start_at, booking.end_at) == (
                wo.resource_id,
                wo.start_at,
                wo.end_at,
            )
            assert booking.status == "confirmed"
        cancelled = session.scalars(select(Booking).where(Booking.status == "cancelled")).all()
        assert len(cancelled) == 2
        run = session.get_one(OptimizationRun, result.run_id)
        assert run.status == "applied" and len(run.moves) == 2
        assert run.kpis_after["lateness_h"] == 0
        events = session.scalars(select(WebhookDelivery.event_type)).all()
        assert events == ["booking.rescheduled", "booking.rescheduled"]


def test_dry_run_reports_the_same_improvement_and_writes_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    w = _late_world(session_factory)
    bookings = _bookings(session_factory)
    result = optimize_cluster(
        session_factory, w["cluster"], time_limit_s=LIMIT_S, now=NOW, dry_run=True
    )
    assert result.status == "dry_run"
    assert result.after is not None and result.after.lateness_h == 0
    assert len(result.moves) == 2
    assert _bookings(session_factory) == bookings
    with session_factory() as session:
        assert session.get_one(OptimizationRun, result.run_id).status == "dry_run"


def test_promised_dates_are_hard_even_when_breaking_one_would_cut_lateness(
    session_factory: sessionmaker[Session],
) -> None:
    """One machine. Swapping X and Y would cut lateness most but push X past its promise."""
    w = _world(session_factory, two_machines=False)
    with session_factory() as session, session.begin():
        common = {"buyer": w["buyer"], "provider": w["provider"]}
        make_order(
            session, ref="X", due_at=NOW + 5 * H, promised_at=NOW + 6 * H,
            lots=[(w["r1"], NOW + H, 4, "pending")], **common,
        )  # fmt: skip
        make_order(
            session, ref="Y", due_at=NOW + 3 * H, promised_at=NOW + 20 * H,
            lots=[(w["r1"], NOW + 5 * H, 2, "pending")], **common,
        )  # fmt: skip
    result = optimize_cluster(session_factory, w["cluster"], time_limit_s=LIMIT_S, now=NOW)
    assert result.before is not None and result.before.lateness_h == 4
    assert result.status == "applied", result.message
    # The unconstrained optimum (Y first: 2 h late in total) breaks X's promise; the bounded
    # one runs X at once and Y right after: 3.5 h late.
    assert "promised date" in result.message
    assert result.after is not None and result.after.lateness_h == 3.5
    orders = _work_orders(session_factory)
    assert orders["X"][0].end_at <= NOW + 6 * H
    assert orders["Y"][0].end_at <= NOW + 20 * H
    assert _overlaps(session_factory) == 0


def test_nothing_movable_and_bad_requests(session_factory: sessionmaker[Session]) -> None:
    w = _world(session_factory)
    result = optimize_cluster(session_factory, w["cluster"], time_limit_s=1, now=NOW)
    assert (result.status, result.operations, result.moves) == ("no_improvement", 0, [])
    with pytest.raises(NotFound):
        optimize_cluster(session_factory, 999, time_limit_s=1, now=NOW)
    with pytest.raises(PermissionDenied):
        optimize_cluster(session_factory, w["cluster"], time_limit_s=1, actor=w["admin"])


def test_operator_endpoint_reports_kpis_and_refuses_other_users(
    session_factory: sessionmaker[Session], client: TestClient
) -> None:
    w = _late_world(session_factory)
    tenant = register(client, "Platform Ops", "ops@platform.example.com")
    body = {"cluster_id": w["cluster"], "time_limit_s": LIMIT_S, "dry_run": True}
    refused = client.post(f"{API}/operator/optimize", json=body, headers=tenant.headers)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    with session_factory() as session, session.begin():
        session.get_one(User, tenant.user_id).is_platform_operator = True
    # made outside the server, like the CLI would: the server trusts the user it verified for
    # SHAREFAB_AUTH_CACHE_SECONDS; let that time pass
    client.app.state.user_cache.forget(tenant.user_id)  # type: ignore[attr-defined]
    bookings = _bookings(session_factory)

    response = client.post(f"{API}/operator/optimize", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "dry_run" and run["dry_run"] is True
    assert run["before"]["lateness_h"] > run["after"]["lateness_h"] == 0
    assert len(run["moves"]) == run["after"]["moved"] == 2
    assert _bookings(session_factory) == bookings
    stored = client.get(f"{API}/operator/optimize/{run['run_id']}", headers=tenant.headers)
    assert stored.status_code == 200 and stored.json()["status"] == "dry_run"
    assert stored.json()["finished_at"] is not None
    bad = client.post(f"{API}/operator/optimize", json={"cluster_id": 999}, headers=tenant.headers)
    assert bad.status_code == 404


def test_cli_prints_before_and_after_and_applies(
    session_factory: sessionmaker[Session], db_url: str
) -> None:
    w = _late_world(session_factory)
    runner = CliRunner()
    dry = runner.invoke(
        cli, ["optimize", "--cluster", "Suzhou SIP", "--dry-run", "--time-limit", "2",
              "--db", db_url],
    )  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert "dry_run" in dry.output and "lateness vs due" in dry.output
    assert _overlaps(session_factory) == 0
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Booking.status == "cancelled")) == 0
    applied = runner.invoke(
        cli, ["optimize", "--cluster", str(w["cluster"]), "--time-limit", "2", "--db", db_url]
    )
    assert applied.exit_code == 0, applied.output
    assert "applied" in applied.output
    with session_factory() as session:
        assert session.scalar(select(func.count()).where(Booking.status == "cancelled")) == 2
    unknown = runner.invoke(cli, ["optimize", "--cluster", "Atlantis", "--db", db_url])
    assert unknown.exit_code == 1
    assert "unknown cluster 'Atlantis'" in unknown.output


def test_reoptimisation_of_an_order_accepted_through_the_marketplace(
    session_factory: sessionmaker[Session], client: TestClient
) -> None:
    """An order is booked on the only idle mill, late; then the provider's second mill
    publishes earlier capacity, and re-optimisation moves the work there."""
    with session_factory() as session, session.begin():
        cluster_id = make_cluster(session).id
    provider = register(client, "Suzhou Mills", "admin@mills.example.com")
    buyer = register(client, "Shanghai Robotics", "admin@robotics.example.com", ["buyer"])
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    site = client.post(
        f"{API}/sites",
        json={"name": "Plant", "lat": 31.3, "lon": 120.6, "cluster_id": cluster_id},
        headers=provider.headers,
    ).json()
    mills = []
    for name, window in (("A", (3, 6)), ("B", None)):
        body = {
            "site_id": site["id"],
            "name": f"mill {name}",
            "capabilities": [{"code": MILL_CODE, "attributes": {}}],
            "hourly_rate_minor": 30000,
            "currency": "CNY",
            "is_public": True,
        }
        mills.append(client.post(f"{API}/resources", json=body, headers=provider.headers).json())
        if window:
            span = {
                "start_at": (today + timedelta(days=window[0])).isoformat(),
                "end_at": (today + timedelta(days=window[1])).isoformat(),
            }
            client.post(
                f"{API}/resources/{mills[-1]['id']}/windows", json=span, headers=provider.headers
            )
    rfq = client.post(
        f"{API}/rfqs",
        json={
            "title": "brackets",
            "due_at": (today + timedelta(days=2)).isoformat(),
            "operations": [{"capability": MILL_CODE, "quantity": 10, "unit_minutes": 30}],
        },
        headers=buyer.headers,
    ).json()
    quote = client.post(f"{API}/rfqs/{rfq['id']}/quotes", headers=buyer.headers).json()
    option = quote["options"][0]
    accepted = client.post(
        f"{API}/quotes/{quote['id']}/accept",
        json={"option_id": option["id"]},
        headers=buyer.headers,
    )
    assert accepted.status_code == 201, accepted.text
    [work] = _work_orders(session_factory)[accepted.json()["ref"]]
    assert work.resource_id == mills[0]["id"]  # the only mill with idle time
    span = {
        "start_at": (today + timedelta(days=1)).isoformat(),
        "end_at": (today + timedelta(days=6)).isoformat(),
    }
    published = client.post(
        f"{API}/resources/{mills[1]['id']}/windows", json=span, headers=provider.headers
    )
    assert published.status_code == 201, published.text

    result = optimize_cluster(session_factory, cluster_id, time_limit_s=LIMIT_S)

    assert result.status == "applied", result.message
    assert result.before is not None and result.after is not None
    assert result.after.lateness_h < result.before.lateness_h
    [moved] = _work_orders(session_factory)[accepted.json()["ref"]]
    assert moved.resource_id == mills[1]["id"]
    assert moved.end_at < work.end_at
    assert moved.end_at <= datetime.fromisoformat(option["delivery_at"])
    order = client.get(f"{API}/orders/{accepted.json()['id']}", headers=buyer.headers).json()
    assert order["state"] == accepted.json()["state"]  # the lifecycle is untouched
    assert _overlaps(session_factory) == 0
