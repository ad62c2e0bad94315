"""Webhook subscription and delivery schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from sharefab.api.schemas.common import ORMModel, RequestModel, Text


class WebhookCreate(RequestModel):
    """A new endpoint of the caller's organization and the events it wants (``"*"``: all)."""

    url: Text = Field(min_length=1, max_length=2000, examples=["https://erp.example.com/hooks"])
    event_types: list[Annotated[str, Field(max_length=100)]] = Field(
        min_length=1, max_length=50, examples=[["order.accepted", "booking.created"]]
    )
    description: Text = Field(default="", max_length=500)


class WebhookPublic(ORMModel):
    """A subscription as listed (the signing secret is never shown again)."""

    id: int
    org_id: int
    url: str
    event_types: list[str]
    description: str
    active: bool
    created_at: datetime


class WebhookCreated(WebhookPublic):
    """The new subscription with its signing secret, shown this once."""

    secret: str


class WebhooksPublic(BaseModel):
    """A page of subscriptions."""

    data: list[WebhookPublic]
    count: int


class DeliveryPublic(ORMModel):
    """One event delivery and its state."""

    id: int
    subscription_id: int
    event_type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveriesPublic(BaseModel):
    """A page of deliveries, newest first."""

    data: list[DeliveryPublic]
    count: int
