"""Benchmark corpus: short real English texts in 5 classes, assembled offline.

    python tests/benchmark_text.py /tmp/docstrings            # write the corpus
    python tests/benchmark_text.py /tmp/other --packages scipy numpy jax IPython
    python -m demo_net baseline --data-dir /tmp/docstrings    # in a text project
    python -m demo_net train --data-dir /tmp/docstrings

The documents are the descriptions (the docstring text before its first
section such as "Parameters" or "Args:") of the functions, classes and modules
of five installed packages, read from their source with `ast` (nothing is
imported); the class is the package. None of it was written for this project
and the tests do not use it: it measures how the generated text model does on
data a user brings. Not a test: the figures depend on the installed versions.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import random
import re
import statistics
from pathlib import Path

PACKAGES = ("keras", "matplotlib", "networkx", "sklearn", "sympy")
# Section headings: where a docstring's description ends.
SECTION = re.compile(
    r"^\s*(Parameters|Returns?|Yields|Raises|Examples?|Notes?|See Also|References|"
    r"Attributes|Methods|Other Parameters|Warns|Args|Arguments|Keyword Arguments|"
    r"Usage|Explanation)\s*:?\s*$"
    r"|^\s*(:param|:return|:rtype|>>>|\.\. )"
)
# Folders whose docstrings describe tests, not the package.
SKIPPED_PARTS = {"tests", "test", "testing", "_vendor", "externals", "benchmarks"}


def descriptions(package: str) -> list[str]:
    """The description of every docstring in a package's source, one line each."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {package} is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    texts = []
    for path in sorted(root.rglob("*.py")):
        if SKIPPED_PARTS & set(path.relative_to(root).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(
                node,
                ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef,
            ):
                if isinstance(node, ast.ClassDef | ast.FunctionDef) and (
                    node.name.startswith("test")
                ):
                    continue
                docstring = ast.get_docstring(node)
                if docstring:
                    texts.append(_description(docstring))
    return texts


def _description(docstring: str) -> str:
    lines = []
    for line in docstring.splitlines():
        if SECTION.match(line):
            break
        lines.append(line.strip())
    # numpydoc underlines its headings: drop a trailing heading line.
    return " ".join(line for line in lines if not set(line) <= set("-=~")).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="where to write the corpus")
    parser.add_argument("--per-class", type=int, default=600)
    parser.add_argument("--min-words", type=int, default=15)
    parser.add_argument("--max-words", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--packages", nargs="+", default=PACKAGES, help="the classes, one per package"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    seen, lengths = set(), []
    for package in args.packages:
        texts = []
        for text in descriptions(package):
            words = len(text.split())
            if args.min_words <= words <= args.max_words and text not in seen:
                seen.add(text)
                texts.append(text)
        if len(texts) < args.per_class:
            raise SystemExit(
                f"{package} has {len(texts)} descriptions, fewer than --per-class"
            )
        folder = args.directory / package
        folder.mkdir(parents=True, exist_ok=True)
        for index, text in enumerate(rng.sample(texts, args.per_class)):
            (folder / f"{index:04d}.txt").write_text(text + "\n", encoding="utf-8")
            lengths.append(len(text.split()))
        print(f"{package:12} {len(texts):6} descriptions, {args.per_class} written")
    print(
        f"{len(lengths)} documents in {len(args.packages)} classes "
        f"under {args.directory}; "
        f"words per document: median {statistics.median(lengths):.0f}, "
        f"max {max(lengths)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
