"""Run every benchmark module in turn: ``python -m benchmarks`` (what ``make bench`` runs).

Each module in :data:`MODULES` has a ``main() -> None``; add new benchmarks to the list.
Results are printed as tables (and ratios against baselines measured in the same run).
"""

from __future__ import annotations

import importlib
import sys
import time

MODULES: list[str] = [
    "benchmarks.fjsp_bench",
    "benchmarks.quote_insertion",
    "benchmarks.cluster_scale",
    "benchmarks.domain_bench",
    "benchmarks.search_bench",
    "benchmarks.telemetry_ingest",
    "benchmarks.quote_latency",
    "benchmarks.accept_concurrency",
    "benchmarks.reoptimise",
]


def main(argv: list[str] | None = None) -> int:
    """Run the selected modules (all by default; pass module names to filter)."""
    wanted = argv if argv is not None else sys.argv[1:]
    for name in MODULES:
        if wanted and not any(w in name for w in wanted):
            continue
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        importlib.import_module(name).main()
        print(f"== {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
