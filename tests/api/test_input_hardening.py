"""Unhappy paths found by walking a running server by hand, now named 4xx answers that store
nothing: oversized bodies, floods of bad fields, true/false as ids, NaN and infinity, dates
beyond 2200 and NUL characters inside free-form JSON."""

from __future__ import annotations

import json

import pytest
from api_helpers import MILL_5AXIS, Tenant, assert_problem, make_site, resource_body, snapshot
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.api.errors import MAX_LISTED_ERRORS
from sharefab.api.schemas.common import MAX_JSON_BODY

API = "/api/v1"
JSON = {"Content-Type": "application/json"}


INF, NAN = "__infinity__", "__nan__"


def _raw(body: dict[str, object]) -> str:
    """``body`` as JSON text with the literals ``Infinity`` and ``NaN`` that Python's JSON
    reader (and so the API's) accepts."""
    return json.dumps(body).replace(f'"{INF}"', "Infinity").replace(f'"{NAN}"', "NaN")


def _rfq(**overrides: object) -> dict[str, object]:
    operation = {"capability": MILL_5AXIS, "quantity": 2, "unit_minutes": 10}
    body: dict[str, object] = {"due_at": "2030-03-01T00:00:00Z", "operations": [operation]}
    body.update(overrides)
    return body


def test_an_oversized_body_is_a_413_problem_before_it_is_parsed(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    before = snapshot(engine)
    body = json.dumps({"name": "big", "address": "x" * MAX_JSON_BODY})
    response = client.post(f"{API}/sites", content=body, headers={**alice.headers, **JSON})
    problem = assert_problem(response, 413, "body")
    assert f"at most {MAX_JSON_BODY} bytes" in problem["detail"]
    assert snapshot(engine) == before


def test_a_flood_of_bad_fields_gets_a_short_answer(client: TestClient, alice: Tenant) -> None:
    body = {"name": "m", **{f"k{i}": 1 for i in range(5000)}}
    response = client.post(f"{API}/sites", json=body, headers=alice.headers)
    problem = assert_problem(response, 422, "k0")
    assert len(problem["errors"]) == MAX_LISTED_ERRORS + 1
    assert problem["errors"][-1] == {
        "field": "body",
        "message": f"... and {5000 - MAX_LISTED_ERRORS} more problem(s) not listed; "
        "fix these first",
    }
    assert len(response.content) < 10_000


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/sites", {"name": "a", "cluster_id": True}, "cluster_id"),
        ("/resources", {"hourly_rate_minor": True}, "hourly_rate_minor"),
        ("/resources", {"site_id": True}, "site_id"),
        ("/rfqs", _rfq(budget_minor=False), "budget_minor"),
    ],
)
def test_true_and_false_are_not_ids_or_money(
    client: TestClient, engine: Engine, alice: Tenant, path: str, body: dict, field: str
) -> None:
    if path == "/resources":
        site = make_site(client, alice)
        body = {**resource_body(site["id"]), **body}
    before = snapshot(engine)
    response = client.post(f"{API}{path}", json=body, headers=alice.headers)
    problem = assert_problem(response, 422, field)
    assert "not true/false" in problem["detail"]
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/sites", '{"name": "a", "lat": NaN}', "lat"),
        ("/sites", '{"name": "a", "lon": Infinity}', "lon"),
        (
            "/rfqs",
            _raw(_rfq(operations=[{"capability": MILL_5AXIS, "quantity": 1, "unit_minutes": INF}])),
            "operations[0].unit_minutes",
        ),
        ("/rfqs", _raw(_rfq(delivery_lat=NAN, delivery_lon=0)), "delivery_lat"),
    ],
)
def test_nan_and_infinity_are_refused_as_not_finite(
    client: TestClient, engine: Engine, alice: Tenant, path: str, raw: str, field: str
) -> None:
    before = snapshot(engine)
    response = client.post(f"{API}{path}", content=raw, headers={**alice.headers, **JSON})
    problem = assert_problem(response, 422, field)
    assert "finite number" in problem["detail"]
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (_rfq(due_at="2500-03-01T00:00:00Z"), "due_at", "must lie between 1970-01-01"),
        (_rfq(budget_minor=99_999_999_999_999), "budget_minor", "less than or equal to"),
        (_rfq(title="a\x00b"), "title", "NUL"),
        (
            _rfq(operations=[{"capability": MILL_5AXIS, "quantity": 1, "unit_minutes": 1e308}]),
            "operations[0].unit_minutes",
            "less than or equal to 1000000",
        ),
        (
            _rfq(operations=[{"capability": MILL_5AXIS, "quantity": 10**12, "unit_minutes": 1}]),
            "operations[0].quantity",
            "less than or equal to 2147483647",
        ),
        (
            _rfq(
                operations=[
                    {"capability": MILL_5AXIS, "quantity": 1, "unit_minutes": 1, "name": "\x00"}
                ]
            ),
            "operations[0].name",
            "NUL",
        ),
        (
            _rfq(
                operations=[
                    {
                        "capability": MILL_5AXIS,
                        "quantity": 1,
                        "unit_minutes": 1,
                        "attributes": {"materials": ["steel\x00"]},
                    }
                ]
            ),
            "operations[0].attributes",
            "NUL",
        ),
    ],
)
def test_rfqs_that_no_quote_could_use_are_refused_up_front(
    client: TestClient, engine: Engine, bob: Tenant, body: dict, field: str, words: str
) -> None:
    before = snapshot(engine)
    response = client.post(f"{API}/rfqs", json=body, headers=bob.headers)
    problem = assert_problem(response, 422, field)
    assert words in problem["detail"], problem
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lease_terms": {"model": "hourly", "note\x00": 1}}, "lease_terms"),
        ({"lease_terms": {"model": "hourly", "note": "a\x00"}}, "lease_terms"),
        (
            {"capabilities": [{"code": MILL_5AXIS, "attributes": {"materials": ["st\x00eel"]}}]},
            "capabilities[0].attributes",
        ),
    ],
)
def test_nul_inside_free_form_json_is_refused_on_every_backend(
    client: TestClient, engine: Engine, alice: Tenant, overrides: dict, field: str
) -> None:
    site = make_site(client, alice)
    before = snapshot(engine)
    response = client.post(
        f"{API}/resources", json=resource_body(site["id"], **overrides), headers=alice.headers
    )
    assert "NUL" in assert_problem(response, 422, field)["detail"]
    assert snapshot(engine) == before
