"""Delivering the webhook outbox: signing, retries with backoff, the background dispatcher.

**Signature** (Stripe style). Every delivery is a ``POST`` of a JSON body
``{"id", "type", "created_at", "attempt", "data"}`` with the headers
``X-ShareFab-Event`` (the type), ``X-ShareFab-Delivery`` (the delivery id; deduplicate on it,
delivery is at-least-once) and::

    X-ShareFab-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>

A receiver verifies it with the raw request body, before parsing it::

    import hashlib, hmac, time

    def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
        mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256)
        fresh = abs(time.time() - t) <= tolerance       # refuse replays of old deliveries
        return fresh and hmac.compare_digest(mac.hexdigest(), fields["v1"])

**Retries.** A 2xx answer marks the delivery ``delivered``. Anything else (another status, a
timeout, a refused connection) schedules the next attempt after an exponential backoff
``min(max_delay, base_delay * 2**(attempt-1))`` scaled by a random factor in
``[1 - jitter, 1 + jitter]`` (so failing receivers are not hit in lock-step); after
``max_attempts`` attempts the delivery is ``failed``.

**Destinations.** Before each attempt the URL's host is resolved and checked again
(:mod:`sharefab.services.webhook_targets`): a host that now resolves to a loopback, private,
link-local, ... address is not called (the attempt fails with ``last_error`` saying why,
unless private targets are allowed), and the request connects to the checked address, so
DNS cannot change between the check and the connection. Redirects are not followed.

**Claiming.** :func:`dispatch_due` claims due rows in a short transaction (PostgreSQL:
``FOR UPDATE SKIP LOCKED``, so several dispatchers never take the same row; SQLite serializes
writers) by counting the attempt and pushing ``next_attempt_at`` one lease ahead, then sends
without holding any database lock, then records each outcome. A dispatcher that dies mid-send
leaves its rows to be retried when the lease runs out.

**Background task.** :class:`WebhookDispatcher` is a daemon *thread* (the delivery code is
blocking: SQLAlchemy sessions and an ``httpx.Client``), polling every ``interval_s`` seconds.
:func:`install_webhook_dispatcher` ties its start and stop to an app's lifespan; ``sharefab
serve`` installs it unless ``SHAREFAB_WEBHOOK_DISPATCH=0``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.services.webhook_targets import (
    RefusedTarget,
    TargetPolicy,
    check_target,
    pinned_request,
)
from sharefab.storage.types import utc_now
from sharefab.storage.webhook_models import WebhookDelivery, WebhookSubscription

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-ShareFab-Signature"
EVENT_HEADER = "X-ShareFab-Event"
DELIVERY_HEADER = "X-ShareFab-Delivery"
USER_AGENT = "ShareFab-Webhooks/1"
#: Characters of a failing receiver's answer kept in ``last_error``.
ERROR_EXCERPT = 300
#: Deliveries claimed per dispatch round.
BATCH = 100


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-ShareFab-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    body: bytes,
    header: str,
    *,
    tolerance_s: int = 300,
    now: float | None = None,
) -> bool:
    """Whether ``header`` is a valid, fresh signature of ``body`` (the receiver's check)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a delivery is retried."""

    max_attempts: int = 8
    base_delay_s: float = 30.0
    max_delay_s: float = 6 * 3600.0
    jitter: float = 0.25
    lease_s: float = 300.0
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay_s <= 0 or self.max_delay_s < self.base_delay_s:
            raise ValueError("need 0 < base_delay_s <= max_delay_s")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.lease_s <= 0 or self.timeout_s <= 0:
            raise ValueError("lease_s and timeout_s must be positive")

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        """Wait before the attempt after attempt number ``attempt`` (1-based) failed."""
        base = min(self.max_delay_s, self.base_delay_s * 2 ** max(0, attempt - 1))
        factor = 1.0 - self.jitter + 2.0 * self.jitter * rng.random()
        return timedelta(seconds=base * factor)


@dataclass(slots=True)
class DispatchReport:
    """What one :func:`dispatch_due` call did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        """Deliveries attempted."""
        return self.delivered + self.retrying + self.failed


@dataclass(frozen=True, slots=True)
class _Claim:
    id: int
    url: str
    secret: str
    event_type: str
    attempt: int
    body: bytes


def _body(row: WebhookDelivery, attempt: int) -> bytes:
    document: dict[str, Any] = {
        "id": f"dlv_{row.id}",
        "type": row.event_type,
        "created_at": row.created_at.isoformat(),
        "attempt": attempt,
        "data": row.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def _claim(
    session_factory: sessionmaker[Session], now: datetime, policy: RetryPolicy, batch: int
) -> list[_Claim]:
    with session_factory() as session, session.begin():
        stmt = (
            select(WebhookDelivery, WebhookSubscription.url, WebhookSubscription.secret)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                WebhookSubscription.active.is_(True),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(batch)
            .with_for_update(of=WebhookDelivery, skip_locked=True)
        )
        claims: list[_Claim] = []
        for row, url, secret in session.execute(stmt).all():
            row.attempts += 1
            row.next_attempt_at = now + timedelta(seconds=policy.lease_s)
            claims.append(
                _Claim(row.id, url, secret, row.event_type, row.attempts, _body(row, row.attempts))
            )
    return claims


def _send(
    client: httpx.Client,
    claim: _Claim,
    now: datetime,
    policy: RetryPolicy,
    targets: TargetPolicy,
) -> tuple[bool, int | None, str | None]:
    """POST one delivery to its checked address; returns (ok, status code or None, error
    text or None). A destination that is no longer allowed is a failed attempt."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: claim.event_type,
        DELIVERY_HEADER: f"dlv_{claim.id}",
        SIGNATURE_HEADER: sign(claim.secret, claim.body, int(now.timestamp())),
    }
    try:
        target = check_target(claim.url, targets)  # again: DNS may have changed since
    except RefusedTarget as exc:
        return False, None, f"refused: {exc}"[:ERROR_EXCERPT]
    url, pinned_headers, extensions = pinned_request(target)
    try:
        response = client.post(
            url,
            content=claim.body,
            headers={**headers, **pinned_headers},
            timeout=policy.timeout_s,
            extensions=extensions,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return False, None, f"{exc.__class__.__name__}: {exc}"[:ERROR_EXCERPT]
    if 200 <= response.status_code < 300:
        return True, response.status_code, None
    excerpt = response.text[:ERROR_EXCERPT]
    return False, response.status_code, f"HTTP {response.status_code}: {excerpt}"


def dispatch_due(
    session_factory: sessionmaker[Session],
    client: httpx.Client,
    now: datetime | None = None,
    *,
    policy: RetryPolicy | None = None,
    rng: random.Random | None = None,
    batch: int = BATCH,
    targets: TargetPolicy | None = None,
) -> DispatchReport:
    """Deliver up to ``batch`` pending deliveries due at ``now`` (default: the current time)
    of active subscriptions, oldest due first; see the module doc for retries. ``targets``
    (default: from the process settings) decides which destinations may be called."""
    policy = policy or RetryPolicy()
    targets = targets or TargetPolicy.from_settings()
    rng = rng or random.Random()
    now = now or utc_now()
    report = DispatchReport()
    for claim in _claim(session_factory, now, policy, batch):
        ok, status_code, error = _send(client, claim, now, policy, targets)
        with session_factory() as session, session.begin():
            row = session.get(WebhookDelivery, claim.id)
            if row is None:  # the subscription was deleted meanwhile
                continue
            row.last_status_code = status_code
            row.last_error = error
            if ok:
                row.status = "delivered"
                row.delivered_at = now
                report.delivered += 1
            elif row.attempts >= policy.max_attempts:
                row.status = "failed"
                report.failed += 1
            else:
                row.next_attempt_at = now + policy.delay(row.attempts, rng)
                report.retrying += 1
            if error:
                report.errors.append(f"delivery {claim.id}: {error}")
    return report


class WebhookDispatcher:
    """A daemon thread delivering due webhooks every ``interval_s`` seconds."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        interval_s: float = 2.0,
        policy: RetryPolicy | None = None,
        client_factory: Callable[[], httpx.Client] = httpx.Client,
        targets: TargetPolicy | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._session_factory = session_factory
        self._interval_s = interval_s
        self._policy = policy or RetryPolicy()
        self._client_factory = client_factory
        self._targets = targets
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start polling (idempotent)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sharefab-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the current round (waits up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        rng = random.Random()
        with self._client_factory() as client:
            while not self._stop.is_set():
                try:
                    report = dispatch_due(
                        self._session_factory,
                        client,
                        policy=self._policy,
                        rng=rng,
                        targets=self._targets,
                    )
                except Exception:  # a database outage must not kill the thread
                    log.exception("webhook dispatch round failed; retrying")
                    report = DispatchReport()
                self.rounds += 1
                if report.attempted < BATCH:  # a full batch means more may be due: go on
                    self._stop.wait(self._interval_s)


def install_webhook_dispatcher(app: Any, *, interval_s: float = 2.0) -> WebhookDispatcher:
    """Run a :class:`WebhookDispatcher` on ``app.state.session_factory`` for the app's
    lifetime (a ``configure`` hook for :func:`sharefab.api.app.create_app`)."""
    settings = getattr(app.state, "settings", None)
    dispatcher = WebhookDispatcher(
        app.state.session_factory,
        interval_s=interval_s,
        targets=TargetPolicy.from_settings(settings),
    )
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        dispatcher.start()
        try:
            async with inner(application) as state:
                yield state
        finally:
            dispatcher.stop()

    app.router.lifespan_context = lifespan
    app.state.webhook_dispatcher = dispatcher
    return dispatcher
