"""Users inside the caller's organization (only admins create or change them)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharefab.services.common import Page, require_role, transaction
from sharefab.services.errors import Conflict, FieldError, InvalidInput, NotFound
from sharefab.services.orgs import email_taken
from sharefab.services.passwords import MIN_PASSWORD_LENGTH, hash_password
from sharefab.storage.models import USER_ROLES, User

ADMINS = frozenset({"admin"})


def _check_role(role: str) -> None:
    if role not in USER_ROLES:
        raise InvalidInput.single("role", f"unknown role {role!r}; use one of {USER_ROLES}")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput.single("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")


def list_users(session: Session, actor: User, *, limit: int, offset: int) -> Page[User]:
    """The users of the caller's organization, oldest first."""
    where = User.org_id == actor.org_id
    count = session.scalar(select(func.count()).select_from(User).where(where)) or 0
    rows = session.scalars(select(User).where(where).order_by(User.id).limit(limit).offset(offset))
    return Page(list(rows), count)


def get_user(session: Session, actor: User, user_id: int) -> User:
    """User ``user_id`` of the caller's organization; 404 for any other."""
    user = session.get(User, user_id)
    if user is None or user.org_id != actor.org_id:
        raise NotFound("user", user_id)
    return user


def create_user(session: Session, actor: User, *, email: str, password: str, role: str) -> User:
    """A new user in the caller's organization (caller must be an admin)."""
    require_role(actor, ADMINS)
    _check_role(role)
    _check_password(password)
    with transaction(session):
        if email_taken(session, email):
            raise Conflict(
                f"e-mail {email.lower()!r} is already registered",
                [FieldError("email", "already registered")],
            )
        user = User(
            org_id=actor.org_id,
            email=email,
            password_hash=hash_password(password),
            role=role,
            is_active=True,
        )
        session.add(user)
        session.flush()
    return user


def update_user(
    session: Session,
    actor: User,
    user_id: int,
    *,
    role: str | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user's role, active flag or password (caller must be an admin of the same
    organization). An organization always keeps at least one active admin."""
    user = get_user(session, actor, user_id)
    require_role(actor, ADMINS)
    if role is not None:
        _check_role(role)
    if password is not None:
        _check_password(password)
    with transaction(session):
        if role is not None:
            user.role = role
        if is_active is not None:
            user.is_active = is_active
        if password is not None:
            user.password_hash = hash_password(password)
        session.flush()
        admins = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.org_id == actor.org_id, User.role == "admin", User.is_active.is_(True))
        )
        if not admins:
            field = "role" if role is not None else "is_active"
            raise Conflict(
                "an organization must keep at least one active admin",
                [FieldError(field, "would leave the organization without an active admin")],
            )
    return user
