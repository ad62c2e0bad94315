"""Migration 0008: resource names become unique per site, ignoring case and surrounding
spaces; a database that already holds such duplicates is upgraded by renaming the later ones."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sharefab.storage.db import alembic_config, make_engine, make_session_factory
from sharefab.storage.models import Organization, Resource, Site

BEFORE = "0007_capacity_changes"


def _load_migration() -> ModuleType:
    path = Path(alembic_config().get_main_option("script_location") or "") / "versions"
    spec = importlib.util.spec_from_file_location("m0008", path / "0008_resource_names.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _resource(site: Site, name: str) -> Resource:
    return Resource(
        org_id=site.org_id, site_id=site.id, name=name, hourly_rate_minor=100, currency="CNY"
    )


def test_upgrade_renames_existing_duplicates_and_then_refuses_new_ones(db_url: str) -> None:
    command.downgrade(alembic_config(db_url), BEFORE)
    engine = make_engine(db_url, null_pool=True)
    try:
        factory = make_session_factory(engine)
        with factory() as session, session.begin():
            org = Organization(name="Legacy Works", roles=["provider"])
            session.add(org)
            session.flush()
            plant, annex = Site(org_id=org.id, name="Plant"), Site(org_id=org.id, name="Annex")
            session.add_all([plant, annex])
            session.flush()
            names = ["Mill 1", "mill 1", " MILL 1 ", "Mill 1 (2)", "Lathe", "x" * 200, "X" * 200]
            session.add_all([_resource(plant, n) for n in names])
            session.add(_resource(annex, "Mill 1"))  # another site may reuse the name
        command.upgrade(alembic_config(db_url), "head")
        with factory() as session:
            rows = session.execute(
                select(Resource.site_id, Resource.name).order_by(Resource.id)
            ).all()
            assert [name for site_id, name in rows if site_id == plant.id] == [
                "Mill 1",
                "mill 1 (3)",  # "(2)" was already taken by a real resource
                "MILL 1 (4)",
                "Mill 1 (2)",
                "Lathe",
                "x" * 200,
                "X" * 196 + " (2)",  # shortened to fit 200 characters
            ]
            assert [name for site_id, name in rows if site_id == annex.id] == ["Mill 1"]
        with pytest.raises(IntegrityError), factory() as session, session.begin():
            session.add(_resource(plant, "  lathe "))
        with factory() as session, session.begin():  # nothing was lost on the way
            assert session.query(Resource).count() == 8
    finally:
        engine.dispose()


def test_renames_keeps_the_oldest_and_picks_free_suffixes() -> None:
    loader = _load_migration()
    rows = [(3, 1, "Oven"), (1, 1, "oven"), (2, 1, "Oven (2)"), (4, 2, "OVEN"), (5, 1, "OVEN ")]
    assert loader.renames(rows) == {3: "Oven (3)", 5: "OVEN (4)"}
    assert loader.renames([(1, 1, "a"), (2, 1, "b")]) == {}
