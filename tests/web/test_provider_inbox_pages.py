"""Providers' view of the RFQs that reached them, through the pages, on SQLite and
PostgreSQL: listed on /rfqs with their standing, readable (not actionable) on /rfqs/{id}."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from sharefab.config import Settings
from sharefab.web import create_site

if TYPE_CHECKING:
    from tests.web.conftest import Market, SignIn, WebWorld


def _reached_rows(html: str) -> dict[int, str]:
    """RFQ id -> standing of the rows of the "reached you" table."""
    table = html.split('id="reached-rfq-list"', 1)[1].split("</table>", 1)[0]
    return {int(i): s for i, s in re.findall(r'data-rfq="(\d+)" data-status="(\w+)"', table)}


def test_a_reached_provider_lists_reads_and_wins_the_rfq_and_others_do_not(
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
        assert 'href="/rfqs#reached"' in provider.get("/provider").text
        rfq_id = market.new_rfq(buyer, title="Valve bodies")
        listing = provider.get("/rfqs")
        assert listing.status_code == 200
        assert _reached_rows(listing.text) == {}  # not quoted yet: not reached
        assert "No RFQ has reached you yet" in listing.text
        assert provider.get(f"/rfqs/{rfq_id}").status_code == 404

        quote = market.get_quotes(buyer, rfq_id)
        listing = provider.get("/rfqs")
        assert _reached_rows(listing.text) == {rfq_id: "quoted"}
        assert f'<a href="/rfqs/{rfq_id}">Valve bodies</a>' in listing.text
        assert "Beta Buyer" in listing.text
        assert "0 RFQs of your organisation" in listing.text  # its own list is unchanged

        page = provider.get(f"/rfqs/{rfq_id}")
        assert page.status_code == 200
        assert "Valve bodies" in page.text and "mill housing" in page.text  # terms, routing
        assert 'data-status="quoted"' in page.text
        assert "/accept" not in page.text and 'id="get-quotes"' not in page.text  # read-only
        assert provider.post(f"/rfqs/{rfq_id}/quotes", follow_redirects=False).status_code == 404

        # the buyer's own pages are as before
        assert 'id="reached-rfq-list"' not in buyer.get("/rfqs").text  # a buyer-only org
        assert 'id="get-quotes"' in buyer.get(f"/rfqs/{rfq_id}").text
        # an outsider (buyer and provider, not named by the quote) sees nothing of it
        assert _reached_rows(outsider.get("/rfqs").text) == {}
        assert outsider.get(f"/rfqs/{rfq_id}").status_code == 404

        order_id = market.accept(buyer, quote)
        listing = provider.get("/rfqs")
        assert _reached_rows(listing.text) == {rfq_id: "won"}
        assert f'<a href="/orders/{order_id}">order {order_id}</a> (scheduled)' in listing.text
        page = provider.get(f"/rfqs/{rfq_id}")
        assert 'data-status="won"' in page.text and f'href="/orders/{order_id}"' in page.text
        assert provider.get(f"/orders/{order_id}").status_code == 200
