"""Executors: the inline and the Ray executor give the same validated plans for the same
problems and seeds, in input order; a failing task is an error naming its problem; the
default path never imports Ray; an unknown executor setting is refused by name."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from sharefab.config import Settings
from sharefab.scheduling.executors import (
    InlineExecutor,
    RayExecutor,
    SolveTask,
    TaskFailed,
    make_executor,
    solve_task,
)
from sharefab.scheduling.generator import synthetic_cluster
from sharefab.scheduling.model import SolveStatus
from sharefab.scheduling.validator import validate


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    """A local Ray with 2 CPUs for this module, shut down at its end."""
    ray = pytest.importorskip("ray")
    executor = RayExecutor(num_cpus=2)
    yield executor
    executor.close()
    assert not ray.is_initialized()


def _tasks() -> list[SolveTask]:
    heuristic = [
        SolveTask(
            synthetic_cluster(8, 3, n_resources=6, n_sites=2, seed=s), 5.0, "heuristic", seed=s
        )
        for s in range(3)
    ]
    # Small enough for CP-SAT (one worker, deterministic) to prove optimality.
    exact = [
        SolveTask(synthetic_cluster(4, 2, n_resources=3, n_sites=1, seed=s), 10.0, "cpsat", seed=s)
        for s in (5, 6)
    ]
    return heuristic + exact


def test_inline_and_ray_give_the_same_valid_plans_in_input_order(
    ray_executor: RayExecutor,
) -> None:
    tasks = _tasks()
    labels = [f"problem {i}" for i in range(len(tasks))]
    seen: list[tuple[int, int, str]] = []
    inline = InlineExecutor().run(solve_task, tasks, labels=labels)
    on_ray = ray_executor.run(
        solve_task, tasks, labels=labels, progress=lambda d, t, label: seen.append((d, t, label))
    )
    assert len(inline) == len(on_ray) == len(tasks)
    for task, a, b in zip(tasks, inline, on_ray, strict=True):
        assert a.feasible and b.feasible
        assert validate(task.data, a.solution).ok
        assert validate(task.data, b.solution).ok
        assert a.objective == b.objective
        if task.method == "heuristic":
            assert a.solution == b.solution  # same seed, same plan, wherever it ran
        else:
            assert a.status == b.status == SolveStatus.OPTIMAL
    assert [d for d, _, _ in seen] == [1, 2, 3, 4, 5]
    assert {t for _, t, _ in seen} == {5}
    assert sorted(label for _, _, label in seen) == sorted(labels)


@pytest.mark.parametrize("where", ["inline", "ray"])
def test_a_failing_task_is_an_error_naming_its_problem(
    where: str, request: pytest.FixtureRequest
) -> None:
    executor = InlineExecutor() if where == "inline" else request.getfixturevalue("ray_executor")
    good = _tasks()[0]
    bad = SolveTask(good.data, time_limit=-1.0)
    tasks = [good, bad]
    labels = ["cluster 7", "cluster 9"]

    with pytest.raises(TaskFailed) as raised:
        executor.run(solve_task, tasks, labels=labels)
    assert raised.value.label == "cluster 9" and raised.value.index == 1
    assert str(raised.value).startswith("cluster 9 failed: ValueError")
    assert "time_limit must be positive" in str(raised.value)
    assert isinstance(raised.value.cause, ValueError)

    kept = executor.run(solve_task, tasks, labels=labels, return_exceptions=True)
    assert kept[0].feasible and validate(good.data, kept[0].solution).ok
    assert isinstance(kept[1], TaskFailed) and kept[1].label == "cluster 9"


def test_unknown_executor_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        make_executor("dask")
    monkeypatch.setenv("SHAREFAB_EXECUTOR", "dask")
    with pytest.raises(ValidationError, match="SHAREFAB_EXECUTOR must be 'inline' or 'ray'"):
        Settings()
    monkeypatch.setenv("SHAREFAB_EXECUTOR", "ray")
    monkeypatch.setenv("SHAREFAB_RAY_NUM_CPUS", "2")
    settings = Settings()
    executor = make_executor(
        settings.executor, address=settings.ray_address, num_cpus=settings.ray_num_cpus
    )
    assert isinstance(executor, RayExecutor) and executor.num_cpus == 2


def test_the_default_path_never_imports_ray() -> None:
    code = (
        "import sys\n"
        "from sharefab.scheduling.executors import SolveTask, make_executor, solve_task\n"
        "from sharefab.scheduling.generator import synthetic_cluster\n"
        "import sharefab.services.optimize, sharefab.cli\n"
        "task = SolveTask(synthetic_cluster(3, 2, 3, 1), 2.0, 'heuristic')\n"
        "assert make_executor('inline').run(solve_task, [task])[0].feasible\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
