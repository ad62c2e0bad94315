"""Test data for the market-ops tests: organizations, users, sites and resources in the DB."""

from __future__ import annotations

from sqlalchemy.orm import Session

from sharefab.storage.models import Organization, Resource, Site, User


def make_org(
    session: Session, name: str, *, role: str = "admin", operator: bool = False
) -> tuple[Organization, User]:
    """An organization with one user of ``role`` (flushed, not committed)."""
    org = Organization(name=name, roles=["provider", "buyer"])
    session.add(org)
    session.flush()
    slug = name.lower().replace(" ", "-")
    user = User(
        org_id=org.id,
        email=f"{role}@{slug}.example.com",
        password_hash="not-a-real-hash",
        role=role,
        is_platform_operator=operator,
    )
    session.add(user)
    session.flush()
    return org, user


def make_resource(
    session: Session, org: Organization, site: Site | None = None, *, name: str = "Mill"
) -> Resource:
    """A unit-capacity machine of ``org`` (and a site, if none is given)."""
    if site is None:
        site = Site(org_id=org.id, name=f"{org.name} plant", lat=31.3, lon=120.7)
        session.add(site)
        session.flush()
    resource = Resource(
        org_id=org.id, site_id=site.id, name=name, hourly_rate_minor=10000, currency="CNY"
    )
    session.add(resource)
    session.flush()
    return resource
