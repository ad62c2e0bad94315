"""Tables of the marketplace: RFQs, quotes, orders, work orders, events, shipped parts,
inspections, ratings, idempotency keys and the double-entry ledger.

Registered on ``Base.metadata`` by one import line in :mod:`sharefab.storage.models`; created
by the migration ``0003_market``.

Append-only tables (``order_events``, ``ledger_transactions``, ``ledger_postings``) have no
update path in the services: a correction is a new row. Credit evidence is derived from these
tables (see :mod:`sharefab.services.credit`), never stored separately.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sharefab.storage.models import Base, JSONType, _one_of
from sharefab.storage.types import utc_now

ORDER_STATES = (
    "draft",
    "quoted",
    "accepted",
    "scheduled",
    "in_production",
    "inspected",
    "shipped",
    "delivered",
    "settled",
    "cancelled",
    "disputed",
)
ACTOR_ROLES = ("buyer", "provider", "operator", "system")
PROGRESS_STATES = ("pending", "started", "done")
LEDGER_ACCOUNT_CODES = (
    "platform_cash",
    "buyer_wallet",
    "escrow",
    "provider_payable",
    "fee_revenue",
    "refund_expense",
)

#: Money amounts: BIGINT on PostgreSQL, INTEGER (64-bit anyway) on SQLite.
MinorUnits = BigInteger().with_variant(Integer(), "sqlite")


class Rfq(Base):
    """A buyer's request for quotation with its routing (``operations``)."""

    __tablename__ = "rfqs"
    __table_args__ = (
        CheckConstraint("budget_minor IS NULL OR budget_minor >= 0", name="budget_nonneg"),
        CheckConstraint("length(currency) = 3", name="currency"),
        CheckConstraint(
            "min_provider_credit IS NULL OR (min_provider_credit >= 0 "
            "AND min_provider_credit <= 1000)",
            name="min_credit_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200), default="")
    due_at: Mapped[datetime]
    budget_minor: Mapped[int | None] = mapped_column(MinorUnits)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    delivery_site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="SET NULL")
    )
    delivery_lat: Mapped[float | None] = mapped_column(Float)
    delivery_lon: Mapped[float | None] = mapped_column(Float)
    min_provider_credit: Mapped[int | None] = mapped_column(Integer)
    allow_split: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_lots: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    operations: Mapped[list[RfqOperation]] = relationship(
        back_populates="rfq",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="RfqOperation.position",
    )


