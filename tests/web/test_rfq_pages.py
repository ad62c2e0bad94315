"""Buyer pages: post an RFQ with the form, get ranked quotes, accept one, land on the order."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from sharefab.storage.market_models import Quote

if TYPE_CHECKING:
    from tests.web.conftest import Market, SignIn, WebWorld


def _rfq_count(client: TestClient) -> int:
    page = client.get("/rfqs")
    assert page.status_code == 200
    return int(re.search(r"(\d+) RFQs? of your organisation", page.text).group(1))  # type: ignore[union-attr]


def test_new_rfq_form_offers_the_taxonomy_and_the_terms(
    client: TestClient, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    sign_in(client, world.buyer_email)
    page = client.get("/rfqs/new")
    assert page.status_code == 200
    assert (
        f'<option value="{market.capability}"' in page.text
    )  # capability picked from the taxonomy
    for name in ("quantity", "unit_minutes", "due_at", "budget", "delivery_site_id",
                 "delivery_lat", "allow_split", "min_provider_credit"):  # fmt: skip
        assert f'name="{name}"' in page.text
    assert 'href="/orders"' in page.text and 'href="/ledger"' in page.text  # navigation


def test_rfq_pages_need_sign_in(client: TestClient) -> None:
    for path in ("/rfqs", "/rfqs/new", "/orders", "/provider", "/ledger"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/signin?next=")


def test_unreadable_numbers_are_named_next_to_their_fields_and_nothing_is_stored(
    client: TestClient, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    sign_in(client, world.buyer_email)
    before = _rfq_count(client)
    form = market.form(quantity=["ten", ""], unit_minutes=["6", ""], budget="lots",
                    min_provider_credit="2000", due_at="next week")  # fmt: skip
    page = client.post("/rfqs/new", data=form, follow_redirects=False)
    assert page.status_code == 422
    assert "Operation 1 quantity (operations[0].quantity)" in page.text
    assert "Budget (budget_minor)" in page.text
    assert "Minimum provider credit (min_provider_credit): must be between 0 and 1000" in page.text
    assert "Due date (due_at)" in page.text
    assert 'value="ten"' in page.text and 'value="Pump housings"' in page.text  # kept as typed
    assert _rfq_count(client) == before


def test_service_rules_come_back_as_form_errors(
    client: TestClient, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    sign_in(client, world.buyer_email)
    before = _rfq_count(client)
    form = market.form(capability=["no.such.capability", ""], due_at="2020-01-01T10:00")
    page = client.post("/rfqs/new", data=form, follow_redirects=False)
    assert page.status_code == 422
    assert "operations[0].capability" in page.text
    assert "in the past" in page.text and "(due_at)" in page.text
    blank = market.form(capability=[""], op_name=[""], quantity=[""], unit_minutes=[""])
    empty = client.post("/rfqs/new", data=blank, follow_redirects=False)
    assert empty.status_code == 422
    assert "add at least one operation" in empty.text
    assert _rfq_count(client) == before


def test_buyer_posts_an_rfq_gets_ranked_quotes_and_accepts_one(
    client: TestClient, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    sign_in(client, world.buyer_email)
    rfq_id = market.new_rfq(client)
    page = client.get(f"/rfqs/{rfq_id}")
    assert page.status_code == 200
    assert "Pump housings" in page.text and "Get quotes" in page.text
    assert "No quote yet" in page.text

    quote = market.get_quotes(client, rfq_id)
    assert quote.option_ids, "the mill has published windows: at least one option"
    html = quote.html
    first = html.split(f'id="option-{quote.option_ids[0]}"', 1)[1]
    assert "Alpha DMU 50 five-axis" in first and "Alpha Plant 1" in first  # resource, site
    assert "CNY" in first and "Delivery" in first and "Why:" in first
    assert re.search(r"Cheapest|Fastest|Most reliable|Best overall", first)
    charts = json.loads(re.search(r'id="chart-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    gantt = charts[f"gantt-{quote.option_ids[0]}"]
    assert gantt["layout"]["xaxis"]["type"] == "date"
    assert gantt["data"][0]["base"] and gantt["data"][0]["x"][0] == 60 * 60 * 1000  # 10 × 6 min
    assert "/vendor/plotly.min.js" in html  # Plotly from the package, never a CDN
    assert "cdn" not in html.lower()

    order_id = market.accept(client, quote)
    order = client.get(f"/orders/{order_id}?accepted=1")
    assert order.status_code == 200
    assert "Order booked" in order.text
    assert "Alpha DMU 50 five-axis" in order.text
    assert re.search(r'data-state="(accepted|scheduled)"', order.text)
    listing = client.get("/orders")
    ref = re.search(r"<h1>(ORD-[0-9A-F]+)", order.text).group(1)  # type: ignore[union-attr]
    assert ref in listing.text and "buyer" in listing.text

    # pressing Accept twice (same form, same idempotency key) gives the same order
    again = client.post(
        f"/quotes/{quote.quote_id}/accept",
        data={"option_id": quote.option_ids[0], "idempotency_key": quote.keys[0]},
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert again.headers["location"].startswith(f"/orders/{order_id}")


def test_taken_slot_shows_the_message_and_a_fresh_quote(
    client: TestClient, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    sign_in(client, world.buyer_email)
    first = market.get_quotes(client, market.new_rfq(client, title="First"))
    second_rfq = market.new_rfq(client, title="Second")
    second = market.get_quotes(client, second_rfq)
    market.accept(client, first)  # takes the slot the second quote planned on
    response = client.post(
        f"/quotes/{second.quote_id}/accept",
        data={"option_id": second.option_ids[0], "idempotency_key": "other-key"},
        follow_redirects=False,
    )
    assert response.status_code == 409
    assert "nothing was booked" in response.text.lower() or "taken" in response.text
    fresh = market.read(response.text)
    assert fresh.quote_id != second.quote_id  # the fresh quote is shown, ready to accept
    order_id = market.accept(client, fresh)
    assert client.get(f"/orders/{order_id}").status_code == 200


def test_accept_without_an_option_is_a_form_error(
    client: TestClient, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    sign_in(client, world.buyer_email)
    quote = market.get_quotes(client, market.new_rfq(client))
    response = client.post(f"/quotes/{quote.quote_id}/accept", data={"option_id": "x"})
    assert response.status_code == 422
    assert "option_id" in response.text
    foreign = client.post(f"/quotes/{quote.quote_id}/accept", data={"option_id": "999999"})
    assert foreign.status_code == 422
    assert "option_id" in foreign.text


def test_another_organisations_rfq_and_quote_are_404(
    app: object, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    with TestClient(app) as buyer, TestClient(app) as outsider, TestClient(app) as provider:  # type: ignore[arg-type]
        sign_in(buyer, world.buyer_email)
        sign_in(outsider, world.outsider_email)
        sign_in(provider, world.provider_email)
        rfq_id = market.new_rfq(buyer)
        quote = market.get_quotes(buyer, rfq_id)
        # the provider the quote named reads the RFQ (read-only: no quote, no accept)
        page = provider.get(f"/rfqs/{rfq_id}")
        assert page.status_code == 200
        assert "/accept" not in page.text and 'id="get-quotes"' not in page.text
        assert outsider.get(f"/rfqs/{rfq_id}").status_code == 404
        for other in (outsider, provider):
            assert other.post(f"/rfqs/{rfq_id}/quotes").status_code == 404
            accepted = other.post(
                f"/quotes/{quote.quote_id}/accept", data={"option_id": quote.option_ids[0]}
            )
            assert accepted.status_code == 404
            assert "does not exist or is not shared with you" in accepted.text
        assert "Pump housings" not in outsider.get("/rfqs").text
        assert buyer.get("/rfqs/999999").status_code == 404


def test_hostile_form_values_are_form_errors_never_a_crash(
    client: TestClient, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    sign_in(client, world.buyer_email)
    before = _rfq_count(client)
    hostile: list[tuple[dict[str, object], str]] = [
        ({"budget": "1e999999999"}, "budget_minor"),
        ({"budget": "NaN"}, "budget_minor"),
        ({"budget": "-1"}, "budget_minor"),
        ({"quantity": ["99999999999999999999", ""]}, "operations[0].quantity"),
        ({"unit_minutes": ["nan", ""]}, "operations[0].unit_minutes"),
        ({"unit_minutes": ["inf", ""]}, "operations[0].unit_minutes"),
        ({"due_at": "2026-13-45T10:00"}, "due_at"),
        ({"due_at": "0001-01-01T00:00"}, "due_at"),
        ({"delivery_site_id": "999"}, "delivery_site_id"),
        ({"delivery_lat": "95", "delivery_lon": "0"}, "delivery_lat"),
        ({"delivery_lat": "31.3"}, "delivery_lat"),
        ({"currency": "XYZ"}, "currency"),
        ({"title": "x" * 300}, "title"),
    ]
    for fields, field in hostile:
        page = client.post("/rfqs/new", data=market.form(**fields), follow_redirects=False)
        assert page.status_code == 422, fields
        assert f"({field})" in page.text, fields
    assert _rfq_count(client) == before


def test_an_expired_quote_cannot_be_accepted(
    app: object, client: TestClient, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    sign_in(client, world.buyer_email)
    rfq_id = market.new_rfq(client)
    quote = market.get_quotes(client, rfq_id)
    with app.state.session_factory() as session:  # type: ignore[attr-defined]
        row = session.get(Quote, quote.quote_id)
        row.valid_until = datetime.now(UTC) - timedelta(minutes=1)
        session.commit()
    page = client.get(f"/rfqs/{rfq_id}?quote={quote.quote_id}")
    assert "expired" in page.text and "disabled" in page.text
    response = client.post(
        f"/quotes/{quote.quote_id}/accept",
        data={"option_id": quote.option_ids[0], "idempotency_key": quote.keys[0]},
    )
    assert response.status_code == 410
    assert "expired" in response.text and "Get quotes" in response.text


def test_a_provider_only_organisation_is_told_it_cannot_post_rfqs(
    client: TestClient, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    sign_in(client, world.provider_email)
    form = client.get("/rfqs/new")
    assert form.status_code == 200 and 'id="not-buyer"' in form.text
    before = _rfq_count(client)
    refused = client.post("/rfqs/new", data=market.form(), follow_redirects=False)
    assert refused.status_code == 403
    assert "buyer role" in refused.text
    assert _rfq_count(client) == before


def test_a_routing_nobody_offers_gets_a_quote_without_options_and_a_diagnosis(
    client: TestClient, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    sign_in(client, world.buyer_email)
    rfq_id = market.new_rfq(client, capability=["primary_shaping.casting.die", ""])
    response = client.post(f"/rfqs/{rfq_id}/quotes", follow_redirects=False)
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert 'id="no-options"' in page.text
    assert "No provider can make this routing" in page.text
    assert 'name="option_id"' not in page.text  # nothing to accept
