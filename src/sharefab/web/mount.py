"""Add the pages and their static assets to a FastAPI app (the same process as the API)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, RedirectResponse, Response

from sharefab.config import Settings
from sharefab.web import (
    auth,
    catalogue,
    clusters,
    ledger_pages,
    order_pages,
    provider_pages,
    resource_page,
    rfq_pages,
)
from sharefab.web.errors import PageError, install_page_error_handlers
from sharefab.web.templating import STATIC_DIR

PLOTLY_PATH = "/vendor/plotly.min.js"


def plotly_bundle() -> Path:
    """``plotly.min.js`` as shipped inside the installed ``plotly`` Python package."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def mount_web(app: FastAPI) -> FastAPI:
    """Add the web pages to ``app`` (idempotent). The app must carry ``state.settings`` and
    ``state.session_factory``, as :func:`sharefab.api.app.create_app` sets them."""
    if getattr(app.state, "web_mounted", False):
        return app
    app.state.web_mounted = True
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="web_static")

    def plotly_js() -> Response:
        bundle = plotly_bundle()
        if not bundle.is_file():
            raise PageError(404, "Not found", "the Plotly bundle is not installed")
        return FileResponse(
            bundle,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    def home() -> Response:
        return RedirectResponse("/catalogue", status_code=307)

    app.add_api_route(PLOTLY_PATH, plotly_js, methods=["GET"], name="web_plotly")
    app.add_api_route("/", home, methods=["GET"], include_in_schema=False)
    for router in (
        auth.router,
        catalogue.router,
        resource_page.router,
        clusters.router,
        rfq_pages.router,
        order_pages.router,
        provider_pages.router,
        ledger_pages.router,
    ):
        app.include_router(router)
    install_page_error_handlers(app)
    return app


def create_site(settings: Settings | None = None) -> FastAPI:
    """The API app with the web pages mounted: what ``sharefab serve`` runs."""
    from sharefab.api.app import create_app

    return create_app(settings, configure=[install])


def install(app: FastAPI) -> None:
    """``configure`` hook for :func:`sharefab.api.app.create_app`: mount the web pages."""
    mount_web(app)
