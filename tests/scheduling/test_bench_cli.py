"""``sharefab bench fjsp``: table, JSON lines, best-known lookup, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from sharefab.cli import app
from sharefab.cli.bench import BestKnown, _validated_makespan, find_instances, instance_labels
from sharefab.scheduling.fjsp import read_fjsp
from sharefab.scheduling.model import Lot, Result, Solution, SolveStatus
from sharefab.scheduling.validator import validate

DATA = Path(__file__).parent / "data"
KEYS = {
    "instance",
    "makespan",
    "baseline_makespan",
    "best_known",
    "gap_pct",
    "baseline_gap_pct",
    "seconds",
}
runner = CliRunner()


def make_dir(tmp_path: Path) -> Path:
    """A family folder with two instances, and a bks.csv one level above it."""
    family = tmp_path / "set" / "kacem"
    family.mkdir(parents=True)
    shutil.copy(DATA / "k1.fjs", family / "k1.fjs")
    shutil.copy(DATA / "tiny.fjs", family / "tiny.fjs")
    (tmp_path / "set" / "bks.csv").write_text(
        "family,instance,n_jobs,n_machines,lower_bound,best_known\nkacem,k1,4,5,11,11\n"
    )
    return tmp_path / "set"


def test_bench_writes_one_json_object_per_instance(tmp_path: Path) -> None:
    directory = make_dir(tmp_path)
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app,
        [
            "bench",
            "fjsp",
            "--dir",
            str(directory),
            "--time-limit",
            "1",
            "--workers",
            "1",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "k1" in result.output and "tiny" in result.output
    rows = {row["instance"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert set(rows) == {"k1", "tiny"}
    assert all(set(row) == KEYS for row in rows.values())
    k1 = rows["k1"]
    assert k1["best_known"] == 11
    assert k1["makespan"] >= 11 and k1["baseline_makespan"] >= 11
    assert k1["gap_pct"] == round(100 * (k1["makespan"] - 11) / 11, 2)
    tiny = rows["tiny"]
    assert tiny["best_known"] is None and tiny["gap_pct"] is None
    assert tiny["makespan"] == 7  # optimum of the tiny instance
    assert tiny["seconds"] >= 0


def test_plans_failing_the_validator_are_never_reported() -> None:
    data = read_fjsp(DATA / "tiny.fjs")
    good = Solution(
        ((Lot(0, 0, 3, 1),), (Lot(2, 4, 6, 1),), (Lot(2, 0, 4, 1),), (Lot(0, 4, 7, 1),))
    )
    assert validate(data, good).ok
    overlapping = Solution(
        ((Lot(0, 0, 3, 1),), (Lot(2, 3, 5, 1),), (Lot(0, 0, 2, 1),), (Lot(1, 2, 5, 1),))
    )
    assert not validate(data, overlapping).ok

    def result(solution: Solution) -> Result:
        return Result(SolveStatus.FEASIBLE, 0.0, None, 0.0, solution)

    assert _validated_makespan(data, result(good)) == 7
    assert _validated_makespan(data, result(overlapping)) is None


def test_malformed_instance_is_reported_with_its_line(tmp_path: Path) -> None:
    directory = make_dir(tmp_path)
    (directory / "kacem" / "broken.fjs").write_text("1 2\n2 1 1 3\n")
    result = runner.invoke(
        app, ["bench", "fjsp", "--dir", str(directory), "--time-limit", "0.5", "--workers", "1"]
    )
    assert result.exit_code == 1
    assert "broken.fjs line 2: expected 2 operations, got 1" in result.output
    assert "Traceback" not in result.output


def test_missing_directory_and_empty_directory_fail_cleanly(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["bench", "fjsp", "--dir", str(tmp_path / "nope"), "--time-limit", "1"]
    )
    assert result.exit_code == 2
    assert "is not a directory" in result.output
    result = runner.invoke(app, ["bench", "fjsp", "--dir", str(tmp_path), "--time-limit", "1"])
    assert result.exit_code == 2
    assert "no .fjs files" in result.output
    result = runner.invoke(app, ["bench", "fjsp", "--dir", str(tmp_path), "--time-limit", "0"])
    assert result.exit_code == 2


def test_same_instance_name_in_two_families_gets_each_familys_best_known(tmp_path: Path) -> None:
    for family in ("edata", "vdata"):
        (tmp_path / family).mkdir()
        shutil.copy(DATA / "k1.fjs", tmp_path / family / "la01.fjs")
    (tmp_path / "bks.csv").write_text(
        "family,instance,n_jobs,n_machines,lower_bound,best_known\n"
        "edata,la01,4,5,11,12\nvdata,la01,4,5,11,11\n"
    )
    instances = find_instances(tmp_path)
    labels = instance_labels(instances)
    assert sorted(labels.values()) == ["edata/la01", "vdata/la01"]
    bks = BestKnown()
    assert {labels[p]: bks.lookup(p) for p in instances} == {"edata/la01": 12, "vdata/la01": 11}


def test_several_seeds_give_each_run_and_their_mean(tmp_path: Path) -> None:
    directory = make_dir(tmp_path)
    out = tmp_path / "out.jsonl"
    args = ["bench", "fjsp", "--dir", str(directory), "--time-limit", "1", "--workers", "1"]
    result = runner.invoke(app, [*args, "--seed", "3", "--seeds", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "mean of 2 seeds" in result.output
    rows = {row["instance"]: row for row in map(json.loads, out.read_text().splitlines())}
    for row in rows.values():
        assert set(row) == KEYS | {"seeds", "makespans", "baseline_makespans"}
        assert row["seeds"] == [3, 4]
        assert len(row["makespans"]) == len(row["baseline_makespans"]) == 2
        assert row["makespan"] == sum(row["makespans"]) / 2
        assert row["baseline_makespan"] == sum(row["baseline_makespans"]) / 2
    assert rows["tiny"]["makespans"] == [7, 7]
    k1 = rows["k1"]
    assert k1["gap_pct"] == round(100 * (k1["makespan"] - 11) / 11, 2)
    refused = runner.invoke(app, [*args, "--seeds", "0"])
    assert refused.exit_code == 2 and "--seeds" in refused.output
