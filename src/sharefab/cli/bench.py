"""``sharefab bench ...``: the scheduler on benchmark instances."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sharefab.scheduling.baseline import solve_baseline
from sharefab.scheduling.fjsp import read_bks, read_fjsp
from sharefab.scheduling.model import ProblemData, Result
from sharefab.scheduling.solve import solve
from sharefab.scheduling.validator import validate

app = typer.Typer(help="Benchmarks of the scheduling engine.", no_args_is_help=True)
console = Console()


@dataclass(slots=True)
class BenchRow:
    """One instance: ShareFab's and the baseline's validated makespans against best known.

    With several seeds, ``makespan`` and ``baseline_makespan`` are the means over the seeds
    (``None`` if any run found no valid plan), ``seconds`` ShareFab's mean time, and
    ``makespans`` / ``baseline_makespans`` hold each seed's value.
    """

    instance: str
    makespan: float | None
    baseline_makespan: float | None
    best_known: int | None
    seconds: float
    baseline_seconds: float = 0.0
    error: str = ""
    seeds: tuple[int, ...] = ()
    makespans: tuple[int | None, ...] = ()
    baseline_makespans: tuple[int | None, ...] = ()

    @property
    def gap_pct(self) -> float | None:
        return _gap(self.makespan, self.best_known)

    @property
    def baseline_gap_pct(self) -> float | None:
        return _gap(self.baseline_makespan, self.best_known)

    def as_json(self) -> dict[str, object]:
        return (
            {
                "instance": self.instance,
                "makespan": self.makespan,
                "baseline_makespan": self.baseline_makespan,
                "best_known": self.best_known,
                "gap_pct": _round(self.gap_pct),
                "baseline_gap_pct": _round(self.baseline_gap_pct),
                "seconds": round(self.seconds, 3),
            }
            | (
                {
                    "seeds": list(self.seeds),
                    "makespans": list(self.makespans),
                    "baseline_makespans": list(self.baseline_makespans),
                }
                if len(self.seeds) > 1
                else {}
            )
            | ({"error": self.error} if self.error else {})
        )


def _gap(value: float | None, best: int | None) -> float | None:
    if value is None or best is None or best <= 0:
        return None
    return 100.0 * (value - best) / best


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def find_instances(directory: Path) -> list[Path]:
    """Every ``.fjs`` file under ``directory`` (recursively), in a stable order."""
    return sorted(p for p in directory.rglob("*.fjs") if p.is_file())


def instance_labels(instances: list[Path]) -> dict[Path, str]:
    """File stems, qualified by their folder where two instances share a stem."""
    stems: dict[str, int] = {}
    for path in instances:
        stems[path.stem] = stems.get(path.stem, 0) + 1
    return {p: p.stem if stems[p.stem] == 1 else f"{p.parent.name}/{p.stem}" for p in instances}


class BestKnown:
    """Best-known makespans from the nearest ``bks.csv`` beside or above each instance."""

    def __init__(self) -> None:
        self._cache: dict[Path, dict[str, tuple[int | None, int | None]] | None] = {}

    def _table(self, folder: Path) -> dict[str, tuple[int | None, int | None]] | None:
        if folder not in self._cache:
            csv_path = folder / "bks.csv"
            self._cache[folder] = read_bks(csv_path) if csv_path.is_file() else None
        return self._cache[folder]

    def lookup(self, instance: Path) -> int | None:
        for folder in [instance.parent, *instance.parent.parents]:
            table = self._table(folder)
            if table is None:
                continue
            for key in (f"{instance.parent.name}/{instance.stem}", instance.stem):
                if key in table:
                    return table[key][1]
            return None
        return None


def _validated_makespan(data: ProblemData, result: Result) -> int | None:
    """The plan's makespan if the validator accepts it (else None: never report a bad plan)."""
    if result.solution is None:
        return None
    report = validate(data, result.solution)
    return report.makespan if report.ok else None


def run_instance(
    path: Path,
    *,
    time_limit: float,
    workers: int,
    seed: int,
    best_known: int | None,
    label: str | None = None,
    seeds: int = 1,
) -> BenchRow:
    """Solve one instance with ShareFab and with the baseline, same limit and workers, once
    per seed (``seed``, ``seed + 1``, ... ``seeds`` of them)."""
    label = label or path.stem
    try:
        data = read_fjsp(path)
    except ValueError as exc:
        return BenchRow(label, None, None, best_known, 0.0, error=str(exc))
    ours: list[int | None] = []
    theirs: list[int | None] = []
    seconds = base_seconds = 0.0
    error = ""
    runs = tuple(range(seed, seed + seeds))
    for run_seed in runs:
        started = time.perf_counter()
        result = solve(data, method="auto", time_limit=time_limit, workers=workers, seed=run_seed)
        seconds += time.perf_counter() - started
        started = time.perf_counter()
        base = solve_baseline(data, time_limit=time_limit, workers=workers, seed=run_seed)
        base_seconds += time.perf_counter() - started
        ours.append(_validated_makespan(data, result))
        theirs.append(_validated_makespan(data, base))
        if result.solution is not None and ours[-1] is None:
            error = "ShareFab plan rejected by the validator"
    return BenchRow(
        label,
        _mean(ours),
        _mean(theirs),
        best_known,
        seconds / len(runs),
        base_seconds / len(runs),
        error,
        runs,
        tuple(ours),
        tuple(theirs),
    )


