"""Concurrent accepts competing for the same slots, against PostgreSQL over HTTP.

Setup (not timed): a fresh database ``sharefab_bench_accept``; ``--providers`` providers with
one unit-capacity 5-axis mill each, idle for ``--window-hours`` from tomorrow 08:00 UTC;
``--clients`` buyers, each with ``--per-client`` RFQs (one 2-hour milling operation each) and
a quote for each, all computed *before* any accept, so they all aim at the same early slots.

Timed: the real app under uvicorn with ``--workers`` processes; every client (an asyncio task
with its own aiohttp connection) fires its accepts (best-ranked option, a unique
``Idempotency-Key`` each) back to back, all clients released together. Then the checks: no
two non-cancelled bookings of a (unit-capacity) resource overlap (SQL self-join), every accept
answered 201 or 409 (a loser gets 409 with a fresh quote; nothing else is allowed), every 201
order holds all its bookings and every 409 left none. Printed: accepts per second (all answers,
and wins), latency of wins and losses, CPU of the server, its workers, PostgreSQL and the
clients, and ``GET /health`` throughput from the same clients on the same server as the
baseline.
Goal (issue 4): >= 200 accepts/s.

Run: ``.venv/bin/python -m benchmarks.accept_concurrency [--clients 32] [--per-client 24]
[--workers 2]`` (one uvicorn worker per core: 4 workers on the 2 cores cost more CPU per answer).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from benchmarks.bench_server import (
    API,
    children_cpu_seconds,
    login,
    percentile,
    running_server,
    tree_cpu_seconds,
)

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DB_NAME = "sharefab_bench_accept"
PASSWORD = "benchmark password"
MILL = "separating.machining.milling.5axis"
GOAL_PER_S = 200.0
#: Status recorded when a loop client's fresh quote had no option left to accept.
NO_OPTION = -1

OVERLAPS_SQL = """
SELECT count(*) FROM bookings a JOIN bookings b
  ON a.resource_id = b.resource_id AND a.unit = b.unit AND a.id < b.id
 AND a.start_at < b.end_at AND b.start_at < a.end_at
 JOIN resources r ON r.id = a.resource_id
WHERE a.status <> 'cancelled' AND b.status <> 'cancelled' AND r.capacity = 1
"""


def postgres_cpu(database: str = DB_NAME) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend serving ``database`` (``/proc``;
    their process titles name the database)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if f" {database} ".encode() not in (proc / "cmdline").read_bytes():
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(proc.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def postgres_cpu_since(before: dict[int, float]) -> float:
    """CPU seconds the backends of :func:`postgres_cpu` used since ``before`` (a backend that
    exited meanwhile is missed, so this is a lower bound)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


def fresh_database(admin_url: str) -> str:
    """Drop and recreate the benchmark database; migrate it; return its URL."""
    from sharefab.storage.db import upgrade_database

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    finally:
        admin.dispose()
    url = make_url(admin_url).set(database=DB_NAME).render_as_string(hide_password=False)
    upgrade_database(url)
    return url


def register(client: httpx.Client, name: str, roles: list[str]) -> dict[str, str]:
    """A new organization's admin bearer header."""
    email = f"admin@{name.lower().replace(' ', '-')}.example.com"
    body = {"org_name": name, "roles": roles, "email": email, "password": PASSWORD}
    client.post(f"{API}/auth/register", json=body).raise_for_status()
    return login(client, email, PASSWORD)


def add_mill(client: httpx.Client, headers: dict[str, str], i: int, start: datetime, hours: int):
    """One public unit-capacity mill of a provider with one idle window."""
    lat, lon = 31.2 + 0.01 * i, 120.6 + 0.01 * i
    site = client.post(
        f"{API}/sites", json={"name": f"plant {i}", "lat": lat, "lon": lon}, headers=headers
    )
    site.raise_for_status()
    body = {
        "site_id": site.json()["id"],
        "name": f"mill {i}",
        "capabilities": [{"code": MILL, "attributes": {}}],
        "hourly_rate_minor": 30000 + 100 * i,
        "currency": "CNY",
        "capacity": 1,
        "is_public": True,
    }
    resource = client.post(f"{API}/resources", json=body, headers=headers)
    resource.raise_for_status()
    window = {"start_at": start.isoformat(), "end_at": (start + timedelta(hours=hours)).isoformat()}
    client.post(
        f"{API}/resources/{resource.json()['id']}/windows", json=window, headers=headers
    ).raise_for_status()


