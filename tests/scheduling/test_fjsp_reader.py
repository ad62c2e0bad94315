"""Reading the standard FJSP text format and best-known tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from sched_instances import make_tiny_fjsp

from sharefab.scheduling.fjsp import parse_fjsp, read_bks, read_fjsp
from sharefab.scheduling.model import ObjectiveKind

DATA = Path(__file__).parent / "data"


def test_tiny_file_is_the_canonical_tiny_instance() -> None:
    data = read_fjsp(DATA / "tiny.fjs")
    expected = make_tiny_fjsp().data
    assert [op.modes for op in data.operations] == [op.modes for op in expected.operations]
    assert [op.job for op in data.operations] == [op.job for op in expected.operations]
    assert data.precedences == expected.precedences
    assert data.objective.weights == ((ObjectiveKind.MAKESPAN, 1),)


def test_brandimarte_mk01_shape() -> None:
    data = read_fjsp(DATA / "mk01.fjs")
    assert len(data.jobs) == 10
    assert len(data.resources) == 6
    assert len(data.operations) == 55
    # first operation of job 1: "2 1 5 3 4" -> machine 1 (index 0) 5, machine 3 (index 2) 4
    assert [(m.resource, m.duration) for m in data.operations[0].modes] == [(0, 5), (2, 4)]
    # each job is a chain; no precedence crosses jobs
    assert all(data.operations[a].job == data.operations[b].job for a, b in data.precedences)
    assert len(data.precedences) == 55 - 10
    assert {r.site for r in data.resources} == {0}
    assert all(r.windows is None for r in data.resources)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("2 3\n1 1 1 5\n", "header announces 2 jobs, file has 1"),
        ("1 3\n1 2 1 5 2\n", "line 2: expected 2 machine/duration pairs, got 1"),
        ("1 3\n2 1 1 5\n", "line 2: expected 2 operations, got 1"),
        ("1 3\n1 1 4 5\n", "line 2: machine 4 outside 1..3"),
        ("1 3\n1 1 x 5\n", "line 2: 'x' is not an integer"),
        ("1 3\n1 1 1 5 9\n", "line 2: 1 unexpected trailing numbers"),
        ("1 3\n1 1 1 5\n1 1 1 5\n", "line 3: more job lines than the 1 announced"),
        ("one 3\n", "line 1: 'one' is not an integer"),
        ("1 3\n1 0\n", "line 2: operation 1 has 0 eligible machines"),
    ],
)
def test_malformed_text_names_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"bad\.fjs") as err:
        parse_fjsp(text, "bad.fjs")
    assert message in str(err.value)


def test_malformed_file_reports_its_name_and_line(tmp_path: Path) -> None:
    path = tmp_path / "mk99.fjs"
    path.write_text("2 3 1\n1 1 1 5\n\n2 1 1 3 2 1 2\n")
    with pytest.raises(ValueError, match=r"mk99.fjs line 4: expected 2 machine/duration pairs"):
        read_fjsp(path)


def test_blank_lines_and_float_flexibility_are_accepted() -> None:
    data = parse_fjsp("\n2 2 1.5\n\n1 1 1 3\n1 2 1 2 2 7\n\n")
    assert len(data.operations) == 2
    assert [m.duration for m in data.operations[1].modes] == [2, 7]


def test_read_bks_keys_by_instance_and_family(tmp_path: Path) -> None:
    path = tmp_path / "bks.csv"
    path.write_text(
        "family,instance,n_jobs,n_machines,lower_bound,best_known\n"
        "brandimarte,mk10,20,15,189,193\n"
        "hurink_edata,la01,10,5,609,609\n"
        "hurink_vdata,la01,10,5,570,570\n"
        "other,x1,2,2,,\n"
    )
    bks = read_bks(path)
    assert bks["mk10"] == (189, 193)
    assert bks["brandimarte/mk10"] == (189, 193)
    assert "la01" not in bks  # ambiguous between families
    assert bks["hurink_edata/la01"] == (609, 609)
    assert bks["hurink_vdata/la01"] == (570, 570)
    assert bks["x1"] == (None, None)


def test_read_bks_rejects_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "bks.csv"
    path.write_text("name,value\nmk01,40\n")
    with pytest.raises(ValueError, match=r"bks\.csv: missing columns"):
        read_bks(path)
