"""Request bodies refuse fields their schema does not know (a typo must not pass silently)."""

from __future__ import annotations

import re
from typing import Any

from api_helpers import MILL_5AXIS, Tenant, assert_problem, make_site, snapshot
from fastapi.testclient import TestClient
from sqlalchemy import Engine

API = "/api/v1"
#: Bodies read by their own parser, not a request schema: telemetry batches are validated (and
#: their unknown keys refused) per message by ``sharefab.iot.schema``, with a device token.
OWN_PARSER = {("POST", f"{API}/telemetry")}


def _json_body_routes(client: TestClient) -> list[tuple[str, str, str]]:
    """``(method, path, schema name)`` of every route whose request body is a JSON schema."""
    spec = client.get(f"{API}/openapi.json").json()
    routes = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema is None or (method.upper(), path) in OWN_PARSER:
                continue
            refs = re.findall(r"#/components/schemas/(\w+)", str(schema))
            routes.append((method.upper(), path, refs[0] if refs else "?"))
    return sorted(routes)


def _request_schemas(spec: dict[str, Any]) -> set[str]:
    """Names of every component schema reachable from a JSON request body."""
    schemas = spec["components"]["schemas"]
    todo = [
        name
        for operations in spec["paths"].values()
        for operation in operations.values()
        for name in re.findall(
            r"#/components/schemas/(\w+)",
            str(operation.get("requestBody", {}).get("content", {}).get("application/json", {})),
        )
    ]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += re.findall(r"#/components/schemas/(\w+)", str(schemas[name]))
    return seen


def test_every_json_body_route_names_an_unknown_field(
    client: TestClient, engine: Engine, alice: Tenant
) -> None:
    """Each route is called with a body holding only a misspelt field: the 422 names it."""
    routes = _json_body_routes(client)
    # Every area's writes are covered (the list grows with the app; these must stay in it).
    paths = {path for _, path, _ in routes}
    for expected in ("/resources", "/sites", "/webhooks", "/rfqs", "/auth/register", "/users"):
        assert f"{API}{expected}" in paths, paths
    before = snapshot(engine)
    for method, path, schema in routes:
        url = re.sub(r"\{\w+\}", "1", path)
        response = client.request(method, url, json={"zz_typo": 1}, headers=alice.headers)
        body = assert_problem(response, 422, "zz_typo")
        messages = [e["message"] for e in body["errors"] if e["field"] == "zz_typo"]
        assert messages[0].startswith("unknown field; this object accepts: "), (schema, body)
    assert snapshot(engine) == before


def test_every_request_schema_forbids_extra_fields_and_responses_stay_lenient(
    client: TestClient,
) -> None:
    spec = client.get(f"{API}/openapi.json").json()
    schemas = spec["components"]["schemas"]
    requests = _request_schemas(spec)
    assert {"RfqCreate", "OperationCreate", "ResourceCreate", "CapabilityOffer"} <= requests
    for name in requests:
        if "properties" in schemas[name]:
            assert schemas[name].get("additionalProperties") is False, name
    for name in ("ResourcePublic", "RfqPublic", "WebhookPublic", "Problem"):
        assert name not in requests
        assert "additionalProperties" not in schemas[name], name


def test_rfq_with_a_misspelt_precedence_field_is_refused_not_defaulted(
    client: TestClient, engine: Engine, bob: Tenant
) -> None:
    before = snapshot(engine)
    body = {
        "title": "brackets",
        "due_at": "2030-06-01T00:00:00Z",
        "operations": [
            {"capability": MILL_5AXIS, "quantity": 10, "unit_minutes": 5},
            {"capability": MILL_5AXIS, "quantity": 10, "unit_minutes": 5, "predecessors": []},
        ],
    }
    response = client.post(f"{API}/rfqs", json=body, headers=bob.headers)
    problem = assert_problem(response, 422, "operations[1].predecessors")
    message = problem["errors"][0]["message"]
    assert message.startswith("unknown field; this object accepts: capability, name, attributes")
    assert "after" in message  # the field the caller probably meant
    assert "operations[1].predecessors: unknown field" in problem["detail"]
    assert snapshot(engine) == before


def test_free_form_json_fields_keep_their_keys(client: TestClient, alice: Tenant) -> None:
    """``attributes`` and ``lease_terms`` are free-form objects: only schema fields are strict."""
    site = make_site(client, alice)
    body = {
        "site_id": site["id"],
        "name": "Oven 1",
        "capabilities": [{"code": MILL_5AXIS, "attributes": {"tolerance_mm": 0.02}}],
        "hourly_rate_minor": 1000,
        "lease_terms": {"model": "hourly", "note": "weekends only"},
    }
    created = client.post(f"{API}/resources", json=body, headers=alice.headers)
    assert created.status_code == 201, created.text
    assert created.json()["lease_terms"] == {"model": "hourly", "note": "weekends only"}
    typo = client.patch(
        f"{API}/resources/{created.json()['id']}",
        json={"hourly_rate": 5},
        headers=alice.headers,
    )
    assert_problem(typo, 422, "hourly_rate")
    nested = client.patch(
        f"{API}/resources/{created.json()['id']}",
        json={"capabilities": [{"code": MILL_5AXIS, "atributes": {}}]},
        headers=alice.headers,
    )
    assert_problem(nested, 422, "capabilities[0].atributes")
    unchanged = client.get(f"{API}/resources/{created.json()['id']}", headers=alice.headers)
    assert unchanged.json()["hourly_rate_minor"] == 1000
