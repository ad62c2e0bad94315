"""``sharefab seed``: deterministic by seed, counts that add up, refuses to seed twice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from sharefab.cli import app
from sharefab.services.errors import Conflict
from sharefab.services.seed import seed_database
from sharefab.storage.db import make_engine
from sharefab.storage.models import (
    CalendarRule,
    CalendarWindow,
    Cluster,
    Organization,
    Resource,
    ResourceCapability,
    Site,
    User,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
runner = CliRunner()


def _dump(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every seeded row without timestamps of insertion, in id order."""
    engine = make_engine(url)
    out: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for model in (Cluster, Organization, Site, Resource, ResourceCapability, CalendarRule):
            cols = [
                c for c in model.__table__.columns if c.name not in ("created_at", "updated_at")
            ]
            out[model.__tablename__] = [
                tuple(r) for r in conn.execute(select(*cols).order_by(cols[0]))
            ]
        out["users"] = [
            tuple(r) for r in conn.execute(select(User.id, User.org_id, User.email, User.role))
        ]
        out["windows"] = [
            tuple(r)
            for r in conn.execute(
                select(
                    CalendarWindow.resource_id, CalendarWindow.start_at, CalendarWindow.end_at
                ).order_by(CalendarWindow.id)
            )
        ]
    engine.dispose()
    return out


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / name}.db" for name in ("a", "b", "c")]
    seed_database(urls[0], factories=3, seed=11, now=NOW)
    seed_database(urls[1], factories=3, seed=11, now=NOW)
    seed_database(urls[2], factories=3, seed=12, now=NOW)
    first, second, other = (_dump(u) for u in urls)
    assert first == second
    assert first["resources"] != other["resources"]


def test_counts_add_up_and_windows_come_from_rules(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    summary = seed_database(url, factories=3, seed=7, now=NOW)
    engine = make_engine(url)
    with engine.connect() as conn:

        def count(model: type) -> int:
            return int(conn.scalar(select(func.count()).select_from(model)) or 0)

        providers = conn.scalar(select(func.count(func.distinct(Resource.org_id))))
        assert providers == 3  # the factories; buyers and the operator own no resources
        sites_in_clusters = conn.scalar(
            select(func.count()).select_from(Site).where(Site.cluster_id.is_not(None))
        )
        assert sites_in_clusters >= 3
        assert count(Cluster) >= 3
        assert count(Resource) == summary.rows["resources"] > 0
        assert count(ResourceCapability) >= count(Resource)
        assert count(CalendarWindow) == summary.rows["calendar windows"] > 0
        rule_windows = conn.scalar(
            select(func.count())
            .select_from(CalendarWindow)
            .where(CalendarWindow.rule_id.is_not(None))
        )
        assert rule_windows and count(CalendarRule) > 0
        first, last = conn.execute(
            select(func.min(CalendarWindow.start_at), func.max(CalendarWindow.end_at))
        ).one()
        assert count(User) >= count(Organization)
    engine.dispose()
    assert summary.password and summary.logins
    assert (last - first).days <= 23  # the default 21-day horizon (plus wrap past midnight)


def test_seeding_twice_is_refused_unless_reset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    seed_database(url, factories=2, seed=1, now=NOW)
    with pytest.raises(Conflict, match="--reset"):
        seed_database(url, factories=2, seed=1, now=NOW)
    summary = seed_database(url, factories=2, seed=2, now=NOW, reset=True)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Resource)) == summary.rows["resources"]
    engine.dispose()


def test_cli_seed_prints_a_summary_and_refuses_a_second_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = runner.invoke(app, ["seed", "--db", url, "--factories", "3", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert "resources" in result.output and "Password" in result.output
    again = runner.invoke(app, ["seed", "--db", url, "--factories", "3"])
    assert again.exit_code == 1
    assert "already holds data" in again.output and "Traceback" not in again.output
    reset = runner.invoke(app, ["seed", "--db", url, "--factories", "2", "--reset"])
    assert reset.exit_code == 0, reset.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["seed", "--db", "mysql://nobody@nowhere/x"], "unsupported database URL"),
        (["seed", "--db", "not a url at all"], "invalid database URL"),
        (["seed", "--db", "sqlite:///{tmp}/x.db", "--factories", "0"], "factories"),
    ],
)
def test_cli_seed_bad_input_is_a_clear_message(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
