"""FJSP benchmark: ShareFab's ``solve(method="auto")`` against a plain CP-SAT model.

Both run in the same process, one after the other, with the same time limit and workers, so
machine load affects both alike. Best-known values come from ``data/fjsp/bks.csv``.

Environment variables:

* ``SHAREFAB_BENCH_TIME`` — seconds per solver per instance (default 10);
* ``SHAREFAB_BENCH_WORKERS`` — CP-SAT workers (default 2);
* ``SHAREFAB_BENCH_FJSP`` — ``brandimarte`` (mk01-mk10, the default), ``sample`` (mk01-mk10 and
  the first three instances of every other family) or ``all`` (every instance: ~1 hour at 10 s);
* ``SHAREFAB_BENCH_JSON`` — write JSON lines to this file.

The same run is available as ``sharefab bench fjsp --dir benchmarks/data/fjsp ...``.
"""

from __future__ import annotations

import os
from pathlib import Path

from sharefab.cli.bench import find_instances, run_fjsp_bench

DATA = Path(__file__).parent / "data" / "fjsp"


def select(which: str) -> list[Path]:
    """The instances of a named selection (see the module docstring)."""
    brandimarte = [DATA / "brandimarte" / f"mk{i:02d}.fjs" for i in range(1, 11)]
    if which == "brandimarte":
        return brandimarte
    if which == "all":
        return find_instances(DATA)
    if which == "sample":
        out = list(brandimarte)
        for family in sorted(p for p in DATA.iterdir() if p.is_dir()):
            if family.name != "brandimarte":
                out.extend(find_instances(family)[:3])
        return out
    raise ValueError(f"SHAREFAB_BENCH_FJSP must be brandimarte, sample or all, not {which!r}")


def main() -> None:
    time_limit = float(os.environ.get("SHAREFAB_BENCH_TIME", "10"))
    workers = int(os.environ.get("SHAREFAB_BENCH_WORKERS", "2"))
    which = os.environ.get("SHAREFAB_BENCH_FJSP", "brandimarte")
    json_env = os.environ.get("SHAREFAB_BENCH_JSON")
    rows = run_fjsp_bench(
        select(which),
        time_limit=time_limit,
        workers=workers,
        json_path=Path(json_env) if json_env else None,
    )
    pairs = [(r.gap_pct, r.baseline_gap_pct) for r in rows if r.gap_pct is not None]
    if pairs:
        ours = sum(g for g, _ in pairs) / len(pairs)
        base = [b for _, b in pairs if b is not None]
        mean_base = sum(base) / len(base) if base else float("nan")
        print(f"mean gap to best known: ShareFab {ours:.2f}%, baseline {mean_base:.2f}%")


if __name__ == "__main__":
    main()
