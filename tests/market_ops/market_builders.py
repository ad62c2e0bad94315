"""Hand-made marketplace rows for re-optimisation tests: a cluster, machines with windows,
and accepted orders whose work orders are booked (as the accept service leaves them)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from sharefab.storage.bookings import insert_booking
from sharefab.storage.market_models import (
    Order,
    Quote,
    QuoteOption,
    Rfq,
    RfqOperation,
    WorkOrder,
)
from sharefab.storage.models import (
    CalendarWindow,
    Cluster,
    Organization,
    Resource,
    ResourceCapability,
    Site,
)

MILL = "separating.machining.milling.5axis"
TURN = "separating.machining.turning"


def make_cluster(session: Session, name: str = "Suzhou SIP") -> Cluster:
    """A cluster."""
    cluster = Cluster(name=name, region="Jiangsu", lat=31.3, lon=120.7)
    session.add(cluster)
    session.flush()
    return cluster


def make_machine(
    session: Session,
    org: Organization,
    site: Site,
    name: str,
    *,
    code: str = MILL,
    windows: list[tuple[datetime, datetime]] = (),  # type: ignore[assignment]
) -> Resource:
    """A unit-capacity machine offering ``code`` with published ``windows``."""
    resource = Resource(
        org_id=org.id,
        site_id=site.id,
        name=name,
        hourly_rate_minor=30000,
        currency="CNY",
        speed_factor=1.0,
    )
    session.add(resource)
    session.flush()
    session.add(ResourceCapability(resource_id=resource.id, code=code, attributes={}))
    for start, end in windows:
        session.add(CalendarWindow(resource_id=resource.id, start_at=start, end_at=end))
    session.flush()
    return resource


def make_order(
    session: Session,
    *,
    ref: str,
    buyer: Organization,
    provider: Organization,
    due_at: datetime,
    promised_at: datetime,
    lots: list[tuple[Resource, datetime, int, str]],
    code: str = MILL,
    state: str = "scheduled",
) -> Order:
    """An accepted order of a chain of operations; ``lots`` = (resource, start, hours,
    progress) per operation in routing order. Started work gets an ``in_progress`` booking."""
    rfq = Rfq(buyer_org_id=buyer.id, title=ref, due_at=due_at, currency="CNY")
    session.add(rfq)
    session.flush()
    quote = Quote(rfq_id=rfq.id, buyer_org_id=buyer.id, valid_until=due_at)
    session.add(quote)
    session.flush()
    option = QuoteOption(
        quote_id=quote.id,
        label="fastest",
        rank=1,
        total_minor=100000,
        currency="CNY",
        delivery_at=promised_at,
        plan={"lots": [], "transport": []},
    )
    session.add(option)
    session.flush()
    order = Order(
        ref=ref,
        buyer_org_id=buyer.id,
        rfq_id=rfq.id,
        quote_id=quote.id,
        option_id=option.id,
        state=state,
        total_minor=100000,
        currency="CNY",
        promised_at=promised_at,
    )
    session.add(order)
    session.flush()
    for position, (resource, start, hours, progress) in enumerate(lots):
        op = RfqOperation(
            rfq_id=rfq.id,
            position=position,
            name=f"{ref} op {position}",
            capability=code,
            attributes={},
            quantity=hours,
            unit_minutes=60.0,
            setup_minutes=0,
            after=[position - 1] if position else [],
        )
        session.add(op)
        session.flush()
        end = start + timedelta(hours=hours)
        status = "in_progress" if progress == "started" else "confirmed"
        booking = insert_booking(session, resource.id, start, end, order_ref=ref, status=status)
        session.add(
            WorkOrder(
                order_id=order.id,
                provider_org_id=provider.id,
                rfq_operation_id=op.id,
                position=position,
                operation_name=op.name,
                capability=code,
                resource_id=resource.id,
                site_id=resource.site_id,
                booking_id=booking.id,
                start_at=start,
                end_at=end,
                quantity=hours,
                price_minor=50000,
                currency="CNY",
                progress=progress,
            )
        )
    session.flush()
    return order
