"""Random flexible-job-shop instances of shapes the scheduler was never tuned on.

Writes standard ``.fjs`` files (seeded: the same command writes the same files) for a
generalisation check beside the public families: run ``sharefab bench fjsp`` on the folder
(there is no ``bks.csv``, so the table compares ShareFab with the baseline only).

Shapes (jobs x machines, operations per job, mean eligible machines per operation):
30x10 with 5-10 operations and 3 machines; 50x15, 8-12, 2; 20x5, 5, 5 (nearly every machine);
100x20, 15-20, 2 (1,751 operations, larger than any public instance here); 15x15, 15, 1
(1.4 on average: nearly a plain job shop).

Run: ``.venv/bin/python -m benchmarks.fjsp_random --out /tmp/fjsp_random`` then
``.venv/bin/sharefab bench fjsp --dir /tmp/fjsp_random --time-limit 10 --workers 2``.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

#: name -> (jobs, machines, (min, max) operations per job, mean eligible machines, seed)
SHAPES: dict[str, tuple[int, int, tuple[int, int], int, int]] = {
    "r30x10f3": (30, 10, (5, 10), 3, 1),
    "r50x15f2": (50, 15, (8, 12), 2, 2),
    "r20x5f5": (20, 5, (5, 5), 5, 3),
    "r100x20f2": (100, 20, (15, 20), 2, 4),
    "r15x15f1": (15, 15, (15, 15), 1, 5),
}


def instance_text(jobs: int, machines: int, ops: tuple[int, int], flex: int, seed: int) -> str:
    """One instance in the FJSP text format: per operation a number of eligible machines
    around ``flex``, a base time of 1-99 and each machine within +-30% of it."""
    rng = random.Random(seed)
    lines = [f"{jobs} {machines} {flex}"]
    for _ in range(jobs):
        count = rng.randint(*ops)
        parts = [str(count)]
        for _ in range(count):
            k = max(1, min(machines, round(rng.gauss(flex, 1))))
            base = rng.randint(1, 99)
            parts.append(str(k))
            for machine in rng.sample(range(1, machines + 1), k):
                parts += [str(machine), str(max(1, int(base * rng.uniform(0.7, 1.3))))]
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the .fjs files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (jobs, machines, ops, flex, seed) in SHAPES.items():
        (args.out / f"{name}.fjs").write_text(instance_text(jobs, machines, ops, flex, seed))
        print(f"{args.out / name}.fjs: {jobs} jobs x {machines} machines")


if __name__ == "__main__":
    main()
