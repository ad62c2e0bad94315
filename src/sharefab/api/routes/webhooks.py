"""Outgoing webhooks of the caller's organization (see :mod:`sharefab.services.webhooks`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from sharefab.api.deps import CurrentUser, SessionDep, SettingsDep
from sharefab.api.schemas.common import PROBLEM_RESPONSES, IdPath, Offset
from sharefab.api.schemas.webhooks import (
    DeliveriesPublic,
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhooksPublic,
)
from sharefab.services import webhooks as service
from sharefab.services.webhook_targets import TargetPolicy

router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=500)]


@router.get("")
def list_webhooks(
    session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0
) -> WebhooksPublic:
    """The organization's subscriptions."""
    page = service.list_subscriptions(session, user, limit=limit, offset=offset)
    return WebhooksPublic(
        data=[WebhookPublic.model_validate(s) for s in page.data], count=page.count
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_webhook(
    body: WebhookCreate, session: SessionDep, user: CurrentUser, settings: SettingsDep
) -> WebhookCreated:
    """Subscribe an endpoint (admins only); the response holds the signing secret, once.
    The URL must be http(s) and, unless private targets are allowed, resolve only to public
    addresses (422 naming the reason otherwise)."""
    sub = service.create_subscription(
        session,
        user,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        targets=TargetPolicy.from_settings(settings),
    )
    return WebhookCreated.model_validate(sub)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(webhook_id: IdPath, session: SessionDep, user: CurrentUser) -> Response:
    """Remove a subscription and its delivery history (admins only)."""
    service.delete_subscription(session, user, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries")
def list_deliveries(
    webhook_id: IdPath,
    session: SessionDep,
    user: CurrentUser,
    delivery_status: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(alias="status")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeliveriesPublic:
    """Deliveries of one subscription, newest first."""
    page = service.list_deliveries(
        session, user, webhook_id, status=delivery_status, limit=limit, offset=offset
    )
    return DeliveriesPublic(
        data=[DeliveryPublic.model_validate(d) for d in page.data], count=page.count
    )


@router.post("/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED)
def test_webhook(webhook_id: IdPath, session: SessionDep, user: CurrentUser) -> DeliveryPublic:
    """Queue a ``webhook.test`` event for this subscription (admins only)."""
    return DeliveryPublic.model_validate(service.send_test(session, user, webhook_id))
