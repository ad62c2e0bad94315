"""Every error is RFC 9457 problem+json; health and docs answer."""

from __future__ import annotations

from api_helpers import Tenant, assert_problem
from fastapi import APIRouter
from fastapi.testclient import TestClient

from sharefab.api.app import create_app
from sharefab.api.errors import field_path
from sharefab.config import Settings

API = "/api/v1"


def test_health_reports_database(client: TestClient) -> None:
    response = client.get(f"{API}/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["database"] == "ok"


def test_health_is_503_when_the_database_is_gone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing_dir = tmp_path / "no" / "such"
    settings = Settings(env="test", database_url=f"sqlite:///{missing_dir}/x.db")
    app = create_app(settings)
    missing_dir.rmdir()  # make_engine created it; sqlite cannot open the file now
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(f"{API}/health")
    assert response.status_code == 503
    assert response.json()["status"] == "degraded"


def test_docs_and_openapi(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get(f"{API}/openapi.json").json()
    assert f"{API}/resources" in spec["paths"]


def test_unknown_route_and_method_are_problems(client: TestClient, alice: Tenant) -> None:
    assert_problem(client.get(f"{API}/no-such-thing"), 404)
    assert_problem(client.put(f"{API}/health"), 405)
    assert_problem(client.get(f"{API}/resources/abc", headers=alice.headers), 422, "resource_id")


def test_unexpected_errors_hide_the_traceback(settings: Settings) -> None:
    boom = APIRouter()

    @boom.get("/boom")
    def explode() -> None:
        raise RuntimeError("secret internals at /srv/app.py line 7")

    app = create_app(settings, extra_api_routers=[boom])
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(f"{API}/boom")
    body = assert_problem(response, 500)
    assert "secret internals" not in response.text
    assert body["title"] == "Internal Server Error"


def test_domain_value_error_is_422(settings: Settings) -> None:
    router = APIRouter()

    @router.get("/rule")
    def bad_rule() -> None:
        raise ValueError("the rule is empty")

    app = create_app(settings, extra_api_routers=[router])
    with TestClient(app) as client:
        body = assert_problem(client.get(f"{API}/rule"), 422, "body")
    assert body["detail"] == "the rule is empty"


def test_field_paths() -> None:
    assert field_path(("body", "capabilities", 0, "code")) == "capabilities[0].code"
    assert field_path(("query", "near")) == "near"
    assert field_path(("body",)) == "body"
