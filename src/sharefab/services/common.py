"""Helpers every service shares: the transaction boundary, pages, roles and visibility.

Visibility rules (tenant isolation):

* a tenant's own sites, resources, windows, bookings and users are fully visible to it;
* another tenant's **public** resources (with their rates, capabilities, site location and
  published windows) are readable but not changeable (403);
* everything else of another tenant (private resources, sites, users, bookings details) does
  not exist for the caller: :class:`~sharefab.services.errors.NotFound` (HTTP 404).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from sharefab.services.errors import NotFound, PermissionDenied
from sharefab.storage.models import Resource, Site, User

T = TypeVar("T")

#: Roles allowed to change the catalogue (sites, resources, windows, calendar rules).
CATALOGUE_WRITERS = frozenset({"admin", "planner"})


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the total number of matching items."""

    data: Sequence[T]
    count: int


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Commit on success, roll back on any exception: one service call, one transaction."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def require_role(actor: User, roles: frozenset[str] = CATALOGUE_WRITERS) -> None:
    """Refuse (403) callers whose role is not in ``roles``."""
    if actor.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise PermissionDenied(f"role '{actor.role}' may not change this; needs one of: {allowed}")


def own_site(session: Session, actor: User, site_id: int) -> Site:
    """The caller's site ``site_id``; 404 when missing or another tenant's."""
    site = session.get(Site, site_id)
    if site is None or site.org_id != actor.org_id:
        raise NotFound("site", site_id)
    return site


def _load_resource(session: Session, resource_id: int) -> Resource | None:
    return session.get(
        Resource,
        resource_id,
        options=[selectinload(Resource.capabilities), selectinload(Resource.site)],
    )


def lock_resource(session: Session, resource_id: int) -> None:
    """Hold resource ``resource_id``'s row until the transaction ends, so that concurrent
    writers of its calendar check-then-insert one after another (``SELECT ... FOR UPDATE``
    on PostgreSQL; SQLite write transactions are already serialized by ``BEGIN IMMEDIATE``)."""
    session.execute(select(Resource.id).where(Resource.id == resource_id).with_for_update())


def visible_resource(session: Session, actor: User, resource_id: int) -> Resource:
    """Resource ``resource_id`` if the caller owns it or it is public; 404 otherwise."""
    resource = _load_resource(session, resource_id)
    if resource is None or (resource.org_id != actor.org_id and not resource.is_public):
        raise NotFound("resource", resource_id)
    return resource


def own_resource(session: Session, actor: User, resource_id: int) -> Resource:
    """The caller's resource ``resource_id`` for a change: 404 when missing or private to
    another tenant, 403 when it is another tenant's public resource."""
    resource = visible_resource(session, actor, resource_id)
    if resource.org_id != actor.org_id:
        raise PermissionDenied(f"resource {resource_id} belongs to another organization")
    return resource
