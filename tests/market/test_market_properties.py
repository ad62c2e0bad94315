"""Property test at the service level: whatever sequence of accepts, cancellations,
deliveries and dispute refunds happens, the ledger balances, no escrow, wallet or payable goes
negative, a closed order's escrow is empty, and no resource unit is ever double-booked.

Each example builds its own organizations in the test database (both backends), so the
invariants are checked over everything stored so far.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.services import order_work, orders
from sharefab.services.accepting import accept_quote
from sharefab.services.errors import Conflict
from sharefab.services.quoting import compute_quote
from sharefab.services.rfqs import OperationInput, RfqInput, create_rfq
from sharefab.storage.bookings import insert_booking
from sharefab.storage.errors import BookingConflict
from sharefab.storage.market_models import LedgerAccount, LedgerPosting, Order
from sharefab.storage.models import (
    Booking,
    CalendarWindow,
    Organization,
    Resource,
    ResourceCapability,
    Site,
    User,
)

MILL = "separating.machining.milling.3axis"
#: Accepting is listed three times so histories hold several orders competing for capacity.
ACTIONS = ("accept", "accept", "accept", "cancel", "deliver", "dispute_refund", "outside_booking")
_names = itertools.count()


def _midnight(days: int) -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=days)


def _world(factory: sessionmaker[Session]) -> dict[str, int]:
    n = next(_names)
    with factory() as s, s.begin():
        orgs = {}
        for role in ("provider", "buyer", "buyer2", "operator"):
            org = Organization(name=f"{role}-{n}", roles=["buyer" if "buyer" in role else role])
            s.add(org)
            s.flush()
            user = User(
                org_id=org.id,
                email=f"{role}-{n}@example.com",
                password_hash="x",
                role="admin",
                is_platform_operator=role == "operator",
            )
            s.add(user)
            s.flush()
            orgs[role] = user.id
        provider_org = s.get(User, orgs["provider"]).org_id  # type: ignore[union-attr]
        site = Site(org_id=provider_org, name="plant", lat=31.3, lon=120.6)
        s.add(site)
        s.flush()
        res = Resource(
            org_id=provider_org,
            site_id=site.id,
            name="mill",
            hourly_rate_minor=12_345,
            setup_cost_minor=777,
            capacity=2,
            currency="CNY",
        )
        s.add(res)
        s.flush()
        s.add(ResourceCapability(resource_id=res.id, code=MILL, attributes={}))
        start = _midnight(5) + timedelta(hours=n % 24)
        s.add(CalendarWindow(resource_id=res.id, start_at=start, end_at=start + timedelta(hours=9)))
        orgs["resource"] = res.id
    return orgs


def _act(
    factory: sessionmaker[Session], w: dict[str, int], action: str, pick: int, placed: list[int]
) -> None:
    with factory() as s:
        buyer = s.get(User, w["buyer2" if pick % 2 else "buyer"])
        provider = s.get(User, w["provider"])
        operator = s.get(User, w["operator"])
        assert buyer is not None and provider is not None and operator is not None
        if action == "accept":
            rfq = create_rfq(
                s,
                buyer,
                RfqInput([OperationInput(MILL, quantity=1 + pick, unit_minutes=60)], _midnight(12)),
            )
            quote = compute_quote(s, buyer, rfq.id)
            if quote.options:
                option = quote.options[pick % len(quote.options)]
                try:
                    _code, view = accept_quote(s, buyer, quote.id, option.id)
                    placed.append(view["id"])
                except Conflict:
                    pass
            return
        if action == "outside_booking":  # the provider books its own machine meanwhile
            s.rollback()
            with s.begin():
                try:
                    start = _midnight(5) + timedelta(hours=pick)
                    insert_booking(s, w["resource"], start, start + timedelta(hours=2))
                except BookingConflict:  # fully booked: fine
                    s.rollback()
            return
        if not placed:
            return
        order_id = placed[pick % len(placed)]
        order = s.get(Order, order_id)
        assert order is not None
        buyer = s.scalar(select(User).where(User.org_id == order.buyer_org_id))
        provider = s.scalar(select(User).where(User.org_id == order.work_orders[0].provider_org_id))
        try:
            if action == "cancel":
                orders.transition_order(s, buyer, order_id, "cancelled", platform_fee_bps=250)
            elif action in ("deliver", "dispute_refund"):
                work = order.work_orders[0].id
                for to in ("started", "done"):
                    order_work.report_operation_progress(s, provider, order_id, work, to)
                order_work.add_inspection(
                    s, provider, order_id, order_work.InspectionInput(), max_report_bytes=10
                )
                orders.transition_order(s, provider, order_id, "shipped", platform_fee_bps=250)
                if action == "deliver":
                    orders.transition_order(s, buyer, order_id, "delivered", platform_fee_bps=250)
                else:
                    orders.transition_order(s, buyer, order_id, "disputed", platform_fee_bps=250)
                    orders.transition_order(
                        s, operator, order_id, "cancelled", platform_fee_bps=250
                    )
        except Conflict:
            s.rollback()  # an illegal step for the order's current state: refused, nothing done


def _check(factory: sessionmaker[Session]) -> None:
    with factory() as s:
        totals = s.execute(
            select(LedgerPosting.currency, func.sum(LedgerPosting.amount_minor)).group_by(
                LedgerPosting.currency
            )
        ).all()
        assert all(total == 0 for _cur, total in totals), totals
        for code, signed in s.execute(
            select(LedgerAccount.code, func.sum(LedgerPosting.amount_minor))
            .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
            .group_by(LedgerAccount.id, LedgerAccount.code)
        ):
            if code in ("escrow", "buyer_wallet", "provider_payable"):
                assert signed <= 0, (code, signed)  # credit-normal: never below zero
        for ref, state in s.execute(select(Order.ref, Order.state)):
            escrow = s.scalar(
                select(func.coalesce(func.sum(LedgerPosting.amount_minor), 0))
                .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
                .where(LedgerAccount.code == "escrow", LedgerAccount.order_ref == ref)
            )
            if state in ("settled", "cancelled"):
                assert escrow == 0, (ref, state, escrow)
            else:
                assert escrow < 0, (ref, state, escrow)
        rows = s.execute(
            select(
                Booking.resource_id,
                Booking.unit,
                Booking.start_at,
                Booking.end_at,
                Resource.capacity,
            )
            .join(Resource, Resource.id == Booking.resource_id)
            .where(Booking.status != "cancelled")
            .order_by(Booking.resource_id, Booking.unit, Booking.start_at)
        ).all()
        for a, b in itertools.pairwise(rows):
            assert a.unit < a.capacity
            if (a.resource_id, a.unit) == (b.resource_id, b.unit):
                assert a.end_at <= b.start_at, (a, b)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(ACTIONS), st.integers(min_value=0, max_value=7)),
        min_size=1,
        max_size=8,
    )
)
def test_any_history_keeps_the_books_balanced_and_capacity_respected(
    session_factory: sessionmaker[Session], steps: list[tuple[str, int]]
) -> None:
    world = _world(session_factory)
    placed: list[int] = []
    for action, pick in steps:
        _act(session_factory, world, action, pick, placed)
        _check(session_factory)
