"""Tenant-isolation classification of the telemetry area's routes (iot).

``POST /telemetry`` is authenticated by a device token, so a tenant's bearer token gets 401;
every other route is the resource owner's only (404 for another tenant, public resource or
not; ``POST /usage/bill`` names the first tenant's booking PO-7). The setup gives the first
tenant's private resource an active device credential and records that booking's id.
"""

from __future__ import annotations

from typing import Any

from isolation_table import API, Obj, Scoped
from sqlalchemy import select

from sharefab.storage.db import make_session_factory
from sharefab.storage.models import Booking

ROUTES: dict[tuple[str, str], Obj | Scoped] = {
    ("POST", f"{API}/telemetry"): Scoped(401, body=[{"schema_version": 1}]),  # type: ignore[dict-item]
    ("GET", f"{API}/resources/{{resource_id}}/device-credentials"): Obj(),
    ("POST", f"{API}/resources/{{resource_id}}/device-credentials"): Obj(),
    ("POST", f"{API}/resources/{{resource_id}}/device-credentials/rotate"): Obj(),
    ("DELETE", f"{API}/resources/{{resource_id}}/device-credentials"): Obj(),
    ("GET", f"{API}/resources/{{resource_id}}/utilisation"): Obj(),
    ("GET", f"{API}/resources/{{resource_id}}/usage"): Obj(),
    ("GET", f"{API}/resources/{{resource_id}}/idle-suggestions"): Obj(),
    ("POST", f"{API}/resources/{{resource_id}}/idle-suggestions/publish"): Obj(body={}),
    ("GET", f"{API}/utilisation"): Scoped(200),
    ("GET", f"{API}/usage/statements"): Scoped(404, params={"order_ref": "PO-7"}),
    ("POST", f"{API}/usage/bill"): Obj(body={"booking_id": "{booking_id}"}),
    # platform operators only: a tenant cannot fund a wallet, not even its own
    ("POST", f"{API}/ledger/deposits"): Scoped(
        403, body={"org_id": 1, "amount_minor": 100, "currency": "CNY", "reference": "R-1"}
    ),
}


def setup(client: Any, alice: Any, ids: dict[str, int]) -> None:
    """An active device credential on the first tenant's private resource; the id of its
    booking (``ids["booking_id"]``)."""
    response = client.post(
        f"{API}/resources/{ids['resource_id']}/device-credentials", headers=alice.headers
    )
    assert response.status_code == 201, response.text
    with make_session_factory(client.app.state.engine)() as session:
        ids["booking_id"] = session.scalars(
            select(Booking.id).where(
                Booking.resource_id == ids["resource_id"], Booking.order_ref == "PO-7"
            )
        ).one()
