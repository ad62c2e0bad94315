"""Register an organization with its first admin, authenticate users, and let an
organization's admin change which market roles (buyer, provider) it takes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharefab.services.common import require_role, transaction
from sharefab.services.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from sharefab.services.passwords import (
    DUMMY_HASH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    verify_password,
)
from sharefab.storage.models import ORG_ROLES, Organization, User


def email_taken(session: Session, email: str) -> bool:
    """Whether any user (of any organization) already signs in with ``email``."""
    stmt = select(func.count()).select_from(User).where(User.email == email.strip().lower())
    return session.scalar(stmt) != 0


#: The roles an organization's admin may give or take away itself.
SELF_SERVICE_ROLES = ("buyer", "provider")
#: The role only the platform grants (and only the platform takes away).
PLATFORM_ROLE = "operator"
ADMINS = frozenset({"admin"})


def register_organization(
    session: Session, *, org_name: str, roles: Sequence[str], email: str, password: str
) -> tuple[Organization, User]:
    """Create organization ``org_name`` with ``roles`` and its first user, an admin.

    Raises :class:`InvalidInput` for an empty name, unknown roles, the platform's operator role
    (granted by the platform, never chosen) or a short password and
    :class:`Conflict` when the organization name or the e-mail is already registered.
    """
    name = org_name.strip()
    errors: list[FieldError] = []
    if not name:
        errors.append(FieldError("org_name", "must not be empty"))
    usable = ", ".join(SELF_SERVICE_ROLES)
    if not roles:
        errors.append(FieldError("roles", f"give at least one of: {usable}"))
    for i, role in enumerate(roles):
        if role == PLATFORM_ROLE:
            errors.append(FieldError(f"roles[{i}]", f"the {role} role is granted by the platform"))
        elif role not in SELF_SERVICE_ROLES:
            errors.append(FieldError(f"roles[{i}]", f"unknown role {role!r}; use {usable}"))
    if len(password) < MIN_PASSWORD_LENGTH:
        errors.append(FieldError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters"))
    if errors:
        raise InvalidInput.of(errors)
    with transaction(session):
        if session.scalar(select(Organization.id).where(Organization.name == name)) is not None:
            raise Conflict(
                f"organization {name!r} is already registered",
                [FieldError("org_name", "already registered")],
            )
        if email_taken(session, email):
            raise Conflict(
                f"e-mail {email.lower()!r} is already registered",
                [FieldError("email", "already registered")],
            )
        org = Organization(name=name, roles=sorted(set(roles)))
        session.add(org)
        session.flush()
        admin = User(
            org_id=org.id,
            email=email,
            password_hash=hash_password(password),
            role="admin",
            is_active=True,
        )
        session.add(admin)
        session.flush()
    return org, admin


def authenticate(session: Session, email: str, password: str) -> User:
    """The active user with ``email`` and ``password``; :class:`AuthenticationFailed` otherwise
    (the same message whether the e-mail or the password was wrong)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    ok = verify_password(password, user.password_hash if user else DUMMY_HASH)
    if user is None or not ok or not user.is_active:
        message = "incorrect e-mail or password"
        raise AuthenticationFailed(
            message, [FieldError("username", message), FieldError("password", message)]
        )
    return user


def get_organization(session: Session, actor: User, org_id: int) -> Organization:
    """The caller's own organization ``org_id``; 404 for any other (existence is not leaked)."""
    org = session.get(Organization, org_id)
    if org is None or org.id != actor.org_id:
        raise NotFound("organization", org_id)
    return org


def set_roles(session: Session, actor: User, org_id: int, roles: Sequence[str]) -> Organization:
    """Make ``roles`` the market roles of the caller's organization ``org_id`` (caller must be
    its admin), e.g. a provider-only organization that wants to post RFQs adds ``buyer``.

    404 for another tenant's organization; 403 for a non-admin; 422 naming each unknown role
    and when no role would be left; 403 when the request would give or take away the
    ``operator`` role, which only the platform grants. Nothing stored besides the roles
    changes: resources, RFQs and orders stay as they are.
    """
    org = get_organization(session, actor, org_id)
    require_role(actor, ADMINS)
    usable = ", ".join(SELF_SERVICE_ROLES)
    errors: list[FieldError] = []
    for i, role in enumerate(roles):
        if role not in ORG_ROLES:
            errors.append(FieldError(f"roles[{i}]", f"unknown role {role!r}; use {usable}"))
    if not roles:
        errors.append(
            FieldError("roles", f"an organization keeps at least one role; give any of: {usable}")
        )
    if errors:
        raise InvalidInput.of(errors)
    had = set(org.roles or [])
    wanted = set(roles)
    if (PLATFORM_ROLE in had) != (PLATFORM_ROLE in wanted):
        verb = "removed" if PLATFORM_ROLE in had else "added"
        message = (
            f"the {PLATFORM_ROLE} role is granted by the platform only and cannot be {verb} "
            f"here; an organization changes only its {usable} roles"
        )
        raise PermissionDenied(message, [FieldError("roles", message)])
    with transaction(session):
        org.roles = sorted(wanted)
        session.flush()
    return org
