"""Cluster re-optimisation on a synthetic backlog: KPIs before and after, and the run time.

A cluster with ``--providers`` providers (one site each, ``--machines`` mills per provider, idle
two weeks) holds ``--orders`` accepted orders of 1-3 chained operations (1-6 h each), booked
first-come-first-served with random idle gaps, as a marketplace accumulates them; due dates
20-200 h out, promised dates 48 h after the booked completion. Then
:func:`sharefab.services.optimize.optimize_cluster` re-plans the movable work (``solve`` auto,
warm-started from the current plan, validated, promised dates hard) and applies it. The
baseline is the current plan itself (the "before" column). Every number is recomputed from the
database afterwards: no overlap, no order past its promised date.

Run: ``.venv/bin/python -m benchmarks.reoptimise [--orders 120] [--time-limit 20]``
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from sharefab.storage.bookings import insert_booking
from sharefab.storage.market_models import Order, Quote, QuoteOption, Rfq, RfqOperation, WorkOrder
from sharefab.storage.models import (
    CalendarWindow,
    Cluster,
    Organization,
    Resource,
    ResourceCapability,
    Site,
)

MILL = "separating.machining.milling.5axis"
H = timedelta(hours=1)

OVERLAPS = """SELECT count(*) FROM bookings a JOIN bookings b ON a.resource_id = b.resource_id
 AND a.unit = b.unit AND a.id < b.id AND a.start_at < b.end_at AND b.start_at < a.end_at
 WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'"""
PAST_PROMISE = """SELECT count(*) FROM work_orders w JOIN orders o ON o.id = w.order_id
 JOIN bookings b ON b.id = w.booking_id
 WHERE b.status <> 'cancelled' AND w.end_at > o.promised_at"""


def _order(
    session: Session,
    ref: str,
    buyer: int,
    provider: int,
    due: datetime,
    lots: list[tuple[Resource, datetime, int]],
) -> None:
    promised = lots[-1][1] + timedelta(hours=lots[-1][2] + 48)
    rfq = Rfq(buyer_org_id=buyer, title=ref, due_at=due, currency="CNY")
    session.add(rfq)
    session.flush()
    quote = Quote(rfq_id=rfq.id, buyer_org_id=buyer, valid_until=due)
    session.add(quote)
    session.flush()
    option = QuoteOption(
        quote_id=quote.id, label="fastest", rank=1, total_minor=1, currency="CNY",
        delivery_at=promised, plan={"lots": [], "transport": []},
    )  # fmt: skip
    session.add(option)
    session.flush()
    order = Order(
        ref=ref, buyer_org_id=buyer, rfq_id=rfq.id, quote_id=quote.id, option_id=option.id,
        state="scheduled", total_minor=1, currency="CNY", promised_at=promised,
    )  # fmt: skip
    session.add(order)
    session.flush()
    for position, (resource, start, hours) in enumerate(lots):
        op = RfqOperation(
            rfq_id=rfq.id, position=position, capability=MILL, attributes={}, quantity=hours,
            unit_minutes=60.0, setup_minutes=0, after=[position - 1] if position else [],
        )  # fmt: skip
        session.add(op)
        session.flush()
        end = start + timedelta(hours=hours)
        booking = insert_booking(session, resource.id, start, end, order_ref=ref)
        session.add(
            WorkOrder(
                order_id=order.id, provider_org_id=provider, rfq_operation_id=op.id,
                position=position, capability=MILL, resource_id=resource.id,
                site_id=resource.site_id, booking_id=booking.id, start_at=start, end_at=end,
                quantity=hours, price_minor=1, currency="CNY",
            )
        )  # fmt: skip


def build(session: Session, args: argparse.Namespace, now: datetime) -> int:
    """The cluster and its backlog; returns the cluster id."""
    rng = random.Random(args.seed)
    cluster = Cluster(name="Benchmark park", lat=31.3, lon=120.7)
    buyer = Organization(name="Buyer", roles=["buyer"])
    session.add_all([cluster, buyer])
    session.flush()
    providers: list[tuple[int, list[Resource]]] = []
    for p in range(args.providers):
        org = Organization(name=f"Provider {p}", roles=["provider"])
        session.add(org)
        session.flush()
        site = Site(org_id=org.id, cluster_id=cluster.id, name=f"P{p}", lat=31.3 + 0.1 * p,
                    lon=120.7)  # fmt: skip
        session.add(site)
        session.flush()
        mills = []
        for i in range(args.machines):
            mill = Resource(org_id=org.id, site_id=site.id, name=f"M{p}.{i}", currency="CNY")
            session.add(mill)
            session.flush()
            session.add(ResourceCapability(resource_id=mill.id, code=MILL, attributes={}))
            session.add(
                CalendarWindow(resource_id=mill.id, start_at=now - 2 * H, end_at=now + 336 * H)
            )
            mills.append(mill)
        providers.append((org.id, mills))
    free = {m.id: now + H for _, mills in providers for m in mills}
    for k in range(args.orders):
        org_id, mills = rng.choice(providers)
        lots: list[tuple[Resource, datetime, int]] = []
        ready = now
        for _ in range(rng.randint(1, 3)):
            mill, hours = rng.choice(mills), rng.randint(1, 6)
            start = max(free[mill.id], ready) + timedelta(hours=rng.randint(0, 10))
            free[mill.id] = ready = start + timedelta(hours=hours)
            lots.append((mill, start, hours))
        due = now + timedelta(hours=rng.randint(20, 200))
        _order(session, f"O{k}", buyer.id, org_id, due, lots)
    return cluster.id


def main(argv: list[str] | None = None) -> None:
    """Build, re-optimise, check and print."""
    from sharefab.services.optimize import optimize_cluster
    from sharefab.storage.db import make_engine, make_session_factory, upgrade_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=120)
    parser.add_argument("--providers", type=int, default=4)
    parser.add_argument("--machines", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv if argv is not None else [])
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'reoptimise.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with factory() as session, session.begin():
            cluster_id = build(session, args, now)
        started = time.perf_counter()
        result = optimize_cluster(factory, cluster_id, time_limit_s=args.time_limit, now=now)
        took = time.perf_counter() - started
        with engine.connect() as conn:
            overlaps = conn.scalar(text(OVERLAPS))
            past = conn.scalar(text(PAST_PROMISE))
        engine.dispose()
    print(
        f"re-optimisation: {args.orders} orders, {result.operations} movable operations on "
        f"{args.providers * args.machines} mills of {args.providers} providers; time limit "
        f"{args.time_limit:g} s, took {took:.1f} s; status {result.status} {result.message}"
    )
    print(f"{'KPI':<22} {'before':>10} {'after':>10}")
    for name in ("utilisation", "lateness_h", "late_orders", "makespan_h", "moved"):
        before = getattr(result.before, name) if result.before else "-"
        after = getattr(result.after, name) if result.after else "-"
        print(f"{name:<22} {before!s:>10} {after!s:>10}")
    print(f"checks: {overlaps} overlapping bookings, {past} work orders past their promised date")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
