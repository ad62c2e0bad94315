"""Reader for the standard flexible job shop (FJSP) text format and its best-known values.

Format: the first line holds ``n_jobs n_machines [avg_flexibility]``; then one line per job:
the number of operations, and for each operation the number ``k`` of eligible machines followed
by ``k`` pairs ``machine duration`` (machines numbered from 1). Blank lines are ignored.

The instance becomes a :class:`~sharefab.scheduling.model.ProblemData` with one site, no
calendars, each job a chain of operations, and the makespan objective.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sharefab.scheduling.model import Job, Mode, Objective, Operation, ProblemData, Resource


def _ints(text: str, where: str) -> list[int]:
    try:
        return [int(tok) for tok in text.split()]
    except ValueError:
        bad = next(tok for tok in text.split() if not tok.lstrip("-").isdigit())
        raise ValueError(f"{where}: {bad!r} is not an integer") from None


def parse_fjsp(text: str, name: str = "<fjsp>") -> ProblemData:
    """Parse FJSP text; ``name`` is used in error messages (``name line N: ...``)."""
    lines = [(no, line) for no, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise ValueError(f"{name}: empty file")
    head_no, head = lines[0]
    header = _ints_or_float_header(head, f"{name} line {head_no}")
    if len(header) < 2:
        raise ValueError(f"{name} line {head_no}: expected 'n_jobs n_machines [avg_flex]'")
    n_jobs, n_machines = header[0], header[1]
    if n_jobs < 1 or n_machines < 1:
        raise ValueError(f"{name} line {head_no}: n_jobs and n_machines must be >= 1")
    job_lines = lines[1:]
    if len(job_lines) < n_jobs:
        raise ValueError(
            f"{name} line {head_no}: header announces {n_jobs} jobs, file has {len(job_lines)}"
        )
    for no, _ in job_lines[n_jobs:]:
        raise ValueError(f"{name} line {no}: more job lines than the {n_jobs} announced")

    operations: list[Operation] = []
    precedences: list[tuple[int, int]] = []
    for j, (no, line) in enumerate(job_lines):
        where = f"{name} line {no}"
        toks = _ints(line, where)
        n_ops, pos = toks[0], 1
        if n_ops < 1:
            raise ValueError(f"{where}: a job needs at least one operation")
        for o in range(n_ops):
            if pos >= len(toks):
                raise ValueError(f"{where}: expected {n_ops} operations, got {o}")
            k = toks[pos]
            pos += 1
            if k < 1:
                raise ValueError(f"{where}: operation {o + 1} has {k} eligible machines")
            pairs = toks[pos : pos + 2 * k]
            if len(pairs) < 2 * k:
                raise ValueError(
                    f"{where}: expected {k} machine/duration pairs, got {len(pairs) // 2}"
                )
            pos += 2 * k
            modes: list[Mode] = []
            seen: set[int] = set()
            for machine, duration in zip(pairs[::2], pairs[1::2], strict=True):
                if not 1 <= machine <= n_machines:
                    raise ValueError(f"{where}: machine {machine} outside 1..{n_machines}")
                if duration < 0:
                    raise ValueError(f"{where}: negative duration {duration}")
                if machine in seen:
                    # Duplicate machine entries keep the shorter duration.
                    idx = next(i for i, m in enumerate(modes) if m.resource == machine - 1)
                    if duration < modes[idx].duration:
                        modes[idx] = Mode(resource=machine - 1, duration=duration)
                    continue
                seen.add(machine)
                modes.append(Mode(resource=machine - 1, duration=duration))
            if o > 0:
                precedences.append((len(operations) - 1, len(operations)))
            operations.append(Operation(job=j, modes=tuple(modes), name=f"J{j + 1}.O{o + 1}"))
        if pos != len(toks):
            raise ValueError(
                f"{where}: {len(toks) - pos} unexpected trailing numbers after {n_ops} operations"
            )
    return ProblemData(
        jobs=tuple(Job(name=f"J{j + 1}") for j in range(n_jobs)),
        resources=tuple(Resource(name=f"M{m + 1}") for m in range(n_machines)),
        operations=tuple(operations),
        precedences=tuple(precedences),
        objective=Objective.makespan(),
    )


def _ints_or_float_header(text: str, where: str) -> list[int]:
    out: list[int] = []
    for i, tok in enumerate(text.split()):
        try:
            out.append(int(tok))
        except ValueError:
            if i < 2:
                raise ValueError(f"{where}: {tok!r} is not an integer") from None
            try:
                float(tok)
            except ValueError:
                raise ValueError(f"{where}: {tok!r} is not a number") from None
    return out


def read_fjsp(path: str | Path) -> ProblemData:
    """Read an FJSP file; a malformed file raises ``ValueError`` naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path.name}: not a text file") from None
    return parse_fjsp(text, path.name)


def read_bks(path: str | Path) -> dict[str, tuple[int | None, int | None]]:
    """Read a ``bks.csv`` into ``{instance: (lower_bound, best_known)}``.

    Columns: ``family,instance,n_jobs,n_machines,lower_bound,best_known``; empty cells become
    ``None``. Every row is also keyed ``"family/instance"``; a bare instance name that two
    families share with different values (Hurink ``edata/la01`` vs ``vdata/la01``) is only
    available under its qualified keys.
    """
    path = Path(path)
    out: dict[str, tuple[int | None, int | None]] = {}
    ambiguous: set[str] = set()
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"instance", "lower_bound", "best_known"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path.name}: missing columns {sorted(missing)}")
        for row_no, row in enumerate(reader, start=2):

            def cell(key: str, row: dict[str, str] = row, row_no: int = row_no) -> int | None:
                value = (row.get(key) or "").strip()
                if not value:
                    return None
                try:
                    return int(float(value))
                except ValueError:
                    raise ValueError(f"{path.name} line {row_no}: bad {key} {value!r}") from None

            instance, family = row["instance"].strip(), (row.get("family") or "").strip()
            value = (cell("lower_bound"), cell("best_known"))
            if family:
                out[f"{family}/{instance}"] = value
            if instance in out and out[instance] != value:
                ambiguous.add(instance)
            out[instance] = value
    for instance in ambiguous:
        del out[instance]
    return out
