"""CSV/JSON import and export of resources (the service behind the CLI)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sharefab.services import catalog_io
from sharefab.services.catalog_io import CatalogImportError, RowError, read_csv, validate_rows
from sharefab.services.errors import InvalidInput
from sharefab.services.orgs import register_organization
from sharefab.storage.models import Resource, Site

HEADER = (
    "name,site,site_lat,site_lon,kind,capabilities,attributes,hourly_rate_minor,capacity,"
    "is_public\n"
)
GOOD = (
    "Mill A,Suzhou,31.3,120.6,machine,separating.machining.milling.5axis,"
    '"{""tolerance_mm"": 0.01, ""materials"": [""steel""]}",35000,1,true\n'
    "Laser B,Suzhou,,,machine,separating.cutting.laser,,18000,2,no\n"
    "Combo C,Suzhou,,,machine,separating.machining.milling.3axis;separating.machining.drilling,"
    '"{""separating.machining.drilling"": {""tolerance_mm"": 0.05}}",9000,1,yes\n'
)


def _org(session_factory: sessionmaker[Session], name: str) -> int:
    with session_factory() as session:
        org, _ = register_organization(
            session,
            org_name=name,
            roles=["provider"],
            email=f"{name}@example.com",
            password="long enough",
        )
        return org.id


def _count(session_factory: sessionmaker[Session], model: type) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_import_creates_resources_and_sites(session_factory: sessionmaker[Session]) -> None:
    org = _org(session_factory, "alice")
    with session_factory() as session:
        report = catalog_io.import_resources(session, org, read_csv(HEADER + GOOD))
    assert (report.created, report.sites_created, report.errors) == (3, 1, [])
    with session_factory() as session:
        combo = session.scalars(select(Resource).where(Resource.name == "Combo C")).one()
        caps = {c.code: c.attributes for c in combo.capabilities}
        assert caps == {
            "separating.machining.milling.3axis": {},
            "separating.machining.drilling": {"tolerance_mm": 0.05},
        }
        laser = session.scalars(select(Resource).where(Resource.name == "Laser B")).one()
        assert (laser.capacity, laser.is_public, laser.currency) == (2, False, "CNY")


def test_a_bad_row_imports_nothing_and_names_line_and_field(
    session_factory: sessionmaker[Session],
) -> None:
    org = _org(session_factory, "alice")
    bad = (
        "Broken D,Suzhou,,,machine,separating.machining.miling,,-5,1,maybe\n"
        "Broken E,Nowhere,,,machine,separating.cutting.laser,{not json},100,1,true\n"
    )
    with session_factory() as session, pytest.raises(CatalogImportError) as caught:
        catalog_io.import_resources(session, org, read_csv(HEADER + GOOD + bad))
    messages = [str(e) for e in caught.value.row_errors]
    assert any(m.startswith("line 5: capabilities[0].code: unknown capability") for m in messages)
    assert "line 5: hourly_rate_minor: must be >= 0, got -5" in messages
    assert any(m.startswith("line 5: is_public:") for m in messages)
    assert any(m.startswith("line 6: attributes: must be a JSON object") for m in messages)
    assert _count(session_factory, Resource) == 0
    assert _count(session_factory, Site) == 0


def test_skip_invalid_imports_the_good_rows(session_factory: sessionmaker[Session]) -> None:
    org = _org(session_factory, "alice")
    rows = read_csv(
        HEADER + GOOD + "Orphan,Nowhere,,,machine,separating.cutting.laser,,100,1,true\n"
    )
    with session_factory() as session:
        report = catalog_io.import_resources(session, org, rows, skip_invalid=True)
    assert report.created == 3
    assert report.skipped_lines == [5]
    assert report.errors[0].field == "site"
    # Importing the same file again: every row already exists, nothing changes.
    with session_factory() as session, pytest.raises(CatalogImportError) as caught:
        catalog_io.import_resources(session, org, read_csv(HEADER + GOOD))
    assert {e.reason for e in caught.value.row_errors} == {"already exists at site 'Suzhou'"}
    assert _count(session_factory, Resource) == 3


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_imports_again_unchanged(session_factory: sessionmaker[Session], fmt: str) -> None:
    alice, bob = _org(session_factory, "alice"), _org(session_factory, "bob")
    with session_factory() as session:
        catalog_io.import_resources(session, alice, read_csv(HEADER + GOOD))
        exported = catalog_io.export_resources(session, alice, fmt)  # type: ignore[arg-type]
    rows = read_csv(exported) if fmt == "csv" else catalog_io.read_json(exported)
    assert validate_rows(rows) == []
    with session_factory() as session:
        report = catalog_io.import_resources(session, bob, rows)
        assert report.created == 3 and report.sites_created == 1
        again = catalog_io.export_resources(session, bob, fmt)  # type: ignore[arg-type]
    assert again == exported
    if fmt == "json":
        assert json.loads(exported)[0]["capabilities"][0]["attributes"]["tolerance_mm"] == 0.01


def test_validate_rows_without_a_database() -> None:
    rows = [
        {
            "name": "x",
            "site": "s",
            "capabilities": "separating.cutting.laser",
            "hourly_rate_minor": "1.5",
        },
        {
            "name": "x",
            "site": "s",
            "capabilities": "separating.cutting.laser",
            "hourly_rate_minor": "10",
        },
        {
            "name": "x",
            "site": "s",
            "capabilities": "separating.cutting.laser",
            "hourly_rate_minor": "10",
        },
        {"site": "s", "capabilities": "", "hourly_rate_minor": "10", "capacity": "0"},
    ]
    assert validate_rows(rows) == [
        RowError(2, "hourly_rate_minor", "must be a whole number, got '1.5'"),
        RowError(4, "name", "repeats line 3 (same site and name)"),
        RowError(5, "name", "required"),
        RowError(5, "capabilities", "required"),
        RowError(5, "capacity", "must be a whole number >= 1, got 0"),
    ]


def test_csv_header_problems_are_reported() -> None:
    with pytest.raises(InvalidInput) as caught:
        read_csv("name,site,colour\nx,y,red\n")
    fields = " ".join(e.message for e in caught.value.errors)
    assert "capabilities" in fields and "hourly_rate_minor" in fields and "colour" in fields


def test_values_the_database_could_not_hold_are_row_errors(
    session_factory: sessionmaker[Session],
) -> None:
    """Out-of-range money, infinite speed, unknown lease models, NUL characters and over-long
    site names are reported per line before anything is written (on PostgreSQL they used to
    reach the database)."""
    org = _org(session_factory, "alice")
    header = "name,site,capabilities,hourly_rate_minor,speed_factor,lease_terms\n"
    rows = (
        "Huge,Suzhou,separating,99999999999999999999,1,\n"
        "Fast,Suzhou,separating,100,inf,\n"
        'Leased,Suzhou,separating,100,1,"{""model"": ""rent-to-own""}"\n'
        'Metered,Suzhou,separating,100,1,"{""model"": ""pay_per_use""}"\n'
        "Nul\x00,Suzhou,separating,100,1,\n"
        f"Long,{'S' * 201},separating,100,1,\n"
    )
    with session_factory() as session, pytest.raises(CatalogImportError) as caught:
        catalog_io.import_resources(session, org, read_csv(header + rows))
    fields = {(e.line, e.field) for e in caught.value.row_errors}
    assert {
        (2, "hourly_rate_minor"),
        (3, "speed_factor"),
        (4, "lease_terms.model"),
        (5, "lease_terms"),
        (6, "name"),
        (7, "site"),
    } <= fields
    assert _count(session_factory, Resource) == 0
    assert _count(session_factory, Site) == 0
