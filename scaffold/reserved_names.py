"""Write ``templates/includes/reserved_names.jinja``: the names a package may not take.

Run ``python -m scaffold.reserved_names [PYTHON ...]`` from a checkout. Each
interpreter given (and the one running the script) reports its
``sys.stdlib_module_names``, which is recorded under its version in
``scaffold/stdlib_module_names.json``; the fragment is then written from every
version recorded there. Versions no interpreter here can run keep the list
committed for them, with its source. tests/test_reserved_names.py fails when the
fragment is not what this script writes, or when the running interpreter's list
differs from the one recorded for its version.

The validator of ``package_name`` in copier.yml imports the fragment's two lists:
``KEYWORDS`` (``keyword.kwlist``) and ``SHADOWED_MODULES``: the standard library of
every recorded version, ``test`` (its regression tests, which
``sys.stdlib_module_names`` leaves out), and the third-party modules a generated
project or this package imports.
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

from scaffold.errors import ScaffoldError
from scaffold.template import is_template_root

__all__ = [
    "FRAGMENT",
    "NOT_IN_STDLIB_MODULE_NAMES",
    "STDLIB_FILE",
    "THIRD_PARTY",
    "interpreter_names",
    "load_stdlib",
    "main",
    "render_fragment",
    "shadowed_modules",
]

_CHECKOUT = Path(__file__).resolve().parents[1]
#: The fragment copier.yml's validator imports.
FRAGMENT = _CHECKOUT / "templates" / "includes" / "reserved_names.jinja"
#: ``sys.stdlib_module_names`` by Python version ("3.11": {"source", "names"}).
STDLIB_FILE = Path(__file__).with_name("stdlib_module_names.json")

#: Standard-library packages that ``sys.stdlib_module_names`` does not list.
NOT_IN_STDLIB_MODULE_NAMES = ("test",)

#: Modules a generated project, its tools or this package import; a package of
#: the same name would shadow them.
THIRD_PARTY = (
    "absl",
    "ai_edge_litert",
    "black",
    "copier",
    "google",
    "h5py",
    "jinja2",
    "joblib",
    "keras",
    "keras_tuner",
    "matplotlib",
    "ml_dtypes",
    "namex",
    "numpy",
    "onnx",
    "onnxruntime",
    "optree",
    "packaging",
    "pip",
    "pre_commit",
    "pytest",
    "rich",
    "ruff",
    "scaffold",
    "scipy",
    "setuptools",
    "sklearn",
    "tensorboard",
    "tensorflow",
    "tests",
    "tf",
    "tf2onnx",
    "wrapt",
    "yaml",
)

#: What a package_name may look like (copier.yml checks it first): only such
#: names need listing.
_PACKAGE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_REPORT = (
    "import json, sys; "
    "print(json.dumps({'version': '%d.%d' % sys.version_info[:2], "
    "'full': sys.version.split()[0], 'names': sorted(sys.stdlib_module_names)}))"
)


def interpreter_names(python: str | Path) -> tuple[str, dict]:
    """Ask an interpreter for its ``sys.stdlib_module_names``.

    Returns:
        Its version ("3.12") and the record to keep for it: source and names.

    Raises:
        ScaffoldError: It cannot run, or is older than 3.10 (no such list).
    """
    try:
        result = subprocess.run(
            [str(python), "-I", "-c", _REPORT],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except OSError as error:
        raise ScaffoldError(f"cannot run {python}: {error.strerror}") from error
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ScaffoldError(f"{python} cannot report its standard library: {last}")
    report = json.loads(result.stdout)
    source = f"sys.stdlib_module_names of Python {report['full']}"
    return report["version"], {"source": source, "names": report["names"]}


def load_stdlib(path: Path = STDLIB_FILE) -> dict[str, dict]:
    """The recorded lists, by version."""
    return json.loads(path.read_text(encoding="utf-8"))


def shadowed_modules(stdlib: dict[str, dict]) -> list[str]:
    """Every module name a package could take and would shadow, sorted."""
    names = set(NOT_IN_STDLIB_MODULE_NAMES) | set(THIRD_PARTY)
    for record in stdlib.values():
        names.update(record["names"])
    return sorted(name for name in names if _PACKAGE_NAME.match(name))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _jinja_list(names: Iterable[str]) -> str:
    quoted = ", ".join(f'"{name}"' for name in names)
    return "\n".join(
        textwrap.wrap(quoted, 86, initial_indent="  ", subsequent_indent="  ")
    )


def render_fragment(stdlib: dict[str, dict]) -> str:
    """The text of ``reserved_names.jinja`` for the recorded lists."""
    versions = ", ".join(sorted(stdlib, key=_version_key))
    about = textwrap.fill(
        "Names a generated package may not take: Python keywords, and modules it "
        f"would shadow (the standard library of Python {versions}, with `test`; the "
        "libraries a generated project, its tools and keras-scaffold import). "
        "Imported by the validator of package_name in copier.yml.",
        84,
        initial_indent="    ",
        subsequent_indent="    ",
    )
    return f"""\
{{#- Generated by `python -m scaffold.reserved_names` from sys.stdlib_module_names;
    do not edit by hand.
{about} -#}}
{{%- set KEYWORDS = [
{_jinja_list(keyword.kwlist)}
] %}}
{{%- set SHADOWED_MODULES = [
{_jinja_list(shadowed_modules(stdlib))}
] %}}
"""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scaffold.reserved_names [PYTHON ...]``: rewrite the fragment."""
    parser = argparse.ArgumentParser(
        prog="python -m scaffold.reserved_names",
        description="Record the standard-library module names of the given "
        "interpreters and rewrite templates/includes/reserved_names.jinja.",
    )
    parser.add_argument(
        "pythons",
        nargs="*",
        metavar="PYTHON",
        help="more interpreters to ask (the running one always is)",
    )
    args = parser.parse_args(argv)
    try:
        if not is_template_root(_CHECKOUT):
            raise ScaffoldError("not running from a keras-scaffold checkout")
        stdlib = load_stdlib()
        for python in [sys.executable, *args.pythons]:
            version, record = interpreter_names(python)
            stdlib[version] = record
            print(f"Python {version}: {len(record['names'])} modules ({python})")
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    ordered = {version: stdlib[version] for version in sorted(stdlib, key=_version_key)}
    STDLIB_FILE.write_text(json.dumps(ordered, indent=1) + "\n", encoding="utf-8")
    FRAGMENT.write_text(render_fragment(ordered), encoding="utf-8")
    print(f"wrote {FRAGMENT} ({len(shadowed_modules(ordered))} module names)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
