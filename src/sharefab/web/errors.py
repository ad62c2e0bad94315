"""Errors that page handlers raise; :func:`install_page_error_handlers` renders them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, StatementError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from sharefab.web.templating import render


class PageError(Exception):
    """Render a friendly error page with ``status`` instead of the requested page."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


class SignInRequired(Exception):
    """The page needs a signed-in user: redirect to the sign-in page, then back."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def not_found(what: str = "page") -> PageError:
    """The 404 page; also used for other tenants' private things (existence is not leaked)."""
    return PageError(404, "Not found", f"This {what} does not exist or is not shared with you.")


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    context = {"status": exc.status, "title": exc.title, "detail": exc.detail}
    return render(request, "error.html", context, status_code=exc.status)


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"/signin?next={quote(exc.next_url, safe='/')}", status_code=303)


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not its docs): errors render as HTML."""
    path = request.url.path
    if path.startswith(("/api/", "/docs", "/static/", "/vendor/")):
        return False
    return "text/html" in request.headers.get("accept", "")


_TITLES = {400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Not found"}


def install_page_error_handlers(app: FastAPI) -> None:
    """Register the handlers for :class:`PageError` and :class:`SignInRequired` on ``app``,
    and render HTTP and validation errors of page requests as friendly pages (API requests
    keep the API's problem+json handlers)."""
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    api_http = app.exception_handlers.get(StarletteHTTPException)
    api_validation = app.exception_handlers.get(RequestValidationError)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if wants_page(request) or api_http is None:
            status = exc.status_code
            title = _TITLES.get(status, "Something went wrong")
            detail = "This page does not exist." if status == 404 else str(exc.detail)
            return await _page_error(request, PageError(status, title, detail))
        return await api_http(request, exc)  # type: ignore[no-any-return]

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if wants_page(request) or api_validation is None:
            if any(err.get("loc", ("",))[0] == "path" for err in exc.errors()):
                return await _page_error(request, not_found())
            fields = ", ".join(str(err.get("loc", ("", "?"))[-1]) for err in exc.errors())
            detail = f"The address has a value this page cannot use ({fields})."
            return await _page_error(request, PageError(400, "Bad request", detail))
        return await api_validation(request, exc)  # type: ignore[no-any-return]

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    _wrap_out_of_range(app)


def _out_of_range(exc: Exception) -> bool:
    if isinstance(exc, DataError | OverflowError):
        return True
    return isinstance(exc, StatementError) and isinstance(exc.orig, OverflowError | ValueError)


def _wrap_out_of_range(app: FastAPI) -> None:
    """A number the database cannot hold (an id far beyond any row in the address, a huge
    value in a form) is a friendly 400 page for a browser; the API keeps its problem+json."""
    for kind in (DataError, StatementError, OverflowError):
        api_handler = app.exception_handlers.get(kind)
        if api_handler is None:
            continue

        async def out_of_range(
            request: Request, exc: Exception, _api: Any = api_handler
        ) -> Response:
            if wants_page(request) and _out_of_range(exc):
                detail = "A number or date in the address or the form is out of range."
                return await _page_error(request, PageError(400, "Bad request", detail))
            return await _api(request, exc)  # type: ignore[no-any-return]

        app.add_exception_handler(kind, out_of_range)
