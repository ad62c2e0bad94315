"""Webhooks cannot be pointed at the platform's own network (SSRF): private, loopback,
link-local, multicast, ... destinations are refused at registration and again at delivery."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from api_helpers import Tenant, assert_problem, snapshot
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.config import Settings
from sharefab.services import webhook_targets
from sharefab.services.webhook_delivery import RetryPolicy, dispatch_due
from sharefab.services.webhook_targets import (
    RefusedTarget,
    TargetPolicy,
    address_problem,
    check_target,
)
from sharefab.storage.types import utc_now

API = "/api/v1"
SECRET = "webhook-target-tests-secret-0123456789"
PUBLIC = "93.184.216.34"
DNS: dict[str, list[str]] = {}


@pytest.fixture
def settings(db_url: str) -> Settings:
    """As in production: private webhook targets refused (the test default allows them)."""
    return Settings(env="test", database_url=db_url, secret_key=SECRET, webhook_allow_private=False)


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """Host names resolve through ``DNS`` (a test edits it to change the answers)."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in DNS:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(DNS[host])

    DNS.clear()
    DNS.update(
        {
            "hooks.example.com": [PUBLIC],
            "localhost": ["127.0.0.1", "::1"],
            "mixed.example.com": [PUBLIC, "10.0.0.9"],
            "metadata.example.com": ["169.254.169.254"],
        }
    )
    monkeypatch.setattr(webhook_targets, "system_resolver", resolve)
    yield DNS


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_non_public_addresses_are_named(address: str, kind: str) -> None:
    problem = address_problem(ipaddress.ip_address(address))
    assert problem is not None and f" {kind}" in problem, problem


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9/hooks", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "is a link-local (cloud metadata) address"),
        ("http://10.0.0.5/admin", "10.0.0.5 is a private address"),
        ("http://[::1]:8080/", "::1 is a loopback address"),
        ("http://[::ffff:7f00:1]/", "is a loopback address"),
        ("http://0.0.0.0:5432/", "is an unspecified address"),
        ("http://localhost:8000/hooks", "'localhost' resolves to 127.0.0.1, which is a loopback"),
        ("https://mixed.example.com/h", "resolves to 10.0.0.9, which is a private address"),
        ("https://metadata.example.com/", "resolves to 169.254.169.254, which is a link-local"),
        ("https://nowhere.example.com/h", "host 'nowhere.example.com' does not resolve"),
        ("ftp://hooks.example.com/h", "must be an absolute http:// or https:// URL"),
        ("gopher://127.0.0.1:25/", "must be an absolute http:// or https:// URL"),
        ("file:///etc/passwd", "must be an absolute http:// or https:// URL"),
        ("http://hooks.example.com:99999/", "is not a valid URL"),
        ("http://hooks.example.com/a b", "must not contain spaces or control characters"),
    ],
)
def test_registration_refuses_the_destination_with_the_reason(
    client: TestClient, engine: Engine, alice: Tenant, url: str, reason: str
) -> None:
    before = snapshot(engine)
    response = client.post(
        f"{API}/webhooks", json={"url": url, "event_types": ["*"]}, headers=alice.headers
    )
    problem = assert_problem(response, 422, "url")
    assert reason in problem["errors"][0]["message"], problem
    assert snapshot(engine) == before


def test_a_public_host_is_registered(client: TestClient, alice: Tenant) -> None:
    response = client.post(
        f"{API}/webhooks",
        json={"url": "https://hooks.example.com/erp", "event_types": ["*"]},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text


def test_delivery_checks_again_and_connects_to_the_checked_address(
    client: TestClient, alice: Tenant
) -> None:
    """DNS that turns private after registration is refused at delivery; otherwise the
    request goes to the address that was checked, with the host name kept for TLS."""
    created = client.post(
        f"{API}/webhooks",
        json={"url": "https://hooks.example.com:8443/erp?x=1", "event_types": ["*"]},
        headers=alice.headers,
    ).json()
    queued = client.post(f"{API}/webhooks/{created['id']}/test", headers=alice.headers)
    assert queued.status_code == 202, queued.text
    sent: list[httpx.Request] = []
    http = httpx.Client(
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(204))
    )
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    refuse = TargetPolicy(allow_private=False)
    policy = RetryPolicy(base_delay_s=1, max_delay_s=1, jitter=0)
    now = utc_now()

    DNS["hooks.example.com"] = ["127.0.0.1"]  # rebound to the platform's own machine
    report = dispatch_due(factory, http, now, policy=policy, targets=refuse)
    assert (report.delivered, report.retrying, sent) == (0, 1, [])
    assert "refused: host 'hooks.example.com' resolves to 127.0.0.1" in report.errors[0]
    deliveries = client.get(
        f"{API}/webhooks/{created['id']}/deliveries", headers=alice.headers
    ).json()["data"]
    assert deliveries[0]["status"] == "pending"
    assert deliveries[0]["last_error"].startswith("refused: host 'hooks.example.com'")

    DNS["hooks.example.com"] = [PUBLIC]
    report = dispatch_due(factory, http, now + timedelta(minutes=1), policy=policy, targets=refuse)
    assert report.delivered == 1
    (request,) = sent
    assert str(request.url) == f"https://{PUBLIC}:8443/erp?x=1"
    assert request.headers["Host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


def test_allowing_private_targets_skips_the_address_check() -> None:
    allowed = check_target("http://127.0.0.1:9/h", TargetPolicy(allow_private=True))
    assert allowed.address is None  # connects by name, as before
    with pytest.raises(RefusedTarget, match="http:// or https://"):
        check_target("ftp://127.0.0.1/h", TargetPolicy(allow_private=True))


def test_production_refuses_private_targets_unless_the_setting_allows_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "s" * 40
    assert Settings(env="production", secret_key=secret).webhook_private_targets_allowed is False
    assert Settings(env="development").webhook_private_targets_allowed is True
    assert Settings(env="test").webhook_private_targets_allowed is True
    monkeypatch.setenv("SHAREFAB_WEBHOOK_ALLOW_PRIVATE", "true")
    assert Settings(env="production", secret_key=secret).webhook_private_targets_allowed is True
    monkeypatch.setenv("SHAREFAB_WEBHOOK_ALLOW_PRIVATE", "false")
    assert Settings(env="development").webhook_private_targets_allowed is False
