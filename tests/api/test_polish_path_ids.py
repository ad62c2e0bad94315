"""Resource ids beyond 64 bits in the device-credential and usage paths are a 422 naming the
path parameter (never blaming the body, never a 500) and store nothing."""

from __future__ import annotations

import pytest
from api_helpers import Tenant, assert_problem, snapshot
from fastapi.testclient import TestClient
from sqlalchemy import Engine

API = "/api/v1"
HUGE = str(2**64)

ROUTES = [
    ("GET", f"{API}/resources/{HUGE}/device-credentials", None),
    ("POST", f"{API}/resources/{HUGE}/device-credentials", {"label": "plc"}),
    ("POST", f"{API}/resources/{HUGE}/device-credentials/rotate", {"label": "plc"}),
    ("DELETE", f"{API}/resources/{HUGE}/device-credentials", None),
    ("GET", f"{API}/resources/{HUGE}/utilisation", None),
    ("GET", f"{API}/resources/{HUGE}/usage", None),
    ("GET", f"{API}/resources/{HUGE}/idle-suggestions", None),
    ("POST", f"{API}/resources/{HUGE}/idle-suggestions/publish", {"min_hours": 4}),
]


@pytest.mark.parametrize(("method", "url", "body"), ROUTES, ids=[f"{m} {u}" for m, u, _ in ROUTES])
def test_a_huge_resource_id_is_a_422_naming_the_path_parameter(
    client: TestClient, engine: Engine, alice: Tenant, method: str, url: str, body: object
) -> None:
    before = snapshot(engine)
    response = client.request(method, url, json=body, headers=alice.headers)
    problem = assert_problem(response, 422, "resource_id")
    assert "body" not in [e["field"] for e in problem["errors"]], problem
    assert snapshot(engine) == before


def test_an_unknown_but_valid_resource_id_is_a_404_on_both_routes(
    client: TestClient, alice: Tenant
) -> None:
    missing = 2**31 - 1  # the largest id a row may have
    for url in (
        f"{API}/resources/{missing}/device-credentials",
        f"{API}/resources/{missing}/idle-suggestions",
    ):
        assert_problem(client.get(url, headers=alice.headers), 404)
