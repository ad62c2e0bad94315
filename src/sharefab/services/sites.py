"""Factory sites of the caller's organization. Site names are unique per organization
(ignoring case and surrounding spaces): the catalogue import refers to sites by name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharefab.services.common import Page, own_site, require_role, transaction
from sharefab.services.errors import Conflict, FieldError, InvalidInput
from sharefab.storage.models import Cluster, Organization, Resource, Site, User

SITE_FIELDS = ("name", "address", "lat", "lon", "cluster_id")


def _check(values: dict[str, Any], session: Session) -> None:
    errors: list[FieldError] = []
    if "name" in values and not str(values["name"] or "").strip():
        errors.append(FieldError("name", "must not be empty"))
    lat, lon = values.get("lat"), values.get("lon")
    if lat is not None and not -90 <= lat <= 90:
        errors.append(FieldError("lat", "must be between -90 and 90"))
    if lon is not None and not -180 <= lon <= 180:
        errors.append(FieldError("lon", "must be between -180 and 180"))
    cluster_id = values.get("cluster_id")
    if cluster_id is not None and session.get(Cluster, cluster_id) is None:
        errors.append(FieldError("cluster_id", f"cluster {cluster_id} does not exist"))
    if errors:
        raise InvalidInput.of(errors)


def _refuse_duplicate_name(
    session: Session, org_id: int, name: Any, exclude_id: int | None = None
) -> None:
    # The catalogue import finds sites by name, so names are unique (ignoring case) per org.
    if not isinstance(name, str):
        return
    # Concurrent writers of one organization's sites take turns (PostgreSQL row lock; SQLite
    # write transactions are serialized already), so two equal names cannot both pass.
    session.execute(select(Organization.id).where(Organization.id == org_id).with_for_update())
    query = select(Site.id, Site.name).where(Site.org_id == org_id)
    if exclude_id is not None:
        query = query.where(Site.id != exclude_id)
    wanted = name.strip().casefold()
    for other_id, other_name in session.execute(query):
        if other_name.strip().casefold() == wanted:
            raise Conflict(
                f"your organization already has a site named {other_name!r} (site {other_id})",
                [FieldError("name", f"already used by site {other_id}")],
            )


def list_sites(session: Session, actor: User, *, limit: int, offset: int) -> Page[Site]:
    """The caller's sites, oldest first (other tenants' sites are never listed)."""
    where = Site.org_id == actor.org_id
    count = session.scalar(select(func.count()).select_from(Site).where(where)) or 0
    rows = session.scalars(select(Site).where(where).order_by(Site.id).limit(limit).offset(offset))
    return Page(list(rows), count)


def get_site(session: Session, actor: User, site_id: int) -> Site:
    """The caller's site ``site_id`` (404 for another tenant's)."""
    return own_site(session, actor, site_id)


def create_site(session: Session, actor: User, **values: Any) -> Site:
    """A new site of the caller's organization from ``name, address, lat, lon, cluster_id``."""
    require_role(actor)
    values = {k: v for k, v in values.items() if k in SITE_FIELDS}
    _check({"name": values.get("name", ""), **values}, session)
    with transaction(session):
        _refuse_duplicate_name(session, actor.org_id, values.get("name"))
        site = Site(org_id=actor.org_id, **values)
        session.add(site)
        session.flush()
    return site


def update_site(session: Session, actor: User, site_id: int, **changes: Any) -> Site:
    """Change the given fields of the caller's site ``site_id``."""
    site = own_site(session, actor, site_id)
    require_role(actor)
    changes = {k: v for k, v in changes.items() if k in SITE_FIELDS}
    _check(changes, session)
    with transaction(session):
        if "name" in changes:
            _refuse_duplicate_name(session, actor.org_id, changes["name"], exclude_id=site.id)
        for key, value in changes.items():
            setattr(site, key, value)
        session.flush()
    return site


def delete_site(session: Session, actor: User, site_id: int) -> None:
    """Delete the caller's site ``site_id``; refused (409) while resources are located there."""
    site = own_site(session, actor, site_id)
    require_role(actor)
    with transaction(session):
        used = session.scalar(
            select(func.count()).select_from(Resource).where(Resource.site_id == site.id)
        )
        if used:
            raise Conflict(
                f"site {site_id} still has {used} resource(s); move or delete them first",
                [FieldError("site_id", "has resources")],
            )
        session.delete(site)
