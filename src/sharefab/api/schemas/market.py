"""Schemas of the marketplace API: RFQs, quotes, orders, ledger, credit."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from sharefab.api.schemas.common import (
    MAX_DB_INT,
    Instant,
    JsonObject,
    Minor,
    ORMModel,
    RequestModel,
    RowId,
    Text,
)

#: Longest per-part or setup time an operation may name (about 23 months of minutes).
MAX_MINUTES = 1_000_000


class OperationCreate(RequestModel):
    """One routing step: a capability with attribute values, quantity and per-unit time."""

    capability: Text = Field(
        max_length=200, description="taxonomy code, e.g. separating.machining.milling"
    )
    name: Text = Field(default="", max_length=200)
    attributes: JsonObject = Field(default_factory=dict)
    quantity: int = Field(ge=1, le=MAX_DB_INT, description="parts to make (at least 1)")
    unit_minutes: float = Field(
        ge=0,
        le=MAX_MINUTES,
        allow_inf_nan=False,
        description="minutes per part at speed factor 1",
    )
    setup_minutes: int = Field(default=0, ge=0, le=MAX_MINUTES)
    resumable: bool = Field(default=False, description="may run across calendar breaks")
    after: list[int] | None = Field(
        default=None,
        description="positions of earlier operations it waits for (default: the previous one)",
    )


class RfqCreate(RequestModel):
    """A new request for quotation."""

    title: Text = Field(default="", max_length=200)
    operations: list[OperationCreate] = Field(min_length=1, max_length=50)
    due_at: Instant
    budget_minor: Minor | None = None
    currency: str = Field(default="CNY", min_length=3, max_length=3)
    delivery_site_id: RowId | None = None
    delivery_lat: float | None = Field(default=None, allow_inf_nan=False)
    delivery_lon: float | None = Field(default=None, allow_inf_nan=False)
    min_provider_credit: int | None = Field(default=None, ge=0, le=1000)
    allow_split: bool = True
    allow_lots: bool = False


class OperationPublic(ORMModel):
    """A stored routing step."""

    id: int
    position: int
    name: str
    capability: str
    attributes: dict[str, Any]
    quantity: int
    unit_minutes: float
    setup_minutes: int
    resumable: bool
    after: list[int]


class AttachmentPublic(ORMModel):
    """Attachment metadata (download it with GET .../attachments/{id})."""

    id: int
    rfq_id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime


class RfqPublic(ORMModel):
    """An RFQ with its routing."""

    id: int
    buyer_org_id: int
    title: str
    due_at: datetime
    budget_minor: int | None
    currency: str
    delivery_site_id: int | None
    delivery_lat: float | None
    delivery_lon: float | None
    min_provider_credit: int | None
    allow_split: bool
    allow_lots: bool
    created_at: datetime
    operations: list[OperationPublic]
    attachments: list[AttachmentPublic] = Field(default_factory=list)


class RfqsPublic(BaseModel):
    """A page of RFQs."""

    data: list[RfqPublic]
    count: int


class ReachedRfqPublic(RfqPublic):
    """An RFQ that reached the caller as a provider, and where the caller stands on it:
    ``your_status`` is ``quoted`` (no order yet), ``won`` (an order of it has work of yours:
    its id and state, your share of its prices) or ``lost`` (the buyer ordered without you)."""

    your_status: Literal["quoted", "won", "lost"]
    your_order_id: int | None
    your_order_state: str | None
    your_share_minor: int | None
    your_share_currency: str | None


class ReachedRfqsPublic(BaseModel):
    """A page of the RFQs that reached the caller as a provider."""

    data: list[ReachedRfqPublic]
    count: int


class QuoteOptionPublic(ORMModel):
    """A ranked, concrete plan."""

    id: int
    label: str
    labels: list[str]
    rank: int
    total_minor: int
    processing_minor: int
    transport_minor: int
    currency: str
    delivery_at: datetime
    explanation: dict[str, Any]
    plan: dict[str, Any]
    provider_org_ids: list[int]


class QuotePublic(ORMModel):
    """A quote: its options best first, excluded options with reasons, diagnosis."""

    id: int
    rfq_id: int
    computed_at: datetime
    valid_until: datetime
    options: list[QuoteOptionPublic]
    excluded: list[dict[str, Any]]
    diagnosis: list[str]


class AcceptBody(RequestModel):
    """Which option of the quote to accept."""

    option_id: RowId


class WorkOrderPublic(BaseModel):
    """One provider's part: a lot of an operation on a booked resource."""

    id: int
    provider_org_id: int
    operation: int
    operation_name: str
    capability: str
    resource_id: int
    site_id: int
    booking_id: int
    start_at: datetime
    end_at: datetime
    quantity: int
    price_minor: int
    currency: str
    progress: str


class OrderEventPublic(BaseModel):
    """An entry of the order's audit trail."""

    id: int
    from_state: str
    to_state: str
    actor_role: str
    actor_user_id: int | None
    actor_org_id: int | None
    at: datetime
    note: str