class RfqOperation(Base):
    """One step of an RFQ's routing. ``after`` lists the positions it waits for."""

    __tablename__ = "rfq_operations"
    __table_args__ = (
        UniqueConstraint("rfq_id", "position"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("unit_minutes >= 0", name="unit_minutes_nonneg"),
        CheckConstraint("setup_minutes >= 0", name="setup_minutes_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rfq_id: Mapped[int] = mapped_column(ForeignKey("rfqs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200), default="")
    capability: Mapped[str] = mapped_column(String(200))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_minutes: Mapped[float] = mapped_column(Float)
    setup_minutes: Mapped[int] = mapped_column(Integer, default=0)
    resumable: Mapped[bool] = mapped_column(Boolean, default=False)
    after: Mapped[list[int]] = mapped_column(JSONType, default=list)

    rfq: Mapped[Rfq] = relationship(back_populates="operations")


class RfqAttachment(Base):
    """A drawing or spec attached to an RFQ (bytes kept in the database)."""

    __tablename__ = "rfq_attachments"
    __table_args__ = (CheckConstraint("size_bytes >= 0", name="size_nonneg"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rfq_id: Mapped[int] = mapped_column(ForeignKey("rfqs.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Quote(Base):
    """One quoting run for an RFQ; its options stay valid until ``valid_until``."""

    __tablename__ = "quotes"

    id: Mapped[int] = mapped_column(primary_key=True)
    rfq_id: Mapped[int] = mapped_column(ForeignKey("rfqs.id", ondelete="CASCADE"), index=True)
    buyer_org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    computed_at: Mapped[datetime] = mapped_column(default=utc_now)
    valid_until: Mapped[datetime]
    excluded: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    diagnosis: Mapped[list[str]] = mapped_column(JSONType, default=list)

    options: Mapped[list[QuoteOption]] = relationship(
        back_populates="quote",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="QuoteOption.rank",
    )


class QuoteOption(Base):
    """A concrete plan: per lot the resource, site, start, end and price; transport legs.

    ``plan`` = ``{"lots": [{operation, resource_id, org_id, site_id, start_at, end_at,
    quantity, price_minor}], "transport": [{from_site_id, to_site_id | "delivery", km,
    minutes, cost_minor}]}``; ``provider_org_ids`` lists every provider involved (a GIN index
    serves the providers' list of the RFQs that reached them on PostgreSQL; SQLite, which has
    no GIN, gets a plain index so that both schemas have the same index names).
    """

    __tablename__ = "quote_options"
    __table_args__ = (
        CheckConstraint("total_minor >= 0", name="total_nonneg"),
        Index(
            "ix_quote_options_provider_org_ids",
            "provider_org_ids",
            postgresql_using="gin",
            postgresql_ops={"provider_org_ids": "jsonb_path_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(40))
    labels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    rank: Mapped[int] = mapped_column(Integer)
    total_minor: Mapped[int] = mapped_column(MinorUnits)
    processing_minor: Mapped[int] = mapped_column(MinorUnits, default=0)
    transport_minor: Mapped[int] = mapped_column(MinorUnits, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    delivery_at: Mapped[datetime]
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    plan: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    provider_org_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)

    quote: Mapped[Quote] = relationship(back_populates="options")


class Order(Base):
    """An accepted quote option: the buyer's order, escrowed and booked."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_one_of("state", ORDER_STATES), name="state"),
        CheckConstraint("total_minor >= 0", name="total_nonneg"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    buyer_org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    rfq_id: Mapped[int] = mapped_column(ForeignKey("rfqs.id", ondelete="RESTRICT"), index=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id", ondelete="RESTRICT"))
    option_id: Mapped[int] = mapped_column(
        ForeignKey("quote_options.id", ondelete="RESTRICT"), unique=True
    )
    state: Mapped[str] = mapped_column(String(20), default="accepted")
    total_minor: Mapped[int] = mapped_column(MinorUnits)
    transport_minor: Mapped[int] = mapped_column(MinorUnits, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    promised_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    work_orders: Mapped[list[WorkOrder]] = relationship(
        back_populates="order", order_by="[WorkOrder.position, WorkOrder.id]"
    )
    events: Mapped[list[OrderEvent]] = relationship(order_by="OrderEvent.id")
    shipments: Mapped[list[OrderShipment]] = relationship(order_by="OrderShipment.id")


class WorkOrder(Base):
    """One provider's part of an order: a lot of one operation on one booked resource."""

    __tablename__ = "work_orders"
    __table_args__ = (
        CheckConstraint(_one_of("progress", PROGRESS_STATES), name="progress"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("price_minor >= 0", name="price_nonneg"),
        Index("ix_work_orders_provider_org_id_order_id", "provider_org_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    provider_org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    rfq_operation_id: Mapped[int] = mapped_column(
        ForeignKey("rfq_operations.id", ondelete="RESTRICT")
    )
    position: Mapped[int] = mapped_column(Integer)
    operation_name: Mapped[str] = mapped_column(String(200), default="")
    capability: Mapped[str] = mapped_column(String(200))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="RESTRICT"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="RESTRICT"), unique=True
    )
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    quantity: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(MinorUnits)
    currency: Mapped[str] = mapped_column(String(3))
    progress: Mapped[str] = mapped_column(String(10), default="pending")
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    order: Mapped[Order] = relationship(back_populates="work_orders")


class OrderShipment(Base):
    """One provider's part of an order marked shipped (its work orders of the order): at most
    one per provider and order; the order itself moves to ``shipped`` with the last part."""

    __tablename__ = "order_shipments"
    __table_args__ = (UniqueConstraint("order_id", "provider_org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    provider_org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    shipped_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    at: Mapped[datetime] = mapped_column(default=utc_now)
    note: Mapped[str] = mapped_column(Text, default="")


class OrderEvent(Base):
    """An append-only entry of an order's audit trail."""

    __tablename__ = "order_events"
    __table_args__ = (
        CheckConstraint(_one_of("actor_role", ACTOR_ROLES), name="actor_role"),
        CheckConstraint(_one_of("to_state", ORDER_STATES), name="to_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor_role: Mapped[str] = mapped_column(String(10))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL")
    )
    at: Mapped[datetime] = mapped_column(default=utc_now)
    note: Mapped[str] = mapped_column(Text, default="")


class Inspection(Base):
    """An inspection record of an order (optionally of one work order) and its verdict."""

    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    work_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_orders.id", ondelete="SET NULL")
    )
    inspector_org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    inspector_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    passed: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    limits: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    measurements: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    defects: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    report_filename: Mapped[str | None] = mapped_column(String(255))
    report_content_type: Mapped[str | None] = mapped_column(String(200))
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    report: Mapped[bytes | None] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(default=utc_now)


class Rating(Base):
    """The buyer's rating of a delivered order (one per order)."""

    __tablename__ = "ratings"
    __table_args__ = (CheckConstraint("stars >= 1 AND stars <= 5", name="stars_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    buyer_org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utc_now)


class IdempotencyKey(Base):
    """The first successful response to a POST carrying an ``Idempotency-Key`` header."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class LedgerAccount(Base):
    """A ledger account; ``name`` is the domain's unique name (``escrow/org:3/order:O-1/CNY``)."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint(_one_of("code", LEDGER_ACCOUNT_CODES), name="code"),
        Index("ix_ledger_accounts_org_id", "org_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    code: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    order_ref: Mapped[str | None] = mapped_column(String(40))


class LedgerTransaction(Base):
    """An immutable balanced transaction (``tx_id`` is the domain transaction id)."""

    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    tx_id: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    memo: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]
    order_ref: Mapped[str | None] = mapped_column(String(40), index=True)
    correction_of: Mapped[str | None] = mapped_column(String(100))

    postings: Mapped[list[LedgerPosting]] = relationship(order_by="LedgerPosting.id")


class LedgerPosting(Base):
    """One line of a transaction: positive debits, negative credits ``account``."""

    __tablename__ = "ledger_postings"
    __table_args__ = (CheckConstraint("amount_minor <> 0", name="amount_nonzero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_accounts.id", ondelete="RESTRICT"), index=True
    )
    amount_minor: Mapped[int] = mapped_column(MinorUnits)
    currency: Mapped[str] = mapped_column(String(3))

    account: Mapped[LedgerAccount] = relationship()