def prepare(
    base: str, args: argparse.Namespace
) -> tuple[list[tuple[dict[str, str], list[tuple]]], list[tuple[dict[str, str], list[int]]]]:
    """Providers, machines, buyers, RFQs and quotes. Per client: (headers, [(quote, option,
    lots)]) for the race, and (headers, [rfq ids]) for the quote-then-accept loop."""
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=8, minute=0, second=0,
                                                            microsecond=0)  # fmt: skip
    due = (start + timedelta(days=10)).isoformat()
    clients: list[tuple[dict[str, str], list[tuple]]] = []
    loops: list[tuple[dict[str, str], list[int]]] = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for i in range(args.providers):
            add_mill(client, register(client, f"Provider {i}", ["provider"]), i, start,
                     args.window_hours)  # fmt: skip
        for c in range(args.clients):
            headers = register(client, f"Buyer {c}", ["buyer"])
            plans = []
            loop_rfqs = []
            for k in range(args.per_client + args.loop_per_client):
                rfq = client.post(
                    f"{API}/rfqs",
                    json={
                        "title": f"bench {c}-{k}",
                        "due_at": due,
                        "operations": [{"capability": MILL, "quantity": 4, "unit_minutes": 30}],
                    },
                    headers=headers,
                )
                rfq.raise_for_status()
                if k >= args.per_client:
                    loop_rfqs.append(rfq.json()["id"])
                    continue
                offer = client.post(f"{API}/rfqs/{rfq.json()['id']}/quotes", headers=headers)
                offer.raise_for_status()
                options = offer.json()["options"]
                if options:
                    plans.append(
                        (offer.json()["id"], options[0]["id"], len(options[0]["plan"]["lots"]))
                    )
            clients.append((headers, plans))
            loops.append((headers, loop_rfqs))
    return clients, loops


def fire(
    base: str, jobs: list[tuple[dict[str, str], list[Any]]], call: str
) -> tuple[float, list[tuple[int, float, int]]]:
    """All clients released together; ``call`` is ``accept`` (prepared quotes), ``loop`` (quote
    then accept each RFQ id) or ``health``; returns (wall seconds, [(status, latency of the
    accept or health call, lots booked if accepted)]).

    Each client is an asyncio task with its own aiohttp session (its own keep-alive
    connection), all in this one process: 32 httpx client threads spent 2.5-6.3 ms of CPU per
    answer here (mostly contending for the GIL), on the same 2 cores as the server."""
    return asyncio.run(_fire(base, jobs, call))


async def _fire(
    base: str, jobs: list[tuple[dict[str, str], list[Any]]], call: str
) -> tuple[float, list[tuple[int, float, int]]]:
    results: list[tuple[int, float, int]] = []
    go = asyncio.Event()
    ready = 0

    async def run(headers: dict[str, str], plans: list[Any]) -> None:
        nonlocal ready
        timeout = aiohttp.ClientTimeout(total=300)
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(base, timeout=timeout, connector=connector) as client:
            async with client.get(f"{API}/health") as warm:  # open the connection first
                await warm.read()
            ready += 1
            await go.wait()
            for plan in plans:
                if call == "loop":  # a fresh quote first (sees every booking made so far)
                    async with client.post(f"{API}/rfqs/{plan}/quotes", headers=headers) as offer:
                        body = await offer.json() if offer.status == 201 else {}
                    options = body.get("options")
                    if not options:  # capacity exhausted (or the quote failed): no accept
                        results.append((NO_OPTION if offer.status == 201 else offer.status,
                                        0.0, 0))  # fmt: skip
                        continue
                    option = options[0]
                    plan = (body["id"], option["id"], len(option["plan"]["lots"]))
                started = time.perf_counter()
                lots = 0
                if call in ("accept", "loop"):
                    quote_id, option_id, lots = plan
                    request = client.post(
                        f"{API}/quotes/{quote_id}/accept",
                        json={"option_id": option_id},
                        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                    )
                else:
                    request = client.get(f"{API}/health")
                async with request as response:
                    await response.read()
                results.append((response.status, time.perf_counter() - started, lots))

    tasks = [asyncio.create_task(run(*job)) for job in jobs]
    while ready < len(jobs):
        await asyncio.sleep(0.01)
        for task in tasks:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    started = time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    return time.perf_counter() - started, results


