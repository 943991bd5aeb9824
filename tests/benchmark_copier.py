"""Benchmark: time the stock `copier copy` and `copier update` of a generated project.

    python tests/benchmark_copier.py          # 5 runs of each, functional-fit-image
    python tests/benchmark_copier.py --runs 9 --api-style subclassing --task text

The template is this checkout's, committed to a temporary git repository with two
tagged releases, as tests/test_update.py builds them (the second adds a line to
model.py, changes a README line and a config comment, and adds a file). Each run
copies the first release into a new folder and commits it, as a user would; each
update then moves one of those projects to the second release. Times are wall
times of the `copier` command line, Python's start included. Not a test: the
figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import DEFAULT_ANSWERS, commit_all
from test_update import NEW_FILE, make_versions


def copier(*args: str | Path) -> float:
    """Run the stock copier command line; return its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "copier", *map(str, args)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--api-style", default="functional")
    parser.add_argument("--training-loop", default="fit")
    parser.add_argument("--task", default="image")
    args = parser.parse_args()
    answers = {
        **DEFAULT_ANSWERS,
        "api_style": args.api_style,
        "training_loop": args.training_loop,
        "task": args.task,
    }
    data = [arg for key, value in answers.items() for arg in ("-d", f"{key}={value}")]
    with tempfile.TemporaryDirectory() as tmp:
        versions = make_versions(Path(tmp) / "keras-scaffold")
        copies, updates = [], []
        for run in range(args.runs):
            project = Path(tmp) / f"project-{run}"
            copies.append(
                copier(
                    "copy",
                    "--defaults",
                    "--vcs-ref",
                    versions.old,
                    *data,
                    versions.root,
                    project,
                )
            )
            commit_all(project, "Generate from the template")
            updates.append(
                copier("update", "--defaults", "--vcs-ref", versions.new, project)
            )
            if not (project / NEW_FILE).is_file():
                raise SystemExit(f"the update of {project} did not arrive")
            print(f"run {run + 1}: copy {copies[-1]:.2f} s, update {updates[-1]:.2f} s")
    combination = f"{args.api_style}-{args.training_loop}-{args.task}"
    for name, times in (("copier copy", copies), ("copier update", updates)):
        print(
            f"{name:14} {combination}: median {statistics.median(times):.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
