"""Tables of outgoing webhooks: subscriptions and the delivery outbox.

A :class:`WebhookSubscription` is an organization's HTTP endpoint with the event types it
wants and the secret its deliveries are signed with. A :class:`WebhookDelivery` is one event
for one subscription, written in the same transaction as the change it reports (transactional
outbox) and delivered later by the dispatcher in :mod:`sharefab.services.webhooks`.

Registered on ``Base.metadata`` by one import line in :mod:`sharefab.storage.models`; created
by the migration ``0004_webhooks``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sharefab.storage.models import Base, JSONType, _one_of
from sharefab.storage.types import utc_now

DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookSubscription(Base):
    """An organization's endpoint receiving signed event deliveries.

    ``event_types`` lists event names (``order.accepted``, ``booking.created``, ...) or ``"*"``
    for every event. ``secret`` is the HMAC key shared with the receiver; it is kept in clear
    because the platform must sign with it, and is shown to the organization only once.
    """

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="subscription", cascade="all, delete-orphan", passive_deletes=True
    )

    def wants(self, event_type: str) -> bool:
        """Whether this subscription receives ``event_type``."""
        return self.active and ("*" in self.event_types or event_type in self.event_types)


class WebhookDelivery(Base):
    """One event to deliver to one subscription (the outbox row) and its delivery state.

    ``status`` is ``pending`` until a 2xx answer (``delivered``) or until ``attempts`` reaches
    the dispatcher's limit (``failed``). A pending row is due at ``next_attempt_at``.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
        CheckConstraint("attempts >= 0", name="attempts_nonneg"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    subscription: Mapped[WebhookSubscription] = relationship(back_populates="deliveries")