def check_database(url: str) -> dict[str, int]:
    """Overlaps on unit-capacity resources, bookings, orders, orders missing bookings."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {
                "overlaps": conn.scalar(text(OVERLAPS_SQL)) or 0,
                "bookings": conn.scalar(
                    text("SELECT count(*) FROM bookings WHERE status <> 'cancelled'")
                )
                or 0,
                "orders": conn.scalar(text("SELECT count(*) FROM orders")) or 0,
                "partial": conn.scalar(
                    text(
                        "SELECT count(*) FROM orders o WHERE (SELECT count(*) FROM work_orders w "
                        "JOIN bookings b ON b.id = w.booking_id WHERE w.order_id = o.id "
                        "AND b.status <> 'cancelled') = 0"
                    )
                )
                or 0,
            }
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--per-client", type=int, default=24)
    parser.add_argument("--loop-per-client", type=int, default=4)
    parser.add_argument("--providers", type=int, default=8)
    parser.add_argument("--window-hours", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    args = parser.parse_args(argv if argv is not None else [])
    try:
        url = fresh_database(args.pg_admin_url)
    except Exception as exc:  # no PostgreSQL: say so and stop
        print(f"accept concurrency: PostgreSQL unavailable ({exc.__class__.__name__}); skipped")
        return
    with running_server(url, workers=args.workers) as base:
        started = time.perf_counter()
        jobs, loops = prepare(base, args)
        setup_s = time.perf_counter() - started
        cpu, pg_cpu = tree_cpu_seconds(base.pid), postgres_cpu()
        per_worker = children_cpu_seconds(base.pid)
        client_cpu = time.process_time()
        wall, answers = fire(base, jobs, "accept")
        client_cpu = time.process_time() - client_cpu
        accept_cpu = tree_cpu_seconds(base.pid) - cpu
        worker_shares = sorted(
            (used - per_worker.get(pid, 0.0)) / wall
            for pid, used in children_cpu_seconds(base.pid).items()
        )
        accept_pg_cpu = postgres_cpu_since(pg_cpu)
        loop_wall, loop_answers = fire(base, loops, "loop") if args.loop_per_client else (1, [])
        health_jobs = [(h, [None] * max(len(p), 1) * 4) for h, p in jobs]
        cpu = tree_cpu_seconds(base.pid)
        health_wall, health = fire(base, health_jobs, "health")
        health_cpu = tree_cpu_seconds(base.pid) - cpu
    checks = check_database(url)
    statuses = [s for s, _t, _n in answers]
    wins = [t for s, t, _n in answers if s == 201]
    losses = [t for s, t, _n in answers if s == 409]
    other = len(statuses) - len(wins) - len(losses)
    rate = len(answers) / wall
    health_rate = len(health) / health_wall
    print(
        f"accept concurrency (PostgreSQL, {args.workers} uvicorn workers): {args.clients} "
        f"clients x {args.per_client} accepts on {args.providers} unit-capacity mills "
        f"({args.window_hours} h idle each), setup {setup_s:.0f} s"
    )
    print(f"  answers: {len(wins)} x 201, {len(losses)} x 409, {other} other (must be 0)")
    print(
        f"  accepts/s: {rate:8.1f} (wins/s {len(wins) / wall:6.1f}) | health/s "
        f"{health_rate:8.1f} | ratio {rate / health_rate:5.2f} | goal {GOAL_PER_S:g}/s: "
        f"{'met' if rate >= GOAL_PER_S else 'MISSED'}"
    )
    print(
        f"  server CPU (uvicorn workers, not PostgreSQL): {1000 * accept_cpu / len(answers):.1f}"
        f" ms per accept answer, {1000 * health_cpu / len(health):.1f} ms per health check"
    )
    print(
        f"  PostgreSQL CPU (backends of this database): {1000 * accept_pg_cpu / len(answers):.1f}"
        " ms per"
        f" accept answer; both together {(accept_cpu + accept_pg_cpu) / wall:.2f} of the 2 cores"
        f" over the {wall:.2f} s"
    )
    print(
        "  per uvicorn worker (a worker's Python runs on one core at a time): "
        + ", ".join(f"{share:.2f}" for share in worker_shares)
        + " of a core"
    )
    print(
        f"  client CPU (this process, all {args.clients} clients): "
        f"{1000 * client_cpu / len(answers):.1f} ms per accept answer, "
        f"{client_cpu / wall:.2f} of the 2 cores"
    )
    for name, values in (("201", wins), ("409", losses), ("health", [t for _s, t, _n in health])):
        if values:
            print(
                f"  latency {name:<6} p50 {percentile(values, 0.5) * 1000:8.1f} ms  p95 "
                f"{percentile(values, 0.95) * 1000:8.1f} ms  mean "
                f"{statistics.fmean(values) * 1000:8.1f} ms"
            )
    loop_accepts = [(s, t, n) for s, t, n in loop_answers if s != NO_OPTION]
    loop_wins = [t for s, t, _n in loop_accepts if s == 201]
    loop_other = sum(1 for s, _t, _n in loop_accepts if s not in (201, 409))
    if loop_answers:
        print(
            f"  quote-then-accept loop ({args.loop_per_client} per client): "
            f"{len(loop_wins)} x 201, {len(loop_accepts) - len(loop_wins) - loop_other} x 409, "
            f"{loop_other} other, {len(loop_answers) - len(loop_accepts)} without options; "
            f"{len(loop_accepts) / loop_wall:.1f} accepts/s including quoting; accept call p50 "
            f"{percentile([t for _s, t, _n in loop_accepts], 0.5) * 1000:.1f} ms"
            if loop_accepts
            else "  quote-then-accept loop: no accepts"
        )
    expected_bookings = sum(n for s, _t, n in [*answers, *loop_accepts] if s == 201)
    ok = checks["overlaps"] == 0 and other == 0 and loop_other == 0 and checks["partial"] == 0
    ok = ok and checks["orders"] == len(wins) + len(loop_wins)
    ok = ok and checks["bookings"] == expected_bookings
    print(
        f"  database: {checks['overlaps']} overlapping bookings, {checks['orders']} orders, "
        f"{checks['bookings']} bookings, {checks['partial']} orders without bookings -> "
        f"{'OK' if ok else 'FAILED'} (expected {expected_bookings} bookings)"
    )


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
