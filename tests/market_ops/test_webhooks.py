"""Webhooks: transactional outbox, signed delivery to a real local receiver, retries with
backoff, exhaustion, the background dispatcher and tenant isolation of the API (both backends)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.services import webhooks
from sharefab.services.errors import InvalidInput, PermissionDenied
from sharefab.services.webhooks import RetryPolicy, WebhookDispatcher, dispatch_due
from sharefab.storage.bookings import insert_booking
from sharefab.storage.models import Organization
from sharefab.storage.webhook_models import WebhookDelivery

from .conftest import ApiTenant, register
from .helpers import make_org, make_resource
from .receiver import running_receiver

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
API = "/api/v1"
POLICY = RetryPolicy(max_attempts=4, base_delay_s=60, max_delay_s=3600, jitter=0.25)


def _subscribe(
    session_factory: sessionmaker[Session], org_name: str, url: str, events: list[str]
) -> tuple[int, int, str]:
    """(org id, subscription id, secret) of a new org subscribed to ``events`` at ``url``."""
    with session_factory() as session:
        org, admin = make_org(session, org_name)
        session.commit()
        sub = webhooks.create_subscription(session, admin, url=url, event_types=events)
        return org.id, sub.id, sub.secret


def _deliveries(session_factory: sessionmaker[Session]) -> list[WebhookDelivery]:
    with session_factory() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _queue_test_event(session_factory: sessionmaker[Session], org_id: int) -> None:
    with session_factory() as session, session.begin():
        webhooks.emit(session, org_id, "order.accepted", {"order_id": 42, "at": T0})


def _receiver_verifies(secret: str, body: bytes, header: str, now: datetime) -> bool:
    """The receiver's own check, written from the documented scheme (not our helper)."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    expected = hmac.new(
        secret.encode(), f"{timestamp}.{body.decode()}".encode(), hashlib.sha256
    ).hexdigest()
    return abs(now.timestamp() - timestamp) <= 300 and hmac.compare_digest(expected, fields["v1"])


def test_events_are_queued_only_when_the_change_commits(
    session_factory: sessionmaker[Session],
) -> None:
    url = "http://127.0.0.1:9/hooks"
    alice_id, sub_id, _ = _subscribe(session_factory, "Alice Machining", url, ["booking.created"])
    _subscribe(session_factory, "Bob Buyers", url, ["*"])
    with session_factory() as session:
        resource_id = make_resource(session, session.get_one(Organization, alice_id)).id
        session.commit()

    with session_factory() as session:  # rolled back: the booking and its event vanish together
        booking = insert_booking(session, resource_id, T0, T0 + timedelta(hours=2))
        webhooks.emit_booking(session, booking, "booking.created")
        session.rollback()
    assert _deliveries(session_factory) == []

    with session_factory() as session, session.begin():
        booking = insert_booking(session, resource_id, T0, T0 + timedelta(hours=2), order_ref="PO")
        webhooks.emit_booking(session, booking, "booking.created")
        webhooks.emit(session, alice_id, "order.accepted", {"order_id": 1})  # not subscribed
    rows = _deliveries(session_factory)
    # Only Alice's subscription: Bob wants everything, but the machine is Alice's.
    assert [(r.subscription_id, r.event_type, r.status) for r in rows] == [
        (sub_id, "booking.created", "pending")
    ]
    assert rows[0].payload["order_ref"] == "PO"
    assert rows[0].payload["start_at"] == T0.isoformat()
    with session_factory() as session, pytest.raises(ValueError, match="unknown webhook event"):
        webhooks.emit(session, alice_id, "order.exploded", {})


def test_delivery_is_signed_and_the_receiver_can_verify_it(
    session_factory: sessionmaker[Session],
) -> None:
    with running_receiver() as receiver:
        org_id, sub_id, secret = _subscribe(session_factory, "Alice", receiver.url, ["*"])
        _queue_test_event(session_factory, org_id)
        now = datetime.now(UTC)
        with httpx.Client() as client:
            report = dispatch_due(session_factory, client, now, policy=POLICY)
    assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)
    [request] = receiver.requests
    assert secret.startswith("whsec_")
    assert _receiver_verifies(secret, request.body, request.headers["X-ShareFab-Signature"], now)
    assert not _receiver_verifies(
        "whsec_wrong", request.body, request.headers["X-ShareFab-Signature"], now
    )
    tampered = request.body.replace(b"42", b"43")
    assert not webhooks.verify_signature(
        secret, tampered, request.headers["X-ShareFab-Signature"], now=now.timestamp()
    )
    assert webhooks.verify_signature(
        secret, request.body, request.headers["X-ShareFab-Signature"], now=now.timestamp()
    )
    body = json.loads(request.body)
    assert body["type"] == "order.accepted" == request.headers["X-ShareFab-Event"]
    assert body["data"] == {"order_id": 42, "at": T0.isoformat()}
    [row] = _deliveries(session_factory)
    assert request.headers["X-ShareFab-Delivery"] == body["id"] == f"dlv_{row.id}"
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    assert row.subscription_id == sub_id