class OrderPartPublic(BaseModel):
    """One provider's part of an order (its work orders) and whether it has shipped."""

    provider_org_id: int
    work_order_ids: list[int]
    shipped: bool
    shipped_at: datetime | None
    note: str


class OrderPublic(BaseModel):
    """An order as the caller may see it (providers: own work orders and part, no totals)."""

    id: int
    ref: str
    state: str
    your_role: str
    buyer_org_id: int
    rfq_id: int
    quote_id: int | None
    option_id: int | None
    total_minor: int | None
    transport_minor: int | None
    your_subtotal_minor: int
    currency: str
    promised_at: datetime
    created_at: datetime
    work_orders: list[WorkOrderPublic]
    events: list[OrderEventPublic]
    parts_total: int = 0
    parts_shipped: int = 0
    parts: list[OrderPartPublic] = Field(default_factory=list)
    allowed_transitions: list[str]


class OrdersPublic(BaseModel):
    """A page of orders."""

    data: list[OrderPublic]
    count: int


class EventCreate(RequestModel):
    """A requested transition."""

    to: Text = Field(max_length=50)
    note: Text = Field(default="", max_length=2000)


class ProgressCreate(RequestModel):
    """A provider's progress report on its work order."""

    to: Literal["started", "done"]


class SpecLimitIn(RequestModel):
    """Allowed range of one characteristic."""

    name: Text = Field(max_length=200)
    lower: float | None = Field(default=None, allow_inf_nan=False)
    upper: float | None = Field(default=None, allow_inf_nan=False)
    unit: Text = Field(default="", max_length=50)


class MeasurementIn(RequestModel):
    """One measured value."""

    name: Text = Field(max_length=200)
    value: float = Field(allow_inf_nan=False)
    unit: Text = Field(default="", max_length=50)


class DefectIn(RequestModel):
    """A defect found."""

    code: Text = Field(max_length=100)
    description: Text = Field(default="", max_length=2000)
    severity: Literal["minor", "major", "critical"] = "minor"
    quantity: int = Field(default=1, ge=1, le=MAX_DB_INT)


class InspectionCreate(RequestModel):
    """An inspection record."""

    work_order_id: RowId | None = None
    limits: list[SpecLimitIn] = Field(default_factory=list, max_length=1000)
    measurements: list[MeasurementIn] = Field(default_factory=list, max_length=10_000)
    defects: list[DefectIn] = Field(default_factory=list, max_length=1000)
    max_minor_defects: int | None = Field(default=None, ge=0, le=MAX_DB_INT)
    declared_passed: bool | None = None
    report_filename: Text | None = Field(default=None, max_length=255)
    report_content_type: Text | None = Field(default=None, max_length=200)
    report_base64: str | None = None


class InspectionPublic(BaseModel):
    """A stored inspection and the order's current state."""

    id: int
    order_id: int
    work_order_id: int | None
    passed: bool
    reasons: list[str]
    measurements: list[dict[str, Any]]
    defects: list[dict[str, Any]]
    report_filename: str | None
    report_sha256: str | None
    at: datetime
    order_state: str


class InspectionsPublic(BaseModel):
    """An order's inspection records."""

    data: list[InspectionPublic]
    count: int


class RatingCreate(RequestModel):
    """The buyer's rating."""

    stars: int = Field(ge=1, le=5)
    comment: Text = Field(default="", max_length=2000)


class RatingPublic(ORMModel):
    """A stored rating."""

    id: int
    order_id: int
    stars: int
    comment: str
    at: datetime


class CreditComponentPublic(BaseModel):
    """One explained part of a credit score."""

    name: str
    value_0_1: float
    evidence_weight: float
    prior: float
    weight: float
    points: float
    explanation: str


class CreditPublic(BaseModel):
    """An organization's credit score with its components."""

    org_id: int
    score: int
    prior_score: int
    as_of: datetime
    components: list[CreditComponentPublic]


class LedgerAccountPublic(BaseModel):
    """One of the caller's ledger accounts."""

    id: int
    name: str
    code: str
    currency: str
    org_id: int | None
    order_ref: str | None
    balance_minor: int


class LedgerAccountsPublic(BaseModel):
    """The caller's accounts."""

    data: list[LedgerAccountPublic]
    count: int


class PostingPublic(BaseModel):
    """A posting to one of the caller's accounts (debit > 0, credit < 0)."""

    account: str
    amount_minor: int
    currency: str


class LedgerTransactionPublic(BaseModel):
    """A transaction with the caller's postings only."""

    id: str
    kind: str
    memo: str
    at: datetime
    order_ref: str | None
    correction_of: str | None
    postings: list[PostingPublic]


class LedgerTransactionsPublic(BaseModel):
    """A page of transactions."""

    data: list[LedgerTransactionPublic]
    count: int
