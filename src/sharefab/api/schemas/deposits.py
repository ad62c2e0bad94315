"""Schemas of buyer deposits (operator-recorded bank transfers) and of usage billing with
late-telemetry adjustments."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, Field

from sharefab.api.schemas.common import RequestModel
from sharefab.api.schemas.iot import UsageRecordPublic


class DepositRequest(RequestModel):
    """Money received for an organization's wallet (e.g. a bank transfer)."""

    org_id: int = Field(ge=1, description="the organization whose wallet is credited")
    amount_minor: int = Field(gt=0, le=10**15, description="amount in minor units (> 0)")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. CNY")
    reference: str = Field(
        min_length=1,
        max_length=92,
        description="the bank transfer's reference; recording it again posts nothing",
    )
    received_at: AwareDatetime | None = Field(
        default=None, description="when the money arrived (default: now)"
    )
    memo: str = Field(default="", max_length=500)


class DepositPublic(BaseModel):
    """A recorded deposit (``created`` is false when the reference was already recorded)."""

    transaction_id: str
    created: bool
    org_id: int
    amount_minor: int
    currency: str
    reference: str
    memo: str
    at: datetime
    wallet_balance_minor: int = Field(description="the wallet's balance after the deposit")


class UsageBilledRecordPublic(UsageRecordPublic):
    """A booking's metered usage with what the ledger has billed for it so far."""

    billed_minor: int = Field(
        default=0, description="sum charged by the booking's usage transactions so far"
    )
    unbilled_minor: int = Field(
        default=0,
        description="metered amount minus billed amount: late telemetry not billed yet "
        "(bill again to post the difference)",
    )
    billing_transactions: list[str] = Field(
        default_factory=list, description="the booking's usage transactions, oldest first"
    )


class UsageBilledStatementPublic(BaseModel):
    """Usage, charges and billing state of every booking of an order."""

    order_ref: str
    totals_minor: dict[str, int]
    billed_minor: dict[str, int]
    unbilled_minor: dict[str, int]
    data: list[UsageBilledRecordPublic]
    count: int
    ledger_note: str
