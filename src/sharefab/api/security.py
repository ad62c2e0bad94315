"""Password hashing (argon2id, from :mod:`sharefab.services.passwords`) and HS256 bearer
tokens (PyJWT) carrying the user id, the organization id, the issuer and an expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from sharefab.config import Settings
from sharefab.services.errors import AuthenticationFailed, FieldError
from sharefab.services.passwords import hash_password, verify_password

ALGORITHM = "HS256"
ISSUER = "sharefab"
#: Ids in a token beyond what an id column holds cannot name a user.
MAX_ID = 2**31 - 1

__all__ = [
    "TokenClaims",
    "create_access_token",
    "decode_access_token",
    "hash_password",
    "verify_password",
]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid access token says about its bearer."""

    user_id: int
    org_id: int
    expires_at: datetime


def create_access_token(
    settings: Settings,
    user_id: int,
    org_id: int,
    *,
    now: datetime | None = None,
    minutes: int | None = None,
) -> str:
    """A signed token for ``user_id`` of ``org_id`` that expires after
    ``minutes`` (default ``settings.access_token_minutes``)."""
    issued = now or datetime.now(UTC)
    lifetime = timedelta(minutes=settings.access_token_minutes if minutes is None else minutes)
    payload = {
        "sub": str(user_id),
        "org": org_id,
        "iss": ISSUER,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
    }
    return jwt.encode(payload, settings.secret_key, algorithm=ALGORITHM)


def _token_error(message: str) -> AuthenticationFailed:
    return AuthenticationFailed(message, [FieldError("Authorization", message)])


def decode_access_token(settings: Settings, token: str) -> TokenClaims:
    """The claims of a valid token; :class:`AuthenticationFailed` when it is expired,
    forged, malformed or from another issuer."""
    try:
        payload = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _token_error("the access token has expired; log in again") from exc
    except jwt.InvalidTokenError as exc:
        raise _token_error("the access token is invalid") from exc
    try:
        user_id = int(payload["sub"])
        org_id = int(payload["org"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _token_error("the access token is invalid") from exc
    if not (0 < user_id <= MAX_ID and 0 < org_id <= MAX_ID):
        raise _token_error("the access token is invalid")
    return TokenClaims(
        user_id=user_id, org_id=org_id, expires_at=datetime.fromtimestamp(payload["exp"], UTC)
    )
