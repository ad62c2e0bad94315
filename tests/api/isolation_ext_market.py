"""Tenant-isolation classification of the marketplace routes (market).

The first tenant (Alice) buys from a third organization: an RFQ with an attachment, a quote,
an accepted order with a work order and an escrow account. The second tenant (Bob) must not
reach any of it. Credit scores are public to every signed-in organization by design.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import make_site, register_tenant
from isolation_table import API, Obj, Scoped


def _midnight(days: int) -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=days)


MILL = "separating.machining.milling"
RFQ = {
    "title": "brackets",
    "operations": [{"capability": MILL, "quantity": 4, "unit_minutes": 30}],
    "due_at": _midnight(10).isoformat(),
}

EXEMPT = {("GET", f"{API}/organizations/{{org_id}}/credit")}

ROUTES: dict[tuple[str, str], Obj | Scoped] = {
    ("POST", f"{API}/rfqs"): Scoped(
        422, body={**RFQ, "delivery_site_id": "{site_id}"}, field="delivery_site_id"
    ),
    ("GET", f"{API}/rfqs"): Scoped(200),
    ("GET", f"{API}/rfqs/{{rfq_id}}"): Obj(),
    ("POST", f"{API}/rfqs/{{rfq_id}}/attachments"): Obj(),
    ("GET", f"{API}/rfqs/{{rfq_id}}/attachments/{{attachment_id}}"): Obj(),
    ("POST", f"{API}/rfqs/{{rfq_id}}/quotes"): Obj(),
    ("GET", f"{API}/quotes/{{quote_id}}"): Obj(),
    ("POST", f"{API}/quotes/{{quote_id}}/accept"): Obj(body={"option_id": "{option_id}"}),
    ("GET", f"{API}/orders"): Scoped(200),
    ("GET", f"{API}/orders/{{order_id}}"): Obj(),
    ("POST", f"{API}/orders/{{order_id}}/events"): Obj(body={"to": "cancelled"}),
    ("POST", f"{API}/orders/{{order_id}}/operations/{{work_order_id}}/progress"): Obj(
        body={"to": "started"}
    ),
    ("POST", f"{API}/orders/{{order_id}}/inspections"): Obj(body={}),
    ("POST", f"{API}/orders/{{order_id}}/rating"): Obj(body={"stars": 5}),
    ("GET", f"{API}/orders/{{order_id}}/inspections"): Obj(),
    ("GET", f"{API}/orders/{{order_id}}/inspections/{{inspection_id}}/report"): Obj(),
    ("GET", f"{API}/ledger/accounts"): Scoped(200),
    ("GET", f"{API}/ledger/transactions"): Scoped(200),
    ("GET", f"{API}/ledger/statement.csv"): Obj(params={"account_id": "{ledger_account_id}"}),
}


def setup(client: Any, alice: Any, ids: dict[str, int]) -> None:
    """Alice orders milling from a third organization's public machine."""
    carol = register_tenant(client, "Carol Contract Mills", "admin@carol.example.com")
    site = make_site(client, carol, name="Carol works", lat=31.5, lon=120.3)
    resource = client.post(
        f"{API}/resources",
        json={
            "site_id": site["id"],
            "name": "Carol mill",
            "capabilities": [{"code": f"{MILL}.3axis"}],
            "hourly_rate_minor": 20_000,
            "is_public": True,
        },
        headers=carol.headers,
    )
    assert resource.status_code == 201, resource.text
    window = {"start_at": _midnight(1).isoformat(), "end_at": _midnight(3).isoformat()}
    rid = resource.json()["id"]
    added = client.post(f"{API}/resources/{rid}/windows", json=window, headers=carol.headers)
    assert added.status_code == 201, added.text
    rfq = client.post(f"{API}/rfqs", json=RFQ, headers=alice.headers)
    assert rfq.status_code == 201, rfq.text
    ids["rfq_id"] = rfq.json()["id"]
    upload = client.post(
        f"{API}/rfqs/{ids['rfq_id']}/attachments",
        files={"file": ("drawing.txt", b"PO-7 drawing", "text/plain")},
        headers=alice.headers,
    )
    assert upload.status_code == 201, upload.text
    ids["attachment_id"] = upload.json()["id"]
    quote = client.post(f"{API}/rfqs/{ids['rfq_id']}/quotes", headers=alice.headers)
    assert quote.status_code == 201 and quote.json()["options"], quote.text
    ids["quote_id"] = quote.json()["id"]
    ids["option_id"] = quote.json()["options"][0]["id"]
    order = client.post(
        f"{API}/quotes/{ids['quote_id']}/accept",
        json={"option_id": ids["option_id"]},
        headers=alice.headers,
    )
    assert order.status_code == 201, order.text
    ids["order_id"] = order.json()["id"]
    ids["work_order_id"] = order.json()["work_orders"][0]["id"]
    progress = f"{API}/orders/{ids['order_id']}/operations/{ids['work_order_id']}/progress"
    for to in ("started", "done"):
        assert client.post(progress, json={"to": to}, headers=carol.headers).status_code == 200
    inspection = client.post(
        f"{API}/orders/{ids['order_id']}/inspections",
        json={"report_filename": "PO-7.txt", "report_base64": "UE8tNyByZXBvcnQ="},
        headers=carol.headers,
    )
    assert inspection.status_code == 201, inspection.text
    ids["inspection_id"] = inspection.json()["id"]
    accounts = client.get(f"{API}/ledger/accounts", headers=alice.headers).json()["data"]
    ids["ledger_account_id"] = accounts[0]["id"]
    # The core table expects public search to show no third party's resources.
    hidden = client.patch(
        f"{API}/resources/{rid}", json={"is_public": False}, headers=carol.headers
    )
    assert hidden.status_code == 200, hidden.text
