"""The provider dashboard (utilisation, idle suggestions, one-click publish) and the ledger."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sharefab.storage.models import CalendarWindow

if TYPE_CHECKING:
    from tests.web.conftest import Market, SignIn, WebWorld


HTML = {"Accept": "text/html"}


def _windows(app: FastAPI, resource_id: int) -> int:
    with app.state.session_factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(CalendarWindow)
                .where(CalendarWindow.resource_id == resource_id)
            )
            or 0
        )


def test_dashboard_shows_utilisation_per_resource_and_idle_suggestions(
    app: FastAPI, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    with TestClient(app) as buyer:
        sign_in(buyer, world.buyer_email)
        market.accept(buyer, market.get_quotes(buyer, market.new_rfq(buyer)))
    with TestClient(app) as provider:
        sign_in(provider, world.provider_email)
        page = provider.get("/provider")
        assert page.status_code == 200
        charts = json.loads(re.search(r'id="chart-data">(.*?)</script>', page.text, re.S).group(1))  # type: ignore[union-attr]
        bars = charts["chart-utilisation"]["data"][0]
        assert "Alpha DMU 50 five-axis" in bars["y"] and "Alpha secret lathe" in bars["y"]
        booked = dict(zip(bars["y"], bars["x"], strict=True))
        assert booked["Alpha DMU 50 five-axis"] > 0  # the 4 h booking and the accepted hour
        assert booked["Alpha secret lathe"] == 0
        heat = charts["chart-heatmap"]["data"][0]  # booked share per resource per day
        assert heat["type"] == "heatmap" and len(heat["x"]) == 29  # 14 days back, 14 ahead
        z = dict(zip(heat["y"], heat["z"], strict=True))
        assert max(z["Alpha DMU 50 five-axis"]) >= 4 / 24 * 100  # the 4 h booking's day
        assert max(z["Alpha secret lathe"]) == 0
        assert page.text.count("Publish window") >= 2
        assert "/vendor/plotly.min.js" in page.text


def test_publish_window_turns_one_suggestion_into_a_published_window(
    app: FastAPI, world: WebWorld, sign_in: SignIn
) -> None:
    with TestClient(app) as provider:
        sign_in(provider, world.provider_email)
        page = provider.get("/provider")
        block = page.text.split(f'id="resource-{world.private_id}"', 1)[1]
        start = re.search(r'name="start" value="([^"]+)"', block).group(1)  # type: ignore[union-attr]
        end = re.search(r'name="end" value="([^"]+)"', block).group(1)  # type: ignore[union-attr]
        before = _windows(app, world.private_id)
        done = provider.post(
            f"/provider/resources/{world.private_id}/publish",
            data={"start": start, "end": end, "min_hours": "4"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"].startswith("/provider?published=1")
        assert _windows(app, world.private_id) == before + 1
        after = provider.get(done.headers["location"])
        assert "Published 1 idle window." in after.text
        assert (
            f'name="start" value="{start}"'
            not in after.text.split(f'id="resource-{world.private_id}"', 1)[1]
        )  # no longer suggested
        again = provider.post(
            f"/provider/resources/{world.private_id}/publish",
            data={"start": start, "end": end},
            follow_redirects=False,
        )
        assert again.headers["location"].startswith("/provider?published=0")  # never twice
        assert _windows(app, world.private_id) == before + 1


def test_dashboard_bad_input_names_the_field(
    client: TestClient, world: WebWorld, sign_in: SignIn
) -> None:
    sign_in(client, world.provider_email)
    page = client.get("/provider", params={"from": "yesterday"})
    assert page.status_code == 422 and "from: &#39;yesterday&#39; is not a date" in page.text
    backwards = client.get("/provider", params={"from": "2026-03-10", "to": "2026-03-01"})
    assert backwards.status_code == 422 and "to: must be after" in backwards.text
    hours = client.get("/provider", params={"min_hours": "-3"})
    assert hours.status_code == 422 and "min_hours" in hours.text
    bad = client.post(
        f"/provider/resources/{world.public_id}/publish", data={"start": "soon", "end": "later"}
    )
    assert bad.status_code == 422 and "start: &#39;soon&#39; is not a time" in bad.text


def test_another_organisations_resource_cannot_be_published(
    client: TestClient, world: WebWorld, sign_in: SignIn
) -> None:
    sign_in(client, world.outsider_email)
    before = _windows(client.app, world.public_id)  # type: ignore[arg-type]
    response = client.post(
        f"/provider/resources/{world.public_id}/publish",
        data={"start": "2030-01-01T00:00:00+00:00", "end": "2030-01-02T00:00:00+00:00"},
    )
    assert response.status_code == 404
    assert _windows(client.app, world.public_id) == before  # type: ignore[arg-type]
    page = client.get("/provider")
    assert page.status_code == 200 and "has no resources" in page.text
    assert "Alpha DMU" not in page.text


def test_ledger_shows_accounts_transactions_and_a_csv_statement(
    app: FastAPI, world: WebWorld, sign_in: SignIn, market: Market
) -> None:
    with TestClient(app) as buyer, TestClient(app) as outsider:
        sign_in(buyer, world.buyer_email)
        sign_in(outsider, world.outsider_email)
        order_id = market.accept(buyer, market.get_quotes(buyer, market.new_rfq(buyer)))
        ref = re.search(r"<h1>(ORD-[0-9A-F]+)", buyer.get(f"/orders/{order_id}").text).group(1)  # type: ignore[union-attr]
        page = buyer.get("/ledger")
        assert page.status_code == 200
        accounts = page.text.split('id="accounts"', 1)[1].split("</table>", 1)[0]
        assert ref in accounts and "CNY" in accounts
        assert "payment for order" in page.text and 'href="/ledger/statement.csv"' in page.text
        csv = buyer.get("/ledger/statement.csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert ref in csv.text
        account_id = re.search(r"statement.csv\?account_id=(\d+)", page.text).group(1)  # type: ignore[union-attr]
        assert buyer.get(f"/ledger/statement.csv?account_id={account_id}").status_code == 200
        # another organisation: its own (empty) ledger, and 404 for the buyer's account
        assert ref not in outsider.get("/ledger").text
        assert outsider.get(f"/ledger/statement.csv?account_id={account_id}").status_code == 404
        assert ref not in outsider.get("/ledger/statement.csv").text
        assert buyer.get("/ledger/statement.csv?account_id=abc", headers=HTML).status_code == 400
