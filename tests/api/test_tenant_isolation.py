"""Tenant isolation: a second tenant walks every endpoint with the first tenant's ids.

``isolation_table.py`` (plus its ``isolation_ext_<area>.py`` extensions) classifies every
route the app serves. A route added to the app without an entry there makes
:func:`test_every_route_is_classified` fail, so nobody ships an endpoint whose isolation was
never checked.

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
from isolation_table import API, WINDOW, Obj, Scoped, load_table
from sqlalchemy import Engine

from sharefab.api.app import create_app, route_table
from sharefab.config import Settings
from sharefab.storage.bookings import insert_booking
from sharefab.storage.db import make_session_factory

TABLE = load_table()


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
    alice = register_tenant(  # provides (sites, resources) and buys (the market RFQ)
        client, "Alice Machining", "admin@alice.example.com", roles=["provider", "buyer"]
    )
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
    for setup in TABLE.setups:  # private objects of the areas that extend the table
        setup(client, alice, ids)
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
    path = route.partition("#")[0]
    params = {k: str(v) for k, v in _fill(spec.params, ids).items()} if spec.params else {}
    body = _fill(spec.body, ids) if spec.body is not None else None
    return client.request(
        method, _fill(path, ids), json=body, params=params or None, headers=tenant.headers
    )


def _leaks(response_text: str) -> bool:
    return any(s in response_text for s in ("PO-7", "DMG Mori", "admin@alice", "Suzhou plant"))


@pytest.mark.parametrize(("method", "route"), sorted(TABLE.routes), ids=lambda v: str(v))
def test_second_tenant_cannot_reach_first_tenants_private_data(
    world: World, method: str, route: str
) -> None:
    client, engine, bob, ids = world.client, world.engine, world.bob, world.ids
    spec = TABLE.routes[(method, route)]
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
    unclassified = sorted(_unclassified(module_client.app))
    assert unclassified == [], (
        "classify these routes in tests/api/isolation_table.py or an isolation_ext_<area>.py "
        f"next to it: {unclassified}"
    )
    listed = TABLE.listed()
    assert listed - served == set(), "these listed routes no longer exist"


def _unclassified(app: Any) -> set[tuple[str, str]]:
    return route_table(app) - TABLE.listed()


def test_an_unlisted_new_route_is_noticed(tmp_path: Path) -> None:
    settings = Settings(env="test", database_url=f"sqlite:///{tmp_path}/unused.db")
    extra = APIRouter(prefix="/widgets")

    @extra.get("/{widget_id}")
    def read_widget(widget_id: int) -> dict[str, int]:
        return {"id": widget_id}

    plain = create_app(settings)
    app = create_app(settings, extra_api_routers=[extra])
    added = _unclassified(app) - _unclassified(plain)
    assert added == {("GET", f"{API}/widgets/{{widget_id}}")}
    app.state.engine.dispose()
    plain.state.engine.dispose()


def test_route_table_sees_included_routers(module_client: TestClient) -> None:
    served = route_table(module_client.app)  # type: ignore[arg-type]
    paths = set(module_client.get(f"{API}/openapi.json").json()["paths"])
    assert {p for _, p in served if p.startswith(API)} >= paths
    assert ("GET", f"{API}/resources/{{resource_id}}") in served
