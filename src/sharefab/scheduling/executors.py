"""Executors: map a pure solve function over independent problems, in process or on Ray.

The design decomposes scheduling by cluster (and capability family): each piece is an
independent problem, so a batch of them can run side by side. An :class:`Executor` runs
``fn(task)`` for every task and returns the results **in input order**:

* :class:`InlineExecutor` (default) runs them one after the other in this process;
* :class:`RayExecutor` runs each as a ``ray.remote`` task, on the Ray cluster at ``address``
  when one is given, else on a local Ray started with ``num_cpus`` CPUs, no dashboard and a
  small object store. Ray is imported only there, so the default path never pays for it.

``fn`` must be a module-level function (Ray ships it by reference) whose tasks and results
pickle (:class:`~sharefab.scheduling.model.ProblemData`, :class:`Solution` and
:class:`Result` do). A task that raises becomes a :class:`TaskFailed` naming the task's label
and the original error; with ``return_exceptions=True`` it is returned in place of that
task's result instead, so the other tasks' results are not lost.

No I/O here beyond what Ray itself does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sharefab.scheduling.model import ProblemData, Result, Solution
from sharefab.scheduling.solve import solve

T = TypeVar("T")
R = TypeVar("R")

#: ``progress(done, total, label)``: called in the caller's thread as each task finishes.
Progress = Callable[[int, int, str], None]

EXECUTORS = ("inline", "ray")
#: Object store of a local Ray (bytes): problems and plans are small; Ray's floor is ~75 MB.
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024


class TaskFailed(RuntimeError):
    """One task of a batch raised; ``label`` names the problem, ``cause`` is the error
    (a description of it when it could not be brought back from a Ray worker)."""

    def __init__(self, label: str, index: int, cause: BaseException) -> None:
        self.label = label
        self.index = index
        self.cause = cause
        super().__init__(f"{label} failed: {cause.__class__.__name__}: {cause}")


class Executor(Protocol):
    """Runs independent tasks; see the module doc."""

    name: str

    def run(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        labels: Sequence[str] | None = None,
        progress: Progress | None = None,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """``[fn(t) for t in tasks]`` (a :class:`TaskFailed` in place of a failed one with
        ``return_exceptions``, else raised after the batch has finished)."""
        ...

    def close(self) -> None:
        """Release what the executor started (a local Ray)."""
        ...


def _labels(tasks: Sequence[Any], labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return [f"task {i}" for i in range(len(tasks))]
    if len(labels) != len(tasks):
        raise ValueError(f"{len(labels)} labels for {len(tasks)} tasks")
    return list(labels)


def _finish(results: list[Any], return_exceptions: bool) -> list[Any]:
    if not return_exceptions:
        for r in results:
            if isinstance(r, TaskFailed):
                raise r
    return results


class InlineExecutor:
    """Runs the tasks one after the other in this process."""

    name = "inline"

    def run(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        labels: Sequence[str] | None = None,
        progress: Progress | None = None,
        return_exceptions: bool = False,
    ) -> list[Any]:
        names = _labels(tasks, labels)
        results: list[Any] = []
        for i, task in enumerate(tasks):
            try:
                results.append(fn(task))
            except Exception as exc:
                results.append(TaskFailed(names[i], i, exc))
            if progress is not None:
                progress(i + 1, len(tasks), names[i])
        return _finish(results, return_exceptions)

    def close(self) -> None:
        """Nothing to release."""


class RayExecutor:
    """Runs each task as a ``ray.remote`` call (one CPU each; CP-SAT inside uses the
    workers its task asks for). Connects on first use; :meth:`close` shuts down the local Ray
    it started, or disconnects from the cluster it connected to. A Ray initialised by someone
    else (``ray.init`` before the first run) is used as is and left running."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        *,
        object_store_memory: int = LOCAL_OBJECT_STORE_BYTES,
    ) -> None:
        if num_cpus is not None and num_cpus < 1:
            raise ValueError(f"num_cpus must be >= 1, got {num_cpus}")
        self.address = address
        self.num_cpus = num_cpus
        self.object_store_memory = object_store_memory
        self._connected = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Connect now (to the cluster, or a new local Ray) rather than on the first run."""
        self._ray()

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - ray is in the dev extra
            raise RuntimeError(
                "SHAREFAB_EXECUTOR=ray needs Ray: pip install 'sharefab[ray]'"
            ) from exc
        with self._lock:
            if not ray.is_initialized():
                common = {"log_to_driver": False, "logging_level": "warning"}
                if self.address:
                    ray.init(address=self.address, **common)
                else:
                    ray.init(
                        num_cpus=self.num_cpus,
                        include_dashboard=False,
                        object_store_memory=self.object_store_memory,
                        **common,
                    )
                self._connected = True
        return ray

    def run(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        labels: Sequence[str] | None = None,
        progress: Progress | None = None,
        return_exceptions: bool = False,
    ) -> list[Any]:
        names = _labels(tasks, labels)
        if not tasks:
            return []
        ray = self._ray()
        from ray.exceptions import RayError, RayTaskError

        remote = ray.remote(num_cpus=1, max_retries=0)(fn)
        pending = {remote.remote(task): i for i, task in enumerate(tasks)}
        results: list[Any] = [None] * len(tasks)
        done_count = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                i = pending.pop(ref)
                try:
                    results[i] = ray.get(ref)
                except RayTaskError as exc:
                    cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                    results[i] = TaskFailed(names[i], i, cause)
                except RayError as exc:  # worker died, object lost, ...
                    results[i] = TaskFailed(names[i], i, exc)
                done_count += 1
                if progress is not None:
                    progress(done_count, len(tasks), names[i])
        return _finish(results, return_exceptions)

    def close(self) -> None:
        """Shut down (or disconnect from) the Ray this executor initialised."""
        with self._lock:
            if self._connected:
                import ray

                ray.shutdown()
                self._connected = False


def make_executor(
    name: str, *, address: str | None = None, num_cpus: int | None = None
) -> Executor:
    """The executor called ``name`` (``inline`` or ``ray``)."""
    if name == "inline":
        return InlineExecutor()
    if name == "ray":
        return RayExecutor(address, num_cpus)
    raise ValueError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")


@dataclass(frozen=True, slots=True)
class SolveTask:
    """One call of :func:`~sharefab.scheduling.solve.solve` as data (picklable)."""

    data: ProblemData
    time_limit: float
    method: str = "auto"
    seed: int = 0
    workers: int = 1
    hint: Solution | None = None


def solve_task(task: SolveTask) -> Result:
    """:func:`~sharefab.scheduling.solve.solve` of one :class:`SolveTask` (pure)."""
    return solve(
        task.data,
        method=task.method,
        time_limit=task.time_limit,
        seed=task.seed,
        workers=task.workers,
        hint=task.hint,
    )
