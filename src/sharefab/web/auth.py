"""Sign in and out for the pages: the same users and tokens as the API, kept in a cookie.

The JWT from :func:`sharefab.api.security.create_access_token` is stored in an HttpOnly,
SameSite=Lax cookie, so page scripts cannot read it and other sites' forms cannot use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from sharefab.api.security import create_access_token, decode_access_token
from sharefab.config import Settings
from sharefab.services.errors import AuthenticationFailed
from sharefab.services.orgs import authenticate
from sharefab.storage.models import Organization, User
from sharefab.web.errors import SignInRequired
from sharefab.web.templating import render

COOKIE_NAME = "sharefab_session"

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user as the templates see them."""

    user: User
    email: str
    org_id: int
    org_name: str


def page_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


def page_session(request: Request) -> Iterator[Session]:
    """One database session per page request."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        session.close()


PageSession = Annotated[Session, Depends(page_session)]
PageSettings = Annotated[Settings, Depends(page_settings)]


def optional_viewer(
    request: Request, session: PageSession, settings: PageSettings
) -> Viewer | None:
    """The user the session cookie names, or ``None`` (no, expired or forged cookie)."""
    token = request.cookies.get(COOKIE_NAME)
    viewer: Viewer | None = None
    if token:
        try:
            claims = decode_access_token(settings, token)
        except AuthenticationFailed:
            claims = None
        user = session.get(User, claims.user_id) if claims else None
        if (
            user is not None
            and claims is not None
            and user.is_active
            and (user.org_id == claims.org_id)
        ):
            org = session.get(Organization, user.org_id)
            viewer = Viewer(user, user.email, user.org_id, org.name if org else "")
    request.state.viewer = viewer
    return viewer


OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]


def required_viewer(request: Request, viewer: OptionalViewer) -> Viewer:
    """The signed-in user; anyone else is sent to the sign-in page and back here after."""
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return viewer


RequiredViewer = Annotated[Viewer, Depends(required_viewer)]


def safe_next(next_url: str | None) -> str:
    """Only same-site paths are allowed as a redirect target after sign-in."""
    if next_url and next_url.startswith("/") and not next_url.startswith("//"):
        return next_url
    return "/catalogue"


@router.get("/signin", name="web_signin")
def signin_page(request: Request, viewer: OptionalViewer, next: str = "/catalogue") -> Response:
    """The sign-in form."""
    context = {"next_url": safe_next(next), "email": "", "error": None}
    return render(request, "signin.html", context)


@router.post("/signin")
def signin_submit(
    request: Request,
    session: PageSession,
    settings: PageSettings,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/catalogue",
) -> Response:
    """Check the e-mail and password; on success set the cookie and go to ``next``."""
    request.state.viewer = None
    try:
        user = authenticate(session, email, password)
    except AuthenticationFailed as exc:
        context = {"next_url": safe_next(next), "email": email, "error": exc.detail}
        return render(request, "signin.html", context, status_code=401)
    token = create_access_token(settings, user.id, user.org_id)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.access_token_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/signout")
def signout() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
