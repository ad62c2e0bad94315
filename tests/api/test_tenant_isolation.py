"""Tenant isolation: a second tenant walks every endpoint with the first tenant's ids.

``ROUTES`` classifies every route the app serves. A route added to the app without an entry
here makes :func:`test_every_route_is_classified` fail, so nobody ships an endpoint whose
isolation was never checked.

* ``EXEMPT`` routes hold no tenant data (health, registration, login, the taxonomy, clusters,
  the API docs).
* ``Obj`` routes name another tenant's object in the path: the second tenant gets **404**
  with the same body as for an id that does not exist (existence is not leaked), and the
  database is unchanged.
* ``Scoped`` routes only ever act inside the caller's organization: the second tenant gets
  its own (empty) view, or a 422 naming the foreign id it referenced, and never sees the first
  tenant's private data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_helpers import (
    Tenant,
    assert_problem,
    make_resource,
    make_site,
    register_tenant,
    snapshot,
)
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from sharefab.api.app import create_app, route_table
from sharefab.config import Settings
from sharefab.storage.bookings import insert_booking
from sharefab.storage.db import make_session_factory

API = "/api/v1"

EXEMPT: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", f"{API}/health"),
        ("POST", f"{API}/auth/register"),
        ("POST", f"{API}/auth/token"),
        ("GET", f"{API}/capabilities"),
        ("GET", f"{API}/capabilities/{{code}}"),
        ("GET", f"{API}/clusters"),
        ("GET", f"{API}/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
    }
)


@dataclass(frozen=True)
class Obj:
    """A route naming another tenant's object; expect 404."""

    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Scoped:
    """A route acting only inside the caller's org. ``status`` is what the second tenant gets;
    ``field`` the field a 422 names; ``params`` query parameters (``{...}`` filled with ids)."""

    status: int
    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    field: str | None = None


WINDOW = {"start_at": "2027-02-01T08:00:00Z", "end_at": "2027-02-01T16:00:00Z"}
RULE = {"rule": "Sat 08:00-12:00", "timezone": "Asia/Shanghai", "horizon_days": 14}

ROUTES: dict[tuple[str, str], Obj | Scoped] = {
    ("GET", f"{API}/users/me"): Scoped(200),
    ("GET", f"{API}/users"): Scoped(200),
    ("POST", f"{API}/users"): Scoped(
        201, body={"email": "new@bob.example.com", "password": "long enough", "role": "viewer"}
    ),
    ("GET", f"{API}/users/{{user_id}}"): Obj(),
    ("PATCH", f"{API}/users/{{user_id}}"): Obj(body={"role": "viewer"}),
    ("GET", f"{API}/sites"): Scoped(200),
    ("POST", f"{API}/sites"): Scoped(201, body={"name": "Bob site", "lat": 30.0, "lon": 120.0}),
    ("GET", f"{API}/sites/{{site_id}}"): Obj(),
    ("PATCH", f"{API}/sites/{{site_id}}"): Obj(body={"name": "taken over"}),
    ("DELETE", f"{API}/sites/{{site_id}}"): Obj(),
    ("GET", f"{API}/resources"): Scoped(200, params={"capability": "separating"}),
    ("POST", f"{API}/resources"): Scoped(
        422,
        body={
            "site_id": "{site_id}",
            "name": "on someone else's site",
            "capabilities": [{"code": "separating.machining.milling"}],
            "hourly_rate_minor": 100,
        },
        field="site_id",
    ),
    ("GET", f"{API}/resources/{{resource_id}}"): Obj(),
    ("PATCH", f"{API}/resources/{{resource_id}}"): Obj(body={"hourly_rate_minor": 1}),
    ("DELETE", f"{API}/resources/{{resource_id}}"): Obj(),
    ("GET", f"{API}/resources/{{resource_id}}/windows"): Obj(),
    ("POST", f"{API}/resources/{{resource_id}}/windows"): Obj(body=WINDOW),
    ("DELETE", f"{API}/resources/{{resource_id}}/windows/{{window_id}}"): Obj(),
    ("POST", f"{API}/resources/{{resource_id}}/calendar-rules"): Obj(body=RULE),
    ("GET", f"{API}/bookings"): Scoped(200),
    ("GET", f"{API}/bookings#resource"): Obj(),  # GET /bookings?resource_id=<alice's private>
}
# ``#resource`` marks a second use of one route; the path itself is the part before '#'.


@dataclass
class World:
    """Two tenants on one database shared by this module; ``ids`` of Alice's private objects."""

    client: TestClient
    engine: Engine
    alice: Tenant
    bob: Tenant
    ids: dict[str, int]


