"""Request dependencies as ``Annotated`` aliases: settings, a session per request, the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from sharefab.api.security import decode_access_token
from sharefab.api.user_cache import UserCache
from sharefab.config import Settings
from sharefab.services.errors import AuthenticationFailed, FieldError, PermissionDenied
from sharefab.storage.models import User

TOKEN_URL = "/api/v1/auth/token"

oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with (``async``: no I/O, so no worker-thread hop)."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed (and any open transaction rolled back) at the end.

    Routes never commit: each service function commits its own transaction. ``GET`` and
    ``HEAD`` requests get a read session (``BEGIN DEFERRED`` on SQLite).

    ``async`` although sessions are synchronous: opening one does no I/O (it connects on
    first use, in the route's worker thread), and closing one does I/O only while a
    transaction is still open, so only then is the close sent to a worker thread. A
    synchronous generator here cost two worker-thread hops per request.
    """
    state = request.app.state
    factory = state.session_factory
    if request.method in ("GET", "HEAD"):
        factory = getattr(state, "read_session_factory", factory)
    session: Session = factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_db)]
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


async def get_current_user(
    request: Request, session: SessionDep, settings: SettingsDep, token: TokenDep
) -> User:
    """The active user the bearer token names; 401 when missing, invalid or expired.

    ``async``: the token is checked here, and the user comes from the
    :class:`~sharefab.api.user_cache.UserCache` without SQL when verified in the last few
    seconds; only a miss reads it, in a worker thread.
    """
    if not token:
        message = "not authenticated: send 'Authorization: Bearer <token>'"
        raise AuthenticationFailed(message, [FieldError("Authorization", message)])
    claims = decode_access_token(settings, token)
    cache: UserCache = request.app.state.user_cache
    user = cache.attach(session, claims.user_id)
    if user is None:
        user = await run_in_threadpool(session.get, User, claims.user_id)
        if user is not None and user.is_active:
            cache.remember(user)
    if user is None or not user.is_active or user.org_id != claims.org_id:
        message = "the access token no longer names an active user"
        raise AuthenticationFailed(message, [FieldError("Authorization", message)])
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_current_admin(user: CurrentUser) -> User:
    """The caller, who must be an admin of their organization (403 otherwise)."""
    if user.role != "admin":
        raise PermissionDenied("only an organization admin may do this")
    return user


CurrentAdmin = Annotated[User, Depends(get_current_admin)]
