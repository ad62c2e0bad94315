"""Concurrent accepts racing for one slot (threads, one session each): exactly one wins."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.services.accepting import SlotTaken, accept_quote
from sharefab.services.quoting import compute_quote
from sharefab.services.rfqs import OperationInput, RfqInput, create_rfq
from sharefab.storage.market_models import Order, Quote
from sharefab.storage.models import (
    Booking,
    CalendarWindow,
    Organization,
    Resource,
    ResourceCapability,
    Site,
    User,
)

MILL = "separating.machining.milling"
BUYERS = 6


def _user(s: Session, name: str, roles: list[str]) -> int:
    org = Organization(name=name, roles=roles)
    s.add(org)
    s.flush()
    user = User(org_id=org.id, email=f"{name}@example.com", password_hash="x", role="admin")
    s.add(user)
    s.flush()
    return user.id


def _one_mill(session_factory: sessionmaker[Session], hours: int = 4) -> datetime:
    """A provider with one unit-capacity 5-axis mill, published for ``hours`` three days
    ahead; returns the window's start."""
    now = datetime.now(UTC)
    start = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=3)
    with session_factory() as s, s.begin():
        provider = s.get(User, _user(s, "mills", ["provider"]))
        assert provider is not None
        site = Site(org_id=provider.org_id, name="plant", lat=31.3, lon=120.6)
        s.add(site)
        s.flush()
        mill = Resource(org_id=provider.org_id, site_id=site.id, name="mill", capacity=1)
        s.add(mill)
        s.flush()
        s.add(ResourceCapability(resource_id=mill.id, code=f"{MILL}.5axis", attributes={}))
        s.add(
            CalendarWindow(
                resource_id=mill.id, start_at=start, end_at=start + timedelta(hours=hours)
            )
        )
    return start


def test_concurrent_accepts_for_one_slot_book_it_once(
    session_factory: sessionmaker[Session],
) -> None:
    start = _one_mill(session_factory)
    with session_factory() as s, s.begin():
        buyers = [_user(s, f"buyer{i}", ["buyer"]) for i in range(BUYERS)]
    offers = []
    for uid in buyers:
        with session_factory() as s:
            user = s.get(User, uid)
            assert user is not None
            rfq = create_rfq(
                s, user, RfqInput([OperationInput(MILL, 6, 30)], start + timedelta(days=5))
            )
            quote = compute_quote(s, user, rfq.id)
            offers.append((uid, quote.id, quote.options[0].id))

    def attempt(offer: tuple[int, int, int]) -> str:
        uid, quote_id, option_id = offer
        with session_factory() as s:
            user = s.get(User, uid)
            assert user is not None
            try:
                accept_quote(s, user, quote_id, option_id)
            except SlotTaken as exc:
                assert exc.fresh_quote_id > 0
                return "409"
            return "201"

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        outcomes = sorted(pool.map(attempt, offers))
    assert outcomes == ["201"] + ["409"] * (BUYERS - 1)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 1
        active = s.scalars(select(Booking).where(Booking.status != "cancelled")).all()
        assert len(active) == 1


def test_concurrent_retries_with_one_idempotency_key_make_one_order(
    session_factory: sessionmaker[Session],
) -> None:
    start = _one_mill(session_factory)
    with session_factory() as s, s.begin():
        uid = _user(s, "buyer", ["buyer"])
    with session_factory() as s:
        user = s.get(User, uid)
        assert user is not None
        rfq = create_rfq(
            s, user, RfqInput([OperationInput(MILL, 6, 30)], start + timedelta(days=5))
        )
        quote = compute_quote(s, user, rfq.id)
        quote_id, option_id = quote.id, quote.options[0].id

    def attempt(_: int) -> tuple[int, int]:
        with session_factory() as s:
            user = s.get(User, uid)
            assert user is not None
            code, body = accept_quote(s, user, quote_id, option_id, idempotency_key="retry-1")
            return code, body["id"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = set(pool.map(attempt, range(4)))
    assert len(outcomes) == 1 and next(iter(outcomes))[0] == 201
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 1


def test_every_loser_gets_its_own_fresh_quote_that_can_be_accepted(
    session_factory: sessionmaker[Session],
) -> None:
    """Room for every buyer's job, one after the other: the race for the first slot has one
    winner; each loser's fresh quote is stored for the loser's own RFQ, never offers a taken
    slot, and accepting fresh quotes (a 409 again only when another loser took that slot
    first) ends with every buyer booked and no overlap."""
    start = _one_mill(session_factory, hours=3 * BUYERS + 1)
    with session_factory() as s, s.begin():
        buyers = [_user(s, f"buyer{i}", ["buyer"]) for i in range(BUYERS)]
    offers = {}
    for uid in buyers:
        with session_factory() as s:
            user = s.get(User, uid)
            assert user is not None
            rfq = create_rfq(
                s, user, RfqInput([OperationInput(MILL, 6, 30)], start + timedelta(days=5))
            )
            quote = compute_quote(s, user, rfq.id)
            offers[uid] = (rfq.id, quote.id, quote.options[0].id)

    def attempt(uid: int, quote_id: int, option_id: int) -> int | None:
        """None when accepted, else the fresh quote's id."""
        with session_factory() as s:
            user = s.get(User, uid)
            assert user is not None
            try:
                accept_quote(s, user, quote_id, option_id)
            except SlotTaken as exc:
                return exc.fresh_quote_id
            return None

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        fresh = dict(
            zip(buyers, pool.map(lambda u: attempt(u, *offers[u][1:]), buyers), strict=True)
        )
    losers = [uid for uid, got in fresh.items() if got is not None]
    assert len(losers) == BUYERS - 1

    def booked() -> list[tuple[datetime, datetime]]:
        with session_factory() as s:
            rows = s.scalars(select(Booking).where(Booking.status != "cancelled"))
            return [(b.start_at, b.end_at) for b in rows]

    after_race = booked()  # what every first fresh quote was computed against
    for uid in losers:
        quote_id, seen = fresh[uid], after_race
        for _round in range(BUYERS):
            assert quote_id is not None
            with session_factory() as s:
                quote = s.get(Quote, quote_id)
                assert quote is not None and quote.rfq_id == offers[uid][0]
                assert quote.buyer_org_id == s.get_one(User, uid).org_id
                lots = quote.options[0].plan["lots"]
                option_id = quote.options[0].id
            for lot in lots:  # never a slot taken when the quote was computed
                lot_start = datetime.fromisoformat(lot["start_at"])
                lot_end = datetime.fromisoformat(lot["end_at"])
                assert all(lot_end <= s0 or lot_start >= e0 for s0, e0 in seen)
            quote_id = attempt(uid, quote_id, option_id)
            if quote_id is None:
                break
            seen = booked()  # the new fresh quote was computed against these
        assert quote_id is None, f"buyer {uid} never got a slot"
    taken = booked()
    assert len(taken) == BUYERS
    ordered = sorted(taken)
    assert all(a[1] <= b[0] for a, b in pairwise(ordered))
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == BUYERS
