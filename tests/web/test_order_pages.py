"""Order pages: list and order page for the buyer and the provider, transitions from the
state machine, provider progress, inspection records, tenant isolation."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.testclient import TestClient

if TYPE_CHECKING:
    from tests.web.conftest import Market, SignIn, WebWorld


HTML = {"Accept": "text/html"}


def _state(html: str) -> str:
    return re.search(r'id="order-state" data-state="([a-z_]+)"', html).group(1)  # type: ignore[union-attr]


def _ref(html: str) -> str:
    return re.search(r"<h1>(ORD-[0-9A-F]+)", html).group(1)  # type: ignore[union-attr]


def _order(app: FastAPI, world: WebWorld, sign_in: SignIn, market: Market) -> int:
    with TestClient(app) as buyer:
        sign_in(buyer, world.buyer_email)
        return market.accept(buyer, market.get_quotes(buyer, market.new_rfq(buyer)))


def test_buyer_and_provider_each_see_their_view_of_the_order(
    app: FastAPI, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    order_id = _order(app, world, sign_in, market)
    with TestClient(app) as buyer, TestClient(app) as provider:
        sign_in(buyer, world.buyer_email)
        sign_in(provider, world.provider_email)
        page = buyer.get(f"/orders/{order_id}")
        assert page.status_code == 200
        assert _state(page.text) == "scheduled"
        assert "accepted" in page.text and "1 slots booked" in page.text  # event timeline
        assert 'value="cancelled"' in page.text  # the buyer may cancel before production
        assert 'value="in_production"' not in page.text  # ... but not start production
        assert "Total" in page.text and "you are the buyer" in page.text
        ref = _ref(page.text)

        mine = provider.get(f"/orders/{order_id}")
        assert mine.status_code == 200
        assert "you are the provider" in mine.text and "Your part" in mine.text
        assert "Only your organisation" in mine.text
        assert 'value="in_production"' in mine.text and "Report started" in mine.text
        assert f"/rfqs/{order_id}" not in mine.text  # the buyer's RFQ page is not linked
        listing = provider.get("/orders")
        assert ref in listing.text and "provider" in listing.text and "your part" in listing.text


def test_provider_progress_moves_the_order_into_production_and_inspections_show(
    app: FastAPI, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    order_id = _order(app, world, sign_in, market)
    with TestClient(app) as provider:
        sign_in(provider, world.provider_email)
        page = provider.get(f"/orders/{order_id}")
        work_id = re.search(r"/orders/\d+/work/(\d+)/progress", page.text).group(1)  # type: ignore[union-attr]
        started = provider.post(
            f"/orders/{order_id}/work/{work_id}/progress", data={"to": "started"}
        )
        assert started.status_code == 200  # followed the redirect back to the order
        assert _state(started.text) == "in_production"
        assert "Report done" in started.text
        bad = provider.post(f"/orders/{order_id}/work/{work_id}/progress", data={"to": "later"})
        assert bad.status_code == 422 and "to: must be started or done" in bad.text
        provider.post(f"/orders/{order_id}/work/{work_id}/progress", data={"to": "done"})

        form = provider.get(f"/orders/{order_id}")
        assert 'id="inspect"' in form.text  # the provider may record an inspection now
        bad = provider.post(
            f"/orders/{order_id}/inspections",
            data={"m_name": ["bore", ""], "m_value": ["ten", ""], "m_upper": ["", "3"]},
        )
        assert bad.status_code == 422
        assert "measurements[0].value: &#39;ten&#39; is not a number" in bad.text
        assert "measurements[1].name" in bad.text
        assert "No inspection recorded yet" in bad.text  # nothing stored
        recorded = provider.post(
            f"/orders/{order_id}/inspections",
            data={
                "work_order_id": work_id,
                "verdict": "auto",
                "m_name": ["bore", ""],
                "m_value": ["10.01", ""],
                "m_unit": ["mm", ""],
                "m_lower": ["9.98", ""],
                "m_upper": ["10.02", ""],
                "d_code": ["", ""],
            },
            files={"report": ("cmm-report.txt", b"bore 10.01 mm", "text/plain")},
            follow_redirects=False,
        )
        assert recorded.status_code == 303, recorded.text
        page = provider.get(f"/orders/{order_id}")
        assert _state(page.text) == "inspected"
        assert "PASS" in page.text and "bore = 10.01 mm" in page.text
        link = re.search(r'href="(/orders/\d+/inspections/\d+/report)"', page.text).group(1)  # type: ignore[union-attr]
        report = provider.get(link)
        assert report.status_code == 200 and report.content == b"bore 10.01 mm"
        assert 'value="shipped"' in page.text  # the provider ships next
    with TestClient(app) as buyer:
        sign_in(buyer, world.buyer_email)
        seen = buyer.get(f"/orders/{order_id}")
        assert "PASS" in seen.text and 'id="inspect"' not in seen.text  # buyers only read
        refused = buyer.post(
            f"/orders/{order_id}/inspections", data={"verdict": "pass", "d_code": [""]}
        )
        assert refused.status_code == 403
        assert "recorded by the order" in refused.text


def test_an_illegal_or_unknown_transition_is_a_message_not_a_crash(
    app: FastAPI, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    order_id = _order(app, world, sign_in, market)
    with TestClient(app) as buyer:
        sign_in(buyer, world.buyer_email)
        illegal = buyer.post(f"/orders/{order_id}/events", data={"to": "delivered"})
        assert illegal.status_code == 409
        assert "allowed from scheduled for buyer: cancelled" in illegal.text
        unknown = buyer.post(f"/orders/{order_id}/events", data={"to": "teleported"})
        assert unknown.status_code == 422 and "unknown order state" in unknown.text
        empty = buyer.post(f"/orders/{order_id}/events", data={})
        assert empty.status_code == 422 and "to:" in empty.text
        assert _state(buyer.get(f"/orders/{order_id}").text) == "scheduled"  # nothing changed


def test_buyer_cancels_with_a_note_and_the_ledger_shows_the_refund(
    app: FastAPI, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    order_id = _order(app, world, sign_in, market)
    with TestClient(app) as buyer:
        sign_in(buyer, world.buyer_email)
        done = buyer.post(
            f"/orders/{order_id}/events", data={"to": "cancelled", "note": "design changed"}
        )
        assert done.status_code == 200
        assert _state(done.text) == "cancelled"
        assert "design changed" in done.text
        assert "Nothing for you to do" in done.text  # no buttons on a terminal order
        ledger = buyer.get("/ledger")
        assert _ref(done.text) in ledger.text
        assert "refund" in ledger.text.lower()


def test_another_organisations_order_is_404(
    app: FastAPI, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    order_id = _order(app, world, sign_in, market)
    with TestClient(app) as outsider:
        sign_in(outsider, world.outsider_email)
        assert outsider.get(f"/orders/{order_id}").status_code == 404
        assert (
            outsider.post(f"/orders/{order_id}/events", data={"to": "cancelled"}).status_code == 404
        )
        assert (
            outsider.post(f"/orders/{order_id}/work/1/progress", data={"to": "started"}).status_code
            == 404
        )
        assert outsider.get(f"/orders/{order_id}/inspections/1/report").status_code == 404
        assert "No order yet" in outsider.get("/orders").text
        assert outsider.get("/orders/x1", headers=HTML).status_code == 404
        huge = outsider.get("/orders/99999999999999999999", headers=HTML)
        assert huge.status_code == 400 and "out of range" in huge.text  # a page, not JSON
        assert huge.headers["content-type"].startswith("text/html")