@pytest.fixture(scope="module")
def world(module_client: TestClient) -> World:
    client = module_client
    alice = register_tenant(client, "Alice Machining", "admin@alice.example.com")
    bob = register_tenant(client, "Bob Buyers", "admin@bob.example.com", roles=["buyer"])
    site = make_site(client, alice)
    resource = make_resource(client, alice, site["id"], is_public=False)
    window = client.post(
        f"{API}/resources/{resource['id']}/windows", json=WINDOW, headers=alice.headers
    ).json()
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    start = datetime(2027, 2, 1, 9, tzinfo=UTC)
    with make_session_factory(engine)() as session, session.begin():
        insert_booking(session, resource["id"], start, start + timedelta(hours=2), order_ref="PO-7")
    ids = {
        "user_id": alice.user_id,
        "site_id": site["id"],
        "resource_id": resource["id"],
        "window_id": window["id"],
    }
    return World(client, engine, alice, bob, ids)


def _fill(template: Any, ids: dict[str, int]) -> Any:
    if isinstance(template, str):
        match = re.fullmatch(r"\{(\w+)\}", template)
        if match:
            return ids[match.group(1)]
        return template.format(**ids)
    if isinstance(template, dict):
        return {k: _fill(v, ids) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, ids) for v in template]
    return template


def _call(
    client: TestClient, tenant: Tenant, method: str, route: str, spec: Obj | Scoped, ids: dict
) -> Any:
    path, _, variant = route.partition("#")
    params = dict(_fill(spec.params, ids)) if isinstance(spec, Scoped) and spec.params else {}
    if variant == "resource":
        params["resource_id"] = str(ids["resource_id"])
    body = _fill(spec.body, ids) if spec.body is not None else None
    return client.request(
        method, _fill(path, ids), json=body, params=params or None, headers=tenant.headers
    )


def _leaks(response_text: str) -> bool:
    return any(s in response_text for s in ("PO-7", "DMG Mori", "admin@alice", "Suzhou plant"))


@pytest.mark.parametrize(("method", "route"), sorted(ROUTES), ids=lambda v: str(v))
def test_second_tenant_cannot_reach_first_tenants_private_data(
    world: World, method: str, route: str
) -> None:
    client, engine, bob, ids = world.client, world.engine, world.bob, world.ids
    spec = ROUTES[(method, route)]
    before = snapshot(engine)
    response = _call(client, bob, method, route, spec, ids)
    assert not _leaks(response.text), response.text
    if isinstance(spec, Obj):
        body = assert_problem(response, 404)
        assert snapshot(engine) == before
        # The same answer as for an id that does not exist: existence is not leaked.
        missing = {k: v + 1000 for k, v in ids.items()}
        other = _call(client, bob, method, route, spec, missing).json()
        strip = re.compile(r"\d+")
        assert strip.sub("N", other["detail"]) == strip.sub("N", body["detail"])
    else:
        assert response.status_code == spec.status, response.text
        if spec.status >= 400:
            assert_problem(response, spec.status, spec.field)
            assert snapshot(engine) == before
        elif response.status_code == 200 and "data" in response.json():
            owners = {row.get("org_id") for row in response.json()["data"]} - {None}
            assert owners <= {bob.org_id}
        # A scoped write may add Bob's rows; every row that existed is untouched.
        after = snapshot(engine)
        for table, rows in before.items():
            missing = [row for row in rows if row not in after[table]]
            assert missing == [], table


def test_every_route_is_classified(module_client: TestClient) -> None:
    served = route_table(module_client.app)  # type: ignore[arg-type]
    listed = {(m, r.partition("#")[0]) for m, r in ROUTES} | EXEMPT
    assert _unclassified(module_client.app) == set(), "add these routes to ROUTES or EXEMPT"
    assert listed - served == set(), "these listed routes no longer exist"


def _unclassified(app: Any) -> set[tuple[str, str]]:
    listed = {(m, r.partition("#")[0]) for m, r in ROUTES} | EXEMPT
    return route_table(app) - listed


def test_an_unlisted_new_route_is_noticed(tmp_path: Path) -> None:
    settings = Settings(env="test", database_url=f"sqlite:///{tmp_path}/unused.db")
    extra = APIRouter(prefix="/widgets")

    @extra.get("/{widget_id}")
    def read_widget(widget_id: int) -> dict[str, int]:
        return {"id": widget_id}

    app = create_app(settings, extra_api_routers=[extra])
    assert _unclassified(app) == {("GET", f"{API}/widgets/{{widget_id}}")}
    app.state.engine.dispose()


def test_route_table_sees_included_routers(module_client: TestClient) -> None:
    served = route_table(module_client.app)  # type: ignore[arg-type]
    paths = set(module_client.get(f"{API}/openapi.json").json()["paths"])
    assert {p for _, p in served if p.startswith(API)} >= paths
    assert ("GET", f"{API}/resources/{{resource_id}}") in served
