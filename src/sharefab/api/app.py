"""The FastAPI application factory.

``create_app(settings)`` builds the engine and session factory from ``settings.database_url``,
mounts every API router under ``/api/v1`` and installs the RFC 9457 error handlers. The web UI
and later areas extend it without editing this file::

    app = create_app(settings, extra_api_routers=[rfqs.router], extra_routers=[pages.router])
    app = create_app(settings, configure=[sharefab.web.install])  # static files, templates

The schema is not created here: run ``sharefab.storage.db.upgrade_database(url)`` first
(``sharefab serve`` and the tests do).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sharefab import __version__
from sharefab.api.errors import install_error_handlers
from sharefab.api.limits import install_body_limits
from sharefab.api.routes import api_routers
from sharefab.api.user_cache import UserCache
from sharefab.config import Settings, get_settings
from sharefab.storage.db import make_engine, make_session_factory

API_PREFIX = "/api/v1"


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    extra_api_routers: Sequence[APIRouter] = (),
    extra_routers: Sequence[APIRouter] = (),
    configure: Sequence[Callable[[FastAPI], None]] = (),
) -> FastAPI:
    """The ShareFab HTTP app.

    ``engine`` overrides the one built from ``settings.database_url``; ``extra_api_routers``
    are mounted under ``/api/v1`` after the built-in ones, ``extra_routers`` at the root (web
    pages), and each ``configure`` callback gets the app last (to mount static files, add
    middleware, ...).
    """
    settings = settings or get_settings()
    owns_engine = engine is None
    db_engine = engine if engine is not None else make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            db_engine.dispose()

    app = FastAPI(
        title="ShareFab",
        version=__version__,
        summary="Shared manufacturing: publish idle capacity, find it, book it.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = db_engine
    app.state.session_factory = make_session_factory(db_engine)
    app.state.user_cache = UserCache(settings.auth_cache_seconds)
    # GET requests never write: on SQLite they begin DEFERRED and so do not queue behind
    # writers for the write lock (the option is ignored on PostgreSQL).
    app.state.read_session_factory = make_session_factory(
        db_engine.execution_options(sqlite_begin="DEFERRED")
    )
    install_error_handlers(app)
    install_body_limits(app, settings, API_PREFIX)  # refuses oversized bodies before parsing
    app.add_middleware(HeadAsGet)
    for router in (*api_routers(), *extra_api_routers):
        app.include_router(router, prefix=API_PREFIX)
    for router in extra_routers:
        app.include_router(router)
    for hook in configure:
        hook(app)
    return app


class HeadAsGet:
    """ASGI middleware answering ``HEAD`` like ``GET`` without the body (RFC 9110 9.3.2):
    same status and headers, ``Content-Length`` included. FastAPI routes declare only ``GET``,
    so without it ``HEAD /health`` (load balancers, uptime checks) was a 405. GET handlers
    never write, so running one for a HEAD is safe; a path without a GET still answers 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # drop every chunk; the last (empty) one ends the response
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


def route_table(app: FastAPI) -> set[tuple[str, str]]:
    """Every ``(METHOD, path)`` the app serves (HEAD omitted), including routers mounted with
    ``include_router`` and mounts (method ``"MOUNT"``). The tenant-isolation test uses it to
    notice routes nobody classified."""
    table: set[tuple[str, str]] = set()

    def add(route: object) -> None:
        path = getattr(route, "path", None)
        if path is None:
            return
        methods = getattr(route, "methods", None)
        if methods is None:
            table.add(("MOUNT", path))
            return
        table.update((m, path) for m in methods if m != "HEAD")

    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):  # FastAPI >= 0.16x keeps included routers as one branch
            for ctx in contexts():
                add(ctx)
        else:
            add(route)
    return table
