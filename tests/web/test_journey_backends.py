"""The whole marketplace loop through the pages, on SQLite and on PostgreSQL: a buyer posts
an RFQ and accepts a quote, the provider works and inspects, the buyer confirms delivery and
both ledgers show the money."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from sharefab.config import Settings
from sharefab.web import create_site

if TYPE_CHECKING:
    from tests.web.conftest import Market, SignIn, WebWorld


def _state(client: TestClient, order_id: int) -> str:
    page = client.get(f"/orders/{order_id}")
    assert page.status_code == 200
    return re.search(r'data-state="([a-z_]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_the_marketplace_loop_through_the_pages(
    db_url: str,
    build_world: Callable[[str], WebWorld],
    sign_in: SignIn,
    market: Market,
) -> None:
    world = build_world(db_url)
    app = create_site(Settings(database_url=db_url, env="test"))
    with TestClient(app) as buyer, TestClient(app) as provider, TestClient(app) as outsider:
        sign_in(buyer, world.buyer_email)
        sign_in(provider, world.provider_email)
        sign_in(outsider, world.outsider_email)
        order_id = market.accept(buyer, market.get_quotes(buyer, market.new_rfq(buyer)))
        assert _state(buyer, order_id) == "scheduled"
        assert outsider.get(f"/orders/{order_id}").status_code == 404

        page = provider.get(f"/orders/{order_id}")
        work_id = re.search(r"/orders/\d+/work/(\d+)/progress", page.text).group(1)  # type: ignore[union-attr]
        for step in ("started", "done"):
            done = provider.post(
                f"/orders/{order_id}/work/{work_id}/progress",
                data={"to": step},
                follow_redirects=False,
            )
            assert done.status_code == 303
        inspected = provider.post(
            f"/orders/{order_id}/inspections",
            data={"m_name": ["flatness"], "m_value": ["0.02"], "m_upper": ["0.05"]},
            follow_redirects=False,
        )
        assert inspected.status_code == 303
        assert _state(provider, order_id) == "inspected"
        shipped = provider.post(
            f"/orders/{order_id}/events", data={"to": "shipped"}, follow_redirects=False
        )
        assert shipped.status_code == 303
        delivered = buyer.post(
            f"/orders/{order_id}/events",
            data={"to": "delivered", "note": "received, all good"},
            follow_redirects=False,
        )
        assert delivered.status_code == 303
        assert _state(buyer, order_id) == "settled"  # escrow released at delivery

        ref = re.search(r"<h1>(ORD-[0-9A-F]+)", buyer.get(f"/orders/{order_id}").text).group(1)  # type: ignore[union-attr]
        provider_ledger = provider.get("/ledger")
        assert provider_ledger.status_code == 200 and ref in provider_ledger.text
        assert ref in buyer.get("/ledger/statement.csv").text
        assert ref in provider.get("/ledger/statement.csv").text
        assert ref not in outsider.get("/ledger/statement.csv").text
