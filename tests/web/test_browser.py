"""Headless Chromium against a live server: sign in, search the catalogue, open a resource.

Uses the system Chromium (``apt-get install chromium``); never downloads a browser. Skips when
/usr/bin/chromium or the ``playwright`` package is missing.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from fastapi import FastAPI

if TYPE_CHECKING:
    from tests.web.conftest import WebWorld

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_url(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free local port, in a background thread."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_sign_in_search_and_open_a_resource(live_url: str, world: WebWorld) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{live_url}/catalogue")
            assert "/signin" in page.url  # not signed in yet
            page.fill("input[name=email]", world.buyer_email)
            page.fill("input[name=password]", world.password)
            page.click("button[type=submit]")
            page.wait_for_url("**/catalogue")
            page.fill("input[name=capability]", "separating.machining")
            page.click("#search-form button[type=submit]")
            page.wait_for_selector("#results tbody a")
            assert page.inner_text("#result-count").startswith("1 resource")
            page.screenshot(path=str(ARTIFACTS / "catalogue.png"), full_page=True)
            page.click("#results tbody a")
            page.wait_for_selector("#calendar .tl-bar.window")
            assert "Alpha DMU 50 five-axis" in page.inner_text("h1")
            assert page.locator("#calendar .tl-bar.window").count() >= 3
            page.screenshot(path=str(ARTIFACTS / "resource.png"), full_page=True)
            page.goto(f"{live_url}/clusters/{world.cluster_id}")
            page.wait_for_selector("#chart-capabilities .main-svg")
            page.screenshot(path=str(ARTIFACTS / "cluster.png"), full_page=True)
        finally:
            browser.close()


def _launch(sync_api: object) -> object:
    return sync_api.chromium.launch(  # type: ignore[attr-defined]
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


def test_buyer_posts_an_rfq_gets_quotes_accepts_and_sees_the_order(
    live_url: str, world: WebWorld
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
            page.goto(f"{live_url}/signin?next=/rfqs/new")
            page.fill("input[name=email]", world.buyer_email)
            page.fill("input[name=password]", world.password)
            page.click("button[type=submit]")
            page.wait_for_url("**/rfqs/new")
            page.fill("input[name=title]", "Browser housings")
            page.locator("select[name=capability]").first.select_option(
                "separating.machining.milling.5axis"
            )
            page.locator("input[name=op_name]").first.fill("mill housing")
            page.locator("input[name=quantity]").first.fill("12")
            page.locator("input[name=unit_minutes]").first.fill("5")
            page.fill("input[name=budget]", "8000")
            page.screenshot(path=str(ARTIFACTS / "rfq-new.png"), full_page=True)
            page.click("#rfq-form button[type=submit]")
            page.wait_for_selector("#get-quotes")
            assert "Browser housings" in page.inner_text("h1")
            page.click("#get-quotes button")
            page.wait_for_selector("#quote-options .option")
            page.wait_for_selector("#quote-options .gantt .main-svg")  # Plotly drew the Gantt
            first = page.locator("#quote-options .option").first
            assert "Alpha DMU 50 five-axis" in first.inner_text()
            page.screenshot(path=str(ARTIFACTS / "rfq-quotes.png"), full_page=True)
            first.locator("form.accept button").click()
            page.wait_for_url("**/orders/**")
            assert page.inner_text("#order-state") in ("scheduled 已排产", "accepted 已接受")
            assert "Alpha DMU 50 five-axis" in page.inner_text("#work-orders")
            page.screenshot(path=str(ARTIFACTS / "order.png"), full_page=True)
            ref = page.inner_text("h1").split()[0]
            page.click("nav >> text=Orders")
            page.wait_for_selector("#order-list")
            assert ref in page.inner_text("#order-list")
            page.click("nav >> text=Ledger")
            page.wait_for_selector("#accounts")
            page.screenshot(path=str(ARTIFACTS / "ledger.png"), full_page=True)
            page.click("header form button")  # sign out
            page.wait_for_url("**/signin")
            page.goto(f"{live_url}/signin?next=/provider")
            page.fill("input[name=email]", world.provider_email)
            page.fill("input[name=password]", world.password)
            page.click("button[type=submit]")
            page.wait_for_selector("#chart-utilisation .main-svg")
            page.screenshot(path=str(ARTIFACTS / "provider.png"), full_page=True)
        finally:
            browser.close()  # type: ignore[attr-defined]
