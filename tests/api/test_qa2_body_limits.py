"""Request-body size limits (QA pass 2): every route refuses a body over 1 MiB with a 413
problem before reading it, whether the size is announced in Content-Length or only found
while a chunked body streams in; attachments, inspection reports and telemetry batches get
larger limits; nothing is stored. Also HEAD answered like GET."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from api_helpers import Tenant, assert_problem, register_tenant, snapshot
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.api.limits import DEFAULT_MAX_BODY, ENVELOPE
from sharefab.api.routes.telemetry import MAX_BODY_BYTES as TELEMETRY_MAX_BODY
from sharefab.config import Settings

API = "/api/v1"
JSON = {"Content-Type": "application/json"}
ATTACHMENT_LIMIT = 2 * 1024 * 1024  # above the default body limit
MILL = "separating.machining.milling.5axis"


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The API tests' settings with an attachment limit of 2 MiB."""
    return Settings(
        env="test",
        database_url=db_url,
        secret_key="api-tests-secret-key-0123456789abcdef",
        attachment_max_bytes=ATTACHMENT_LIMIT,
    )


@pytest.fixture
def buyer(client: TestClient) -> Tenant:
    """A buyer organization with a signed-in admin."""
    return register_tenant(client, "Dora Buyers", "admin@dora.example.com", roles=["buyer"])


