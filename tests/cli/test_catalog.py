"""``sharefab import resources`` / ``export resources`` against a small seeded database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sharefab.cli import app
from sharefab.services.orgs import register_organization
from sharefab.services.seed import seed_database
from sharefab.storage.db import make_engine, make_session_factory, upgrade_database
from sharefab.storage.models import Organization, Resource, Site

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
runner = CliRunner()

HEADER = "name,site,capabilities,hourly_rate_minor,attributes\n"


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[str, str, str]:
    """(url, provider org name, its site name) of a freshly seeded 2-factory database."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    seed_database(url, factories=2, seed=3, now=NOW)
    engine = make_engine(url)
    with engine.connect() as conn:
        org, site = conn.execute(
            select(Organization.name, Site.name)
            .join(Site, Site.org_id == Organization.id)
            .join(Resource, Resource.site_id == Site.id)
            .limit(1)
        ).one()
    engine.dispose()
    return url, org, site


def _resources(url: str, org: str) -> list[str]:
    engine = make_engine(url)
    with engine.connect() as conn:
        names = conn.scalars(
            select(Resource.name)
            .join(Organization, Organization.id == Resource.org_id)
            .where(Organization.name == org)
            .order_by(Resource.id)
        ).all()
    engine.dispose()
    return list(names)


def _write_bad_csv(path: Path, site: str) -> None:
    path.write_text(
        HEADER
        + f"Good new mill,{site},separating.machining.milling.3axis,25000,"
        + '"{""tolerance_mm"": 0.02}"\n'
        + f"Negative rate lathe,{site},separating.machining.turning,-5,\n"
        + f"Mystery machine,{site},no.such.capability,1000,\n",
        encoding="utf-8",
    )


def test_malformed_rows_are_reported_and_nothing_is_imported(
    seeded: tuple[str, str, str], tmp_path: Path
) -> None:
    url, org, site = seeded
    before = _resources(url, org)
    csv_file = tmp_path / "bad.csv"
    _write_bad_csv(csv_file, site)
    result = runner.invoke(app, ["import", "resources", str(csv_file), "--org", org, "--db", url])
    assert result.exit_code == 1
    assert "line 3: hourly_rate_minor:" in result.output
    assert "line 4: capabilities" in result.output
    assert "line 2:" not in result.output
    assert "nothing was imported" in result.output
    assert _resources(url, org) == before


def test_skip_invalid_imports_the_good_rows(seeded: tuple[str, str, str], tmp_path: Path) -> None:
    url, org, site = seeded
    before = _resources(url, org)
    csv_file = tmp_path / "bad.csv"
    _write_bad_csv(csv_file, site)
    result = runner.invoke(
        app, ["import", "resources", str(csv_file), "--org", org, "--db", url, "--skip-invalid"]
    )
    assert result.exit_code == 2, result.output
    assert "line 3: hourly_rate_minor:" in result.output
    assert "Imported 1 resource" in result.output
    assert _resources(url, org) == [*before, "Good new mill"]


def test_export_then_import_round_trips(seeded: tuple[str, str, str], tmp_path: Path) -> None:
    url, org, _ = seeded
    exported = tmp_path / "export.csv"
    out = runner.invoke(
        app, ["export", "resources", "--org", org, "--db", url, "--output", str(exported)]
    )
    assert out.exit_code == 0, out.output
    target = f"sqlite:///{tmp_path / 'target.db'}"
    upgrade_database(target)
    engine = make_engine(target)
    with make_session_factory(engine)() as session:
        register_organization(
            session, org_name=org, roles=["provider"], email="x@copy.test", password="long enough 1"
        )
    engine.dispose()
    imported = runner.invoke(
        app, ["import", "resources", str(exported), "--org", org, "--db", target]
    )
    assert imported.exit_code == 0, imported.output
    assert _resources(target, org) == _resources(url, org)
    again = runner.invoke(app, ["export", "resources", "--org", org, "--db", target])
    assert again.exit_code == 0
    assert again.stdout == exported.read_text(encoding="utf-8")
    as_json = runner.invoke(
        app, ["export", "resources", "--org", "1", "--db", target, "--format", "json"]
    )
    assert as_json.exit_code == 0 and as_json.stdout.lstrip().startswith("[")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["import", "resources", "{tmp}/missing.csv", "--org", "x"], "file not found"),
        (["import", "resources", "{csv}", "--org", "No Such Org Ltd"], "unknown organization"),
        (["export", "resources", "--org", "{org}", "--format", "xml"], "csv or json"),
        (
            ["export", "resources", "--org", "{org}", "--db", "sqlite:///{tmp}/nope.db"],
            "no database",
        ),
    ],
)
def test_cli_errors_are_clear_messages(
    seeded: tuple[str, str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    url, org, site = seeded
    csv_file = tmp_path / "ok.csv"
    csv_file.write_text(HEADER + f"A,{site},separating.machining.turning,100,\n", encoding="utf-8")
    filled = [a.format(tmp=tmp_path, csv=csv_file, org=org) for a in args]
    if "--db" not in filled:
        filled += ["--db", url]
    result = runner.invoke(app, filled)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_unmigrated_database_is_a_clear_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    engine = make_engine(f"sqlite:///{empty}")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(select(1).subquery())) == 1
    engine.dispose()
    result = runner.invoke(app, ["export", "resources", "--org", "x", "--db", f"sqlite:///{empty}"])
    assert result.exit_code == 1
    assert "no ShareFab schema" in result.output