def _mean(values: list[int | None]) -> float | None:
    """The mean, kept an ``int`` for one value; ``None`` if any value is missing."""
    if any(v is None for v in values):
        return None
    if len(values) == 1:
        return values[0]
    return sum(v for v in values if v is not None) / len(values)


def run_fjsp_bench(
    instances: list[Path],
    *,
    time_limit: float,
    workers: int,
    seed: int = 0,
    seeds: int = 1,
    json_path: Path | None = None,
    out: Console | None = None,
) -> list[BenchRow]:
    """Run every instance (``seeds`` times each, from ``seed``), print a table, write JSON
    lines; returns the rows."""
    out = out or console
    bks = BestKnown()
    rows: list[BenchRow] = []
    labels = instance_labels(instances)
    sink = json_path.open("w") if json_path is not None else None
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        ) as bar:
            task = bar.add_task("fjsp", total=len(instances))
            for path in instances:
                bar.update(task, description=path.stem)
                row = run_instance(
                    path,
                    time_limit=time_limit,
                    workers=workers,
                    seed=seed,
                    best_known=bks.lookup(path),
                    label=labels[path],
                    seeds=seeds,
                )
                rows.append(row)
                if sink is not None:
                    sink.write(json.dumps(row.as_json()) + "\n")
                    sink.flush()
                bar.advance(task)
    finally:
        if sink is not None:
            sink.close()
    out.print(render_table(rows, time_limit, workers, seeds))
    for row in rows:
        if row.error:
            out.print(f"[red]error:[/red] {row.instance}: {row.error}", soft_wrap=True)
    return rows


def _fmt(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if not digits and isinstance(value, float):
        return f"{value:.1f}"  # a mean over seeds
    return f"{value:.{digits}f}" if digits else str(value)


def render_table(rows: list[BenchRow], time_limit: float, workers: int, seeds: int = 1) -> Table:
    """The result table with a summary line (mean gaps, wins/ties/losses)."""
    title = f"FJSP: ShareFab vs plain CP-SAT, {time_limit:g} s, {workers} workers"
    if seeds > 1:
        title += f", mean of {seeds} seeds"
    table = Table(title=title)
    table.add_column("instance", no_wrap=True)
    for name in ("ShareFab", "baseline", "best known", "gap %", "baseline gap %", "s"):
        table.add_column(name, justify="right")
    for row in rows:
        if row.error:
            table.add_row(row.instance, "[red]error[/red]", "", "", "", "", "")
            continue
        table.add_row(
            row.instance,
            _fmt(row.makespan),
            _fmt(row.baseline_makespan),
            _fmt(row.best_known),
            _fmt(row.gap_pct, 2),
            _fmt(row.baseline_gap_pct, 2),
            f"{row.seconds:.1f}",
        )
    gaps = [(r.gap_pct, r.baseline_gap_pct) for r in rows if r.gap_pct is not None]
    pairs = [(r.makespan, r.baseline_makespan) for r in rows if not r.error]
    wins = sum(1 for a, b in pairs if a is not None and (b is None or a < b))
    ties = sum(1 for a, b in pairs if a is not None and b is not None and a == b)
    losses = len(pairs) - wins - ties
    if gaps:
        ours = sum(g for g, _ in gaps) / len(gaps)
        theirs = [b for _, b in gaps if b is not None]
        table.add_section()
        table.add_row(
            f"mean ({len(gaps)})",
            "",
            "",
            "",
            f"{ours:.2f}",
            f"{sum(theirs) / len(theirs):.2f}" if theirs else "-",
            "",
        )
    table.caption = f"better than baseline on {wins}, equal on {ties}, worse on {losses}"
    return table


@app.command("fjsp")
def fjsp(
    directory: Annotated[
        Path, typer.Option("--dir", help="Directory of .fjs files (searched recursively).")
    ],
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds per solver.")],
    workers: Annotated[int, typer.Option("--workers", help="CP-SAT workers per solver.")] = 2,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write one JSON object per instance here.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (the first, with --seeds).")] = 0,
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds",
            min=1,
            max=100,
            help="Runs per instance and method, with seeds SEED, SEED+1, ...; the table and "
            "the JSON give the means (and the JSON each run's makespan), which separates a "
            "real difference from run-to-run noise.",
        ),
    ] = 1,
) -> None:
    """Run ShareFab's best method and a plain CP-SAT baseline on every .fjs file in DIR."""
    if not directory.is_dir():
        console.print(f"[red]error:[/red] {directory} is not a directory", soft_wrap=True)
        raise typer.Exit(2)
    if time_limit <= 0:
        console.print("[red]error:[/red] --time-limit must be positive")
        raise typer.Exit(2)
    if workers < 1:
        console.print("[red]error:[/red] --workers must be >= 1")
        raise typer.Exit(2)
    instances = find_instances(directory)
    if not instances:
        console.print(f"[red]error:[/red] no .fjs files under {directory}", soft_wrap=True)
        raise typer.Exit(2)
    try:
        rows = run_fjsp_bench(
            instances,
            time_limit=time_limit,
            workers=workers,
            seed=seed,
            seeds=seeds,
            json_path=json_path,
        )
    except ValueError as exc:  # e.g. a malformed bks.csv
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if any(row.error for row in rows):
        raise typer.Exit(1)
