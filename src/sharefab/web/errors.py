"""Errors that page handlers raise; :func:`install_page_error_handlers` renders them."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
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


def install_page_error_handlers(app: FastAPI) -> None:
    """Register the handlers for :class:`PageError` and :class:`SignInRequired` on ``app``."""
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(SignInRequired, _sign_in_required)
