"""Instant-quote latency over HTTP on the seeded 5,000-factory dataset (~50,000 resources).

For each backend (SQLite, PostgreSQL) the demo cluster is seeded with
``sharefab.services.seed.seed_database(url, factories=N)`` (kept and reused between runs:
``var/bench/quote_<N>.db`` and the PostgreSQL database ``sharefab_bench_<N>``), the real app
is started with uvicorn in a subprocess on a free port (one worker, no access log), a seeded
buyer signs in and posts a few RFQs with realistic routings, and then ``POST
/api/v1/rfqs/{id}/quotes`` is timed end to end from a keep-alive HTTP client, interleaved with
``GET /api/v1/health`` (the framework and database round-trip floor, measured in the same run
under the same load). Targets (issue 4): quote p50 <= 50 ms, p95 <= 150 ms.

``--profile`` also runs the same quotes in-process under cProfile and prints where the time
goes (cumulative, top functions).

Run: ``.venv/bin/python -m benchmarks.quote_latency [--factories 5000] [--requests 200]
[--backends sqlite,postgres] [--profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import httpx
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.pool import NullPool

from benchmarks.bench_server import (
    API,
    ROOT,
    cpu_seconds,
    login,
    percentile,
    running_server,
    summary_ms,
)

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_P50_MS = 50.0
TARGET_P95_MS = 150.0

#: Routings the buyer asks quotes for (rotated): capability, quantity, minutes per part.
ROUTINGS: list[list[tuple[str, int, float]]] = [
    [("separating.machining.milling", 50, 6.0), ("coating.painting", 50, 2.0)],
    [("separating.machining.turning", 40, 5.0), ("inspection.cmm", 40, 2.0)],
    [("primary_shaping.moulding.injection", 500, 0.5)],
    [
        ("separating.cutting.laser", 100, 1.0),
        ("forming.sheet.bending", 100, 1.0),
        ("joining.welding", 100, 2.0),
    ],
]


def database_url(backend: str, factories: int, pg_admin_url: str) -> str:
    """Where the seeded dataset of ``backend`` lives (created empty when missing)."""
    if backend == "sqlite":
        path = ROOT / "var" / "bench" / f"quote_{factories}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    name = f"sharefab_bench_{factories}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)


def ensure_seeded(url: str, factories: int) -> float:
    """Seed ``url`` unless it already holds this dataset (with fresh calendars); seconds."""
    from sharefab.services.seed import seed_database
    from sharefab.storage.db import make_engine, upgrade_database
    from sharefab.storage.models import CalendarWindow, Resource

    upgrade_database(url)
    engine = make_engine(url, null_pool=True)
    try:
        with engine.connect() as conn:
            resources = conn.scalar(select(func.count()).select_from(Resource)) or 0
            last_window = conn.scalar(select(func.max(CalendarWindow.end_at)))
    finally:
        engine.dispose()
    fresh = last_window is not None and last_window > datetime.now(UTC) + timedelta(days=14)
    if resources >= factories * 5 and fresh:
        return 0.0
    started = time.perf_counter()
    seed_database(url, factories=factories, seed=7, reset=True)
    return time.perf_counter() - started


def buyer_login(url: str) -> tuple[str, str]:
    """(email, password) of a seeded buyer's admin (the first organization with the buyer
    role: only buyers post RFQs)."""
    from sqlalchemy import select

    from sharefab.domain.demo_cluster import DEMO_PASSWORD
    from sharefab.storage.db import make_engine
    from sharefab.storage.models import Organization, User

    engine = make_engine(url, null_pool=True)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Organization.roles, User.email)
                .join(User, User.org_id == Organization.id)
                .where(User.role == "admin", User.is_platform_operator.is_(False))
                .order_by(User.id)
            )
            email = next(email for roles, email in rows if "buyer" in (roles or []))
    finally:
        engine.dispose()
    return email, DEMO_PASSWORD


def rfq_body(routing: list[tuple[str, int, float]], i: int) -> dict[str, Any]:
    """An RFQ of ``routing`` due ten days from now."""
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    return {
        "title": f"benchmark rfq {i}",
        "due_at": due.isoformat(),
        "operations": [
            {"capability": code, "quantity": qty, "unit_minutes": minutes}
            for code, qty, minutes in routing
        ],
    }


def make_rfqs(client: httpx.Client, headers: dict[str, str]) -> list[int]:
    """One RFQ per routing."""
    ids = []
    for i, routing in enumerate(ROUTINGS):
        response = client.post(f"{API}/rfqs", json=rfq_body(routing, i), headers=headers)
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


def measure(
    client: httpx.Client, headers: dict[str, str], rfq_ids: list[int], requests: int
) -> tuple[list[float], list[float], list[int]]:
    """Interleaved timings (seconds) of quotes and health checks, and option counts."""
    quotes: list[float] = []
    health: list[float] = []
    options: list[int] = []
    for i in range(requests):
        started = time.perf_counter()
        response = client.post(f"{API}/rfqs/{rfq_ids[i % len(rfq_ids)]}/quotes", headers=headers)
        quotes.append(time.perf_counter() - started)
        response.raise_for_status()
        options.append(len(response.json()["options"]))
        started = time.perf_counter()
        client.get(f"{API}/health").raise_for_status()
        health.append(time.perf_counter() - started)
    return quotes, health, options


def server_cpu_per_request(
    client: httpx.Client, headers: dict[str, str], rfq_ids: list[int], pid: int, n: int
) -> tuple[float, float]:
    """CPU seconds the server process spends per quote and per health check (load-independent;
    excludes the database server's own CPU on PostgreSQL)."""
    before = cpu_seconds(pid)
    for i in range(n):
        client.post(f"{API}/rfqs/{rfq_ids[i % len(rfq_ids)]}/quotes", headers=headers)
    middle = cpu_seconds(pid)
    for _ in range(n):
        client.get(f"{API}/health")
    return (middle - before) / n, (cpu_seconds(pid) - middle) / n


def profile_in_process(url: str, rfq_ids: list[int], email: str, rounds: int) -> str:
    """cProfile of ``rounds`` quotes run by the service in this process (top functions)."""
    from sharefab.services.quoting import compute_quote
    from sharefab.storage.db import make_engine, make_session_factory
    from sharefab.storage.models import User

    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            user = session.scalars(select(User).where(User.email == email)).one()
            for rfq_id in rfq_ids:  # warm caches as the server has them
                compute_quote(session, user, rfq_id)
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(rounds):
                compute_quote(session, user, rfq_ids[i % len(rfq_ids)])
            profiler.disable()
    finally:
        engine.dispose()
    out = StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)
    return out.getvalue()


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Seed (if needed), serve, measure one backend; returns the result row."""
    url = database_url(backend, args.factories, args.pg_admin_url)
    seeded = ensure_seeded(url, args.factories)
    email, password = buyer_login(url)
    with running_server(url) as base, httpx.Client(base_url=base, timeout=60) as client:
        headers = login(client, email, password)
        rfq_ids = make_rfqs(client, headers)
        measure(client, headers, rfq_ids, args.warmup)
        quotes, health, options = measure(client, headers, rfq_ids, args.requests)
        cpu_quote, cpu_health = server_cpu_per_request(client, headers, rfq_ids, base.pid, 40)
    row = {
        "backend": backend,
        "seed_s": seeded,
        "quotes": quotes,
        "health": health,
        "options": sum(options) / len(options),
        "cpu_quote_ms": cpu_quote * 1000,
        "cpu_health_ms": cpu_health * 1000,
        "rfq_ids": rfq_ids,
    }
    if args.profile:
        print(f"-- profile of {args.profile_rounds} quotes in-process on {backend}")
        print(profile_in_process(url, rfq_ids, email, args.profile_rounds))
    return row


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factories", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=12)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-rounds", type=int, default=40)
    args = parser.parse_args(argv if argv is not None else [])
    rows = []
    for backend in [b for b in args.backends.split(",") if b]:
        try:
            rows.append(run_backend(backend, args))
        except Exception as exc:  # report an unavailable backend and go on with the next
            print(f"{backend}: skipped ({exc.__class__.__name__}: {exc})")
    print(
        f"\nquote latency over HTTP, {args.factories:,} factories, {args.requests} quotes "
        f"({len(ROUTINGS)} routings rotated), 1 uvicorn worker, keep-alive client"
    )
    print(
        f"{'backend':<9} {'quote p50':>9} {'p95':>8} {'mean':>8} | {'health p50':>10} "
        f"{'p95':>8} {'mean':>8} | {'p50 ratio':>9} {'options':>7} {'target':>7} | "
        f"{'server CPU ms/quote':>19} {'/health':>7}"
    )
    for row in rows:
        q50 = percentile(row["quotes"], 0.5) * 1000
        q95 = percentile(row["quotes"], 0.95) * 1000
        h50 = percentile(row["health"], 0.5) * 1000
        ok = "met" if q50 <= TARGET_P50_MS and q95 <= TARGET_P95_MS else "MISSED"
        print(
            f"{row['backend']:<9} {summary_ms(row['quotes'])}  | {summary_ms(row['health'])}   | "
            f"{q50 / h50:8.1f}x {row['options']:7.1f} {ok:>7} | "
            f"{row['cpu_quote_ms']:19.1f} {row['cpu_health_ms']:7.1f}"
        )
    print(f"(ms; targets p50 <= {TARGET_P50_MS:g}, p95 <= {TARGET_P95_MS:g})")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
