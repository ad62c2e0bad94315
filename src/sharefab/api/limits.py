"""Request-body size limits for the whole app (ASGI middleware).

Every request body is limited to :data:`DEFAULT_MAX_BODY` bytes (1 MiB, far above any valid
JSON body of the API), except the routes that carry files or batches, which get the larger
limits of :func:`route_limits`:

* ``POST /rfqs/{id}/attachments``: ``Settings.attachment_max_bytes`` plus multipart overhead
  (the exact file limit is still checked by the route, with its own 413);
* ``POST /orders/{id}/inspections``: a base64 report of up to ``attachment_max_bytes``;
* ``POST /telemetry``: a batch of up to ``routes.telemetry.MAX_BODY_BYTES``.

A body over the limit is refused with a 413 ``application/problem+json`` naming the limit:
at once when ``Content-Length`` says so (the body is never read), or as soon as the bytes
counted while the route reads a streamed (chunked) body pass it. Nothing is stored: the
route never gets the body. A streamed body's :class:`BodyTooLarge` is answered by the app's
HTTP error handler (:mod:`sharefab.api.errors`), which reads the limit from the scope.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sharefab.api.errors import problem_response, too_large_detail
from sharefab.api.schemas.common import MAX_JSON_BODY
from sharefab.config import Settings
from sharefab.services.errors import FieldError

DEFAULT_MAX_BODY = MAX_JSON_BODY
"""Largest request body of every route without a limit of its own (bytes)."""

ENVELOPE = 64 * 1024
"""Room around a file: multipart boundaries and part headers, or the JSON fields around a
base64 report."""


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """``max_bytes`` for requests of ``method`` whose path matches ``pattern`` (full match)."""

    method: str
    pattern: re.Pattern[str]
    max_bytes: int


def route_limits(settings: Settings, prefix: str = "/api/v1") -> list[RouteLimit]:
    """The routes allowed more than :data:`DEFAULT_MAX_BODY` (see the module doc; never less)."""
    from sharefab.api.routes.telemetry import MAX_BODY_BYTES as TELEMETRY_MAX_BODY

    files = settings.attachment_max_bytes
    upload = max(DEFAULT_MAX_BODY, files + ENVELOPE)
    report = max(DEFAULT_MAX_BODY, 4 * math.ceil(files / 3) + ENVELOPE)  # base64 in JSON
    p = re.escape(prefix)
    return [
        RouteLimit("POST", re.compile(rf"{p}/rfqs/[^/]+/attachments/?"), upload),
        RouteLimit("POST", re.compile(rf"{p}/orders/[^/]+/inspections/?"), report),
        RouteLimit("POST", re.compile(rf"{p}/telemetry/?"), TELEMETRY_MAX_BODY),
    ]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit (answered as a 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))
        self.limit = limit


def _content_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _only_too_large(exc: BaseException) -> BodyTooLarge | None:
    """The :class:`BodyTooLarge` behind ``exc`` (also inside an exception group of only such
    errors), else ``None``."""
    if isinstance(exc, BodyTooLarge):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        matched, rest = exc.split(BodyTooLarge)
        if rest is None and matched is not None:
            while isinstance(matched, BaseExceptionGroup):
                matched = matched.exceptions[0]
            return matched if isinstance(matched, BodyTooLarge) else None
    return None


class BodyLimitMiddleware:
    """ASGI middleware enforcing a body limit per request (see the module doc)."""

    def __init__(
        self, app: ASGIApp, *, default: int = DEFAULT_MAX_BODY, routes: Sequence[RouteLimit] = ()
    ) -> None:
        self.app = app
        self.default = default
        self.routes = list(routes)

    def limit_for(self, method: str, path: str) -> int:
        """The limit of a request of ``method`` on ``path``."""
        for rule in self.routes:
            if rule.method == method and rule.pattern.fullmatch(path):
                return rule.max_bytes
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        length = _content_length(scope)
        if length is not None and length > limit:
            await self._refuse(scope, receive, send, limit)  # the body is never read
            return
        scope.setdefault(MAX_BODY_SIZE_SCOPE_KEY, limit)
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            if received > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BaseException as exc:  # only a body-limit error is answered here
            too_large = _only_too_large(exc)
            if too_large is None or started:
                raise
            await self._refuse(scope, receive, send, too_large.limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = too_large_detail(limit)
        response = problem_response(
            413,
            detail,
            slug="content-too-large",
            errors=[FieldError("body", detail)],
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def install_body_limits(app: ASGIApp | object, settings: Settings, prefix: str = "/api/v1") -> None:
    """Add :class:`BodyLimitMiddleware` with the app's route limits to a FastAPI ``app``."""
    app.add_middleware(  # type: ignore[attr-defined]
        BodyLimitMiddleware, default=DEFAULT_MAX_BODY, routes=route_limits(settings, prefix)
    )