def _rfq(title: str = "brackets") -> dict[str, object]:
    operation = {"capability": MILL, "quantity": 2, "unit_minutes": 10}
    return {"title": title, "due_at": "2030-03-01T00:00:00Z", "operations": [operation]}


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """``data`` as an iterator, which the client sends chunked (no Content-Length)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_an_oversized_rfq_is_refused_by_its_content_length(
    client: TestClient, engine: Engine, buyer: Tenant
) -> None:
    before = snapshot(engine)
    body = json.dumps(_rfq("x" * (DEFAULT_MAX_BODY + 1))).encode()
    response = client.post(f"{API}/rfqs", content=body, headers={**buyer.headers, **JSON})
    problem = assert_problem(response, 413, "body")
    assert problem["type"].endswith("/content-too-large")
    assert f"at most {DEFAULT_MAX_BODY} bytes" in problem["detail"]
    assert snapshot(engine) == before


def test_an_oversized_chunked_body_is_refused_while_it_streams_in(
    client: TestClient, engine: Engine, buyer: Tenant
) -> None:
    before = snapshot(engine)
    body = json.dumps(_rfq("x" * (3 * DEFAULT_MAX_BODY))).encode()
    response = client.post(f"{API}/rfqs", content=_chunks(body), headers={**buyer.headers, **JSON})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    problem = assert_problem(response, 413, "body")
    assert f"at most {DEFAULT_MAX_BODY} bytes" in problem["detail"]
    assert snapshot(engine) == before


def test_bodies_under_the_limit_are_handled_as_before(
    client: TestClient, engine: Engine, buyer: Tenant
) -> None:
    streamed = json.dumps(_rfq()).encode()
    created = client.post(
        f"{API}/rfqs", content=_chunks(streamed, 16), headers={**buyer.headers, **JSON}
    )
    assert created.status_code == 201, created.text
    # large but under the limit: the schema answers (title too long), not the size check
    long_title = json.dumps(_rfq("x" * (DEFAULT_MAX_BODY - 1000))).encode()
    assert len(long_title) <= DEFAULT_MAX_BODY
    before = snapshot(engine)
    refused = client.post(f"{API}/rfqs", content=long_title, headers={**buyer.headers, **JSON})
    assert_problem(refused, 422, "title")
    assert snapshot(engine) == before


def test_attachments_get_their_own_limit_and_the_route_still_names_the_file_limit(
    client: TestClient, engine: Engine, buyer: Tenant
) -> None:
    rfq = client.post(f"{API}/rfqs", json=_rfq(), headers=buyer.headers)
    assert rfq.status_code == 201, rfq.text
    url = f"{API}/rfqs/{rfq.json()['id']}/attachments"
    before = snapshot(engine)
    just_over = client.post(
        url,
        files={"file": ("a.pdf", b"x" * (ATTACHMENT_LIMIT + 1), "application/pdf")},
        headers=buyer.headers,
    )
    assert assert_problem(just_over, 413)["type"].endswith("/attachment-too-large")
    far_over = client.post(
        url,
        files={"file": ("b.pdf", b"x" * (ATTACHMENT_LIMIT + ENVELOPE), "application/pdf")},
        headers=buyer.headers,
    )
    problem = assert_problem(far_over, 413, "body")
    assert f"at most {ATTACHMENT_LIMIT + ENVELOPE} bytes" in problem["detail"]
    assert snapshot(engine) == before
    ok = client.post(
        url,
        files={"file": ("c.pdf", b"x" * ATTACHMENT_LIMIT, "application/pdf")},
        headers=buyer.headers,
    )
    assert ok.status_code == 201 and ok.json()["size_bytes"] == ATTACHMENT_LIMIT


def test_telemetry_batches_may_exceed_the_default_but_not_their_own_limit(
    client: TestClient, engine: Engine
) -> None:
    headers = {**JSON, "Authorization": "Device nobody.secret"}
    batch = json.dumps([{"pad": "x" * (2 * DEFAULT_MAX_BODY)}]).encode()
    assert DEFAULT_MAX_BODY < len(batch) < TELEMETRY_MAX_BODY
    under = client.post(f"{API}/telemetry", content=batch, headers=headers)
    assert_problem(under, 401)  # read and judged by the route: the credential is wrong
    before = snapshot(engine)  # (with the failed device login it logged)
    huge = json.dumps([{"pad": "x" * TELEMETRY_MAX_BODY}]).encode()
    over = client.post(f"{API}/telemetry", content=_chunks(huge), headers=headers)
    problem = assert_problem(over, 413, "body")
    assert f"at most {TELEMETRY_MAX_BODY} bytes" in problem["detail"]
    assert snapshot(engine) == before


def test_an_inspection_report_may_exceed_the_default_limit(
    client: TestClient, buyer: Tenant
) -> None:
    # a report of up to attachment_max_bytes travels base64 inside JSON: the route gets it
    url = f"{API}/orders/1/inspections"
    report = "A" * (4 * ATTACHMENT_LIMIT // 3)
    big = client.post(
        url, content=json.dumps({"report_base64": report}), headers={**buyer.headers, **JSON}
    )
    assert big.status_code != 413, big.text
    assert_problem(big, 404)
    too_big = client.post(
        url,
        content=json.dumps({"report_base64": report + "A" * ENVELOPE}),
        headers={**buyer.headers, **JSON},
    )
    assert_problem(too_big, 413, "body")


def test_an_oversized_chunked_site_is_refused_and_nothing_is_stored(
    client: TestClient, engine: Engine, buyer: Tenant
) -> None:
    before = snapshot(engine)
    body = json.dumps({"name": "big", "address": "x" * DEFAULT_MAX_BODY}).encode()
    response = client.post(f"{API}/sites", content=_chunks(body), headers={**buyer.headers, **JSON})
    assert_problem(response, 413, "body")
    assert snapshot(engine) == before


def test_head_is_answered_like_get_without_a_body(client: TestClient, buyer: Tenant) -> None:
    got = client.get(f"{API}/health")
    head = client.head(f"{API}/health")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers["content-type"] == got.headers["content-type"]
    assert client.head(f"{API}/capabilities", params={"q": "milling"}).status_code == 200
    assert client.head(f"{API}/users/me", headers=buyer.headers).status_code == 200
    assert client.head(f"{API}/users/me").status_code == 401  # same rules as GET
    assert client.head(f"{API}/auth/token").status_code == 405  # no GET there either
