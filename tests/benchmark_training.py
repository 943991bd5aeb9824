"""Benchmark: train each generated project with its default settings; print figures.

    python tests/benchmark_training.py                 # the 9 image combinations
    python tests/benchmark_training.py --task text     # the 9 text ones
    python tests/benchmark_training.py --only functional-fit

Each project is rendered into a temporary folder and trained with
`python -m demo_net train` exactly as a user would (default config, embedded data).
The wall time includes starting Python and importing TensorFlow. Not a test: the
figures depend on the machine.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import copy_project

from scaffold import COMBINATIONS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("image", "text"), default="image")
    parser.add_argument("--only", default="", help="substring of the slugs to run")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for combination in COMBINATIONS:
            if combination.task != args.task or args.only not in combination.slug:
                continue
            project = copy_project(Path(tmp), **combination.answers())
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "demo_net", "train"],
                cwd=project,
                env={"PYTHONPATH": str(project / "src"), "PATH": "/usr/bin:/bin"},
                check=True,
                capture_output=True,
            )
            seconds = time.perf_counter() - start
            (history,) = (project / "runs").glob("*/history.csv")
            with history.open() as file:
                last = list(csv.DictReader(file))[-1]
            rows.append((combination.slug, float(last["val_accuracy"]), seconds))
            print(
                f"{combination.slug:34} val_accuracy {rows[-1][1]:.4f} {seconds:6.1f} s"
            )
    print(
        f"{len(rows)} runs; lowest val_accuracy {min(r[1] for r in rows):.4f}; "
        f"longest {max(r[2] for r in rows):.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