def test_failures_are_retried_with_growing_backoff_until_they_succeed(
    session_factory: sessionmaker[Session],
) -> None:
    with running_receiver() as receiver, httpx.Client() as client:
        receiver.statuses.extend([500, 503])
        org_id, _, secret = _subscribe(session_factory, "Alice", receiver.url, ["*"])
        _queue_test_event(session_factory, org_id)
        rng = random.Random(7)
        now = T0
        waits = []
        for _ in range(2):
            report = dispatch_due(session_factory, client, now, policy=POLICY, rng=rng)
            assert (report.retrying, report.delivered) == (1, 0)
            [row] = _deliveries(session_factory)
            assert row.status == "pending" and row.last_status_code in (500, 503)
            waits.append(row.next_attempt_at - now)
            # Not due yet: a dispatch just before the next attempt time sends nothing.
            early = dispatch_due(
                session_factory, client, row.next_attempt_at - timedelta(seconds=1), policy=POLICY
            )
            assert early.attempted == 0
            now = row.next_attempt_at
        report = dispatch_due(session_factory, client, now, policy=POLICY, rng=rng)
    assert report.delivered == 1
    [row] = _deliveries(session_factory)
    assert (row.status, row.attempts, row.delivered_at) == ("delivered", 3, now)
    assert len(receiver.requests) == 3
    # Exponential backoff with at most 25 % jitter: 60 s then 120 s, each +-25 %.
    assert timedelta(seconds=45) <= waits[0] <= timedelta(seconds=75)
    assert timedelta(seconds=90) <= waits[1] <= timedelta(seconds=150)
    assert waits[1] > waits[0]
    # Each attempt is signed afresh with its own timestamp and attempt number.
    attempts = [json.loads(r.body)["attempt"] for r in receiver.requests]
    assert attempts == [1, 2, 3]
    assert all(
        webhooks.verify_signature(
            secret,
            r.body,
            r.headers["X-ShareFab-Signature"],
            now=now.timestamp(),
            tolerance_s=3600,
        )
        for r in receiver.requests
    )


def test_exhausted_attempts_mark_the_delivery_failed(
    session_factory: sessionmaker[Session],
) -> None:
    with running_receiver() as receiver:
        dead_url = receiver.url  # the receiver stops: connections are refused from now on
    org_id, _, _ = _subscribe(session_factory, "Alice", dead_url, ["order.accepted"])
    _queue_test_event(session_factory, org_id)
    now = T0
    with httpx.Client() as client:
        for attempt in range(1, POLICY.max_attempts + 1):
            report = dispatch_due(session_factory, client, now, policy=POLICY)
            assert report.attempted == 1
            [row] = _deliveries(session_factory)
            assert row.attempts == attempt
            now = row.next_attempt_at
        assert report.failed == 1
        assert dispatch_due(session_factory, client, now + timedelta(days=1)).attempted == 0
    [row] = _deliveries(session_factory)
    assert row.status == "failed" and row.delivered_at is None
    assert row.last_status_code is None and "Connect" in (row.last_error or "")


def test_background_dispatcher_delivers_while_running(
    session_factory: sessionmaker[Session],
) -> None:
    with running_receiver() as receiver:
        org_id, _, _ = _subscribe(session_factory, "Alice", receiver.url, ["*"])
        dispatcher = WebhookDispatcher(session_factory, interval_s=0.05, policy=POLICY)
        dispatcher.start()
        try:
            _queue_test_event(session_factory, org_id)
            deadline = time.monotonic() + 20
            while not receiver.requests and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            dispatcher.stop()
        assert not dispatcher.running
    assert len(receiver.requests) == 1
    assert [r.status for r in _deliveries(session_factory)] == ["delivered"]


