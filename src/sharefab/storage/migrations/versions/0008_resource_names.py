"""resource names: unique per site, ignoring case and surrounding spaces

Revision ID: 0008_resource_names
Revises: 0007_capacity_changes
Create Date: 2026-11-22 02:30:00

A database may already hold two resources of one site whose names differ only in case or
surrounding spaces (nothing prevented it before). Those are renamed first, so the unique index
can be built: the oldest (lowest id) keeps its name, each later one gets the first free
``" (2)"``, ``" (3)"``, ... suffix (its name shortened to fit 200 characters). Nothing is
deleted; the downgrade drops the index and leaves the new names.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_resource_names"
down_revision: str | None = "0007_capacity_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_NAME = 200


def name_key(name: str) -> str:
    """The identity of a name within its site: SQL ``lower(ltrim(rtrim(name)))``."""
    return name.strip(" ").lower()


def free_name(name: str, taken: set[str]) -> str:
    """``name`` with the first suffix ``" (n)"`` whose key is not in ``taken``."""
    base = name.strip(" ")
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = base[: MAX_NAME - len(suffix)].rstrip(" ") + suffix
        if name_key(candidate) not in taken:
            return candidate
        n += 1


def renames(rows: Sequence[tuple[int, int, str]]) -> dict[int, str]:
    """New names for the later duplicates among ``(id, site_id, name)`` rows, by id."""
    taken: dict[int, set[str]] = {}
    for _, site_id, name in rows:
        taken.setdefault(site_id, set()).add(name_key(name))
    kept: set[tuple[int, str]] = set()
    out: dict[int, str] = {}
    for resource_id, site_id, name in sorted(rows):
        key = (site_id, name_key(name))
        if key not in kept:
            kept.add(key)
            continue
        new = free_name(name, taken[site_id])
        taken[site_id].add(name_key(new))
        kept.add((site_id, name_key(new)))
        out[resource_id] = new
    return out


def upgrade() -> None:
    """Rename later duplicates within a site, then add the unique index."""
    bind = op.get_bind()
    resources = sa.table(
        "resources", sa.column("id", sa.Integer), sa.column("site_id"), sa.column("name")
    )
    key = sa.func.lower(sa.func.ltrim(sa.func.rtrim(resources.c.name)))
    sites = bind.scalars(
        sa.select(resources.c.site_id)
        .group_by(resources.c.site_id, key)
        .having(sa.func.count() > 1)
    ).all()
    if sites:
        every = bind.execute(
            sa.select(resources.c.id, resources.c.site_id, resources.c.name).where(
                resources.c.site_id.in_(set(sites))
            )
        ).all()
        for resource_id, name in renames([tuple(r) for r in every]).items():
            bind.execute(resources.update().where(resources.c.id == resource_id).values(name=name))
    op.create_index(
        "uq_resources_site_name",
        "resources",
        ["site_id", sa.text("lower(ltrim(rtrim(name)))")],
        unique=True,
    )


def downgrade() -> None:
    """Drop the index (renamed duplicates keep their new names)."""
    op.drop_index("uq_resources_site_name", table_name="resources")