def test_subscription_rules(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        _, admin = make_org(session, "Alice")
        _, viewer = make_org(session, "Carol", role="viewer")
        session.commit()
        with pytest.raises(PermissionDenied):
            webhooks.create_subscription(
                session, viewer, url="https://erp.example.com/h", event_types=["*"]
            )
        with pytest.raises(InvalidInput) as bad_url:
            webhooks.create_subscription(
                session, admin, url="ftp://erp.example.com/h", event_types=["*"]
            )
        assert bad_url.value.errors[0].field == "url"
        with pytest.raises(InvalidInput) as bad_event:
            webhooks.create_subscription(
                session, admin, url="https://erp.example.com/h", event_types=["order.eaten"]
            )
        assert bad_event.value.errors[0].field == "event_types[0]"


# -- the HTTP API -----------------------------------------------------------------------------


def _create(client: TestClient, tenant: ApiTenant, url: str) -> dict:
    response = client.post(
        f"{API}/webhooks",
        json={"url": url, "event_types": ["order.accepted", "booking.created"]},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_api_manages_subscriptions_and_hides_them_from_other_tenants(
    client: TestClient,
) -> None:
    alice = register(client, "Alice Machining", "admin@alice.example.com")
    bob = register(client, "Bob Buyers", "admin@bob.example.com")
    created = _create(client, alice, "https://erp.alice.example.com/hooks")
    assert created["secret"].startswith("whsec_")
    hook_id = created["id"]

    listed = client.get(f"{API}/webhooks", headers=alice.headers).json()
    assert listed["count"] == 1 and "secret" not in listed["data"][0]
    assert client.get(f"{API}/webhooks", headers=bob.headers).json() == {"data": [], "count": 0}

    queued = client.post(f"{API}/webhooks/{hook_id}/test", headers=alice.headers)
    assert queued.status_code == 202, queued.text
    assert queued.json()["event_type"] == "webhook.test"
    deliveries = client.get(f"{API}/webhooks/{hook_id}/deliveries", headers=alice.headers).json()
    assert deliveries["count"] == 1 and deliveries["data"][0]["status"] == "pending"

    for method, path in (
        ("GET", f"{API}/webhooks/{hook_id}/deliveries"),
        ("POST", f"{API}/webhooks/{hook_id}/test"),
        ("DELETE", f"{API}/webhooks/{hook_id}"),
    ):
        response = client.request(method, path, headers=bob.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"{API}/webhooks", headers=alice.headers).json()["count"] == 1

    bad = client.post(
        f"{API}/webhooks", json={"url": "not a url", "event_types": ["*"]}, headers=alice.headers
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "url"

    assert client.delete(f"{API}/webhooks/{hook_id}", headers=alice.headers).status_code == 204
    assert client.get(f"{API}/webhooks", headers=alice.headers).json()["count"] == 0
    gone = client.get(f"{API}/webhooks/{hook_id}/deliveries", headers=alice.headers)
    assert gone.status_code == 404


def test_app_lifespan_runs_the_dispatcher(db_url: str) -> None:
    from sharefab.api.app import create_app
    from sharefab.config import Settings
    from sharefab.services.webhook_delivery import install_webhook_dispatcher

    app = create_app(Settings(env="test", database_url=db_url, secret_key="x" * 40))
    dispatcher = install_webhook_dispatcher(app, interval_s=0.05)
    assert not dispatcher.running
    with running_receiver() as receiver, TestClient(app):
        assert dispatcher.running
        org_id, _, _ = _subscribe(app.state.session_factory, "Alice", receiver.url, ["*"])
        _queue_test_event(app.state.session_factory, org_id)
        deadline = time.monotonic() + 20
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not dispatcher.running
    assert len(receiver.requests) == 1


def test_two_dispatchers_never_deliver_the_same_event_twice(
    session_factory: sessionmaker[Session],
) -> None:
    import threading

    with running_receiver() as receiver:
        org_id, _, _ = _subscribe(session_factory, "Alice", receiver.url, ["*"])
        with session_factory() as session, session.begin():
            for i in range(20):
                webhooks.emit(session, org_id, "order.state_changed", {"order_id": i})

        def drain() -> None:
            with httpx.Client() as client:
                while dispatch_due(session_factory, client, policy=POLICY, batch=3).attempted:
                    pass

        threads = [threading.Thread(target=drain) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    ids = [r.headers["X-ShareFab-Delivery"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 20
    assert {r.status for r in _deliveries(session_factory)} == {"delivered"}
