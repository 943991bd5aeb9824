"""Render the committed example projects in ``examples/``.

Run ``python -m scaffold.examples`` after changing the template; it re-renders every
project in ``EXAMPLES`` and the index ``examples/README.md``. tests/test_examples.py
renders them afresh and fails where the committed ones differ.

The examples are rendered from a copy of the template outside git, and their
``.copier-answers.yml`` is stamped with what ``copier update`` needs to find their
base in any clone of the published repository, tags or none (tags do not travel
with a branch): as ``_commit``, the full hash of the commit their template comes
from (``template_commit``: the newest commit that changed copier.yml or
templates/, on the checkout's branch), and the template's public home
(``template_home`` in copier.yml) as ``_src_path``, or no ``_src_path`` while it
has none. The template must be committed first: the examples are committed after
it, in a later commit, since a commit cannot name itself. Re-rendering changes an
example only when the template does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

import yaml

from scaffold.api import ANSWERS_FILE, create_project
from scaffold.combinations import Combination
from scaffold.errors import ScaffoldError
from scaffold.template import copy_template, find_template_root, is_template_root

__all__ = [
    "EXAMPLES",
    "TEMPLATE_PATHS",
    "example_answers",
    "main",
    "render_examples",
    "template_commit",
    "template_home",
]

#: What the template is, in the repository: what ``copy_template`` copies.
TEMPLATE_PATHS = ("copier.yml", "templates")

#: The examples: every API style, every training loop and both tasks among them.
EXAMPLES: tuple[Combination, ...] = (
    Combination("sequential", "fit", "image"),
    Combination("functional", "train_on_batch", "text"),
    Combination("subclassing", "custom", "image"),
)

_STYLE_NOTES = {
    "sequential": "`keras.Sequential`; residual blocks as Layer subclasses",
    "functional": "blocks as functions from tensor to tensor, `keras.Model(in, out)`",
    "subclassing": "a `keras.Model` subclass with `__init__` and `call`",
}
_LOOP_NOTES = {
    "fit": "`model.fit` with callbacks",
    "train_on_batch": "an epoch loop over `train_on_batch`",
    "custom": "`tf.GradientTape` under `tf.function`",
}


def example_answers(combination: Combination) -> dict[str, str]:
    """The answers an example is rendered with; the name says the combination."""
    words = (combination.api_style, combination.training_loop, combination.task)
    name = " ".join(word.replace("_", " ").title() for word in words)
    return {
        **combination.answers(),
        "project_name": f"Example {name}",
        "description": (
            f"keras-scaffold example: {combination.api_style} API, "
            f"{combination.training_loop} loop, {combination.task} classification"
        ),
        "author_name": "keras-scaffold",
    }


def default_destination() -> Path:
    """The checkout's ``examples/`` folder.

    Raises:
        ScaffoldError: The package is installed, not in a checkout.
    """
    checkout = Path(__file__).resolve().parents[1]
    if not is_template_root(checkout):
        raise ScaffoldError(
            "not running from a keras-scaffold checkout; give the folder to render into"
        )
    return checkout / "examples"


def render_examples(
    dest: str | os.PathLike[str] | None = None,
    *,
    template: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Render every example, and the index README, into ``dest``.

    Each ``dest/<slug>`` is replaced as a whole; a folder of ``dest`` that holds an
    answers file but is no longer an example is removed. Other entries stay.

    Args:
        dest: The examples folder; the checkout's ``examples/`` by default.
        template: The template folder (``copier.yml`` and ``templates/``); the
            bundled one by default.

    Returns:
        The example folders, in ``EXAMPLES`` order.
    """
    dest = Path(dest) if dest is not None else default_destination()
    source_root = Path(template) if template is not None else find_template_root()
    version = _template_version(source_root)
    home = template_home(source_root)
    commit = template_commit(source_root)
    with tempfile.TemporaryDirectory(prefix="keras-scaffold-examples.") as tmp:
        source = copy_template(source_root, Path(tmp) / "template")
        staging = Path(tmp) / "examples"
        for combination in EXAMPLES:
            project = create_project(
                staging / combination.slug,
                answers=example_answers(combination),
                template=source,
            )
            _stamp_answers(project / ANSWERS_FILE, commit, home)
        dest.mkdir(parents=True, exist_ok=True)
        slugs = {combination.slug for combination in EXAMPLES}
        for entry in sorted(dest.iterdir()):
            if entry.is_dir() and (
                entry.name in slugs or (entry / ANSWERS_FILE).is_file()
            ):
                shutil.rmtree(entry)
        for combination in EXAMPLES:
            shutil.move(staging / combination.slug, dest / combination.slug)
    (dest / "README.md").write_text(_index(version, home), encoding="utf-8")
    return [dest / combination.slug for combination in EXAMPLES]


def _questions(root: Path) -> dict:
    return yaml.safe_load((root / "copier.yml").read_text(encoding="utf-8"))


def _template_version(root: Path) -> str:
    return str(_questions(root)["template_version"]["default"])


def template_home(root: str | os.PathLike[str] | None = None) -> str:
    """The template's public home page (``template_home`` in copier.yml), or "".

    Args:
        root: The template folder; the bundled one by default.
    """
    root = Path(root) if root is not None else find_template_root()
    return str(_questions(root)["template_home"]["default"])


def template_commit(root: str | os.PathLike[str] | None = None) -> str:
    """The full hash of the commit the template at ``root`` is, as committed.

    The newest commit on ``root``'s branch that changed the template (copier.yml or
    templates/): the same for every later commit that leaves the template alone,
    so re-rendering changes the examples only when the template changes. It is
    reachable from the branch in every clone, tags or none.

    Args:
        root: A template folder at the root of a git checkout; the bundled one by
            default.

    Raises:
        ScaffoldError: ``root`` is not a git checkout, or its template has changes
            that are not committed (they have no commit to record yet).
    """
    root = Path(root) if root is not None else find_template_root()
    if _git(root, "rev-parse", "--show-prefix") != "":
        raise ScaffoldError(
            f"{root} is not the root of a git checkout: the examples record the "
            "commit of the template they were rendered from"
        )
    if _git(
        root, "status", "--porcelain", "--untracked-files=all", "--", *TEMPLATE_PATHS
    ):
        raise ScaffoldError(
            "the template (copier.yml, templates/) has uncommitted changes: commit "
            "them, then re-render the examples, which record the commit of the "
            "template they come from (and go in a later commit)"
        )
    head = _git(root, "rev-parse", "--verify", "HEAD^{commit}")
    newest = _git(root, "log", "-1", "--format=%H", "HEAD", "--", *TEMPLATE_PATHS)
    # That commit has HEAD's template; should git's history simplification of a
    # merge ever pick one that has not, HEAD itself is the template's commit.
    if newest and all(
        _git(root, "rev-parse", f"{newest}:{path}")
        == _git(root, "rev-parse", f"HEAD:{path}")
        for path in TEMPLATE_PATHS
    ):
        return newest
    return head


def _git(root: Path, *args: str) -> str:
    """git's output in ``root``, stripped; a ScaffoldError where git fails."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        )
    except OSError as error:
        raise ScaffoldError(f"cannot run git: {error}") from error
    if result.returncode != 0:
        message = " ".join(result.stderr.split()) or f"exit status {result.returncode}"
        raise ScaffoldError(f"git {' '.join(args)} failed in {root}: {message}")
    return result.stdout.strip()


def _stamp_answers(path: Path, commit: str, home: str) -> None:
    """Record the template's commit and public home instead of a temporary path."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    stamped = []
    for line in lines:
        if line.startswith("_commit: "):
            continue
        if line.startswith("_src_path: "):
            stamped.append(f"_commit: {commit}\n")
            if not home:
                continue
            line = f"_src_path: {home}\n"
        stamped.append(line)
    if not any(line.startswith("_src_path: ") for line in lines):
        raise ScaffoldError(f"{path} records no _src_path to stamp")
    path.write_text("".join(stamped), encoding="utf-8")


def _index(version: str, home: str) -> str:
    rows = "\n".join(
        f"| [{c.slug}]({c.slug}/) | {c.api_style} | {c.training_loop} | {c.task} | "
        f"{_STYLE_NOTES[c.api_style]}; {_LOOP_NOTES[c.training_loop]} |"
        for c in EXAMPLES
    )
    if home:
        source = f"They record the template's home, {home}, as `_src_path`."
    else:
        source = (
            "They record no source (`_src_path`): the template has no public home "
            "yet (`template_home` in copier.yml). To update a copy of one, add "
            "`_src_path` to its `.copier-answers.yml`, set to your clone of this "
            "repository (a path or URL), commit, then run `copier update "
            "--defaults --vcs-ref HEAD` (they may be newer than the latest "
            "release tag)."
        )
    source = textwrap.fill(source, 84, break_on_hyphens=False, break_long_words=False)
    return f"""\
# Examples

Projects rendered from the keras-scaffold template (release {version}), committed so
that what it generates can be read, diffed and reviewed without running it. Each is
what `copier copy` (or `keras-scaffold new`) generates for the answers recorded in its
`.copier-answers.yml`.

| example | api_style | training_loop | task | how the model is written; trained |
|---|---|---|---|---|
{rows}

Together they cover every API style, every training loop and both tasks. To try one:
`cd` into it, `python -m pip install -e ".[dev]"`, then run `python -m <package>
train` (the package is under `src/`) and `python -m pytest`.

Do not edit them by hand: `tests/test_examples.py` fails when they differ from a
fresh render of the template. After changing the template, re-render them with

```bash
python -m scaffold.examples
```

Their `.copier-answers.yml` record as `_commit` the full hash of the commit of the
template they were rendered from (the newest commit that changed `copier.yml` or
`templates/`), not a tag: tags do not travel with a clone of the branch, commits
do, so `copier update` finds an example's base in any clone. Commit a template
change first, then re-render, and commit the examples after it. Re-rendering
changes them only when the template does.
{source}
"""


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m scaffold.examples [DEST]``: re-render the examples."""
    parser = argparse.ArgumentParser(
        prog="python -m scaffold.examples",
        description="Re-render the example projects and their index README.",
    )
    parser.add_argument(
        "dest",
        nargs="?",
        metavar="DEST",
        help="the examples folder (default: examples/ of this checkout)",
    )
    args = parser.parse_args(argv)
    try:
        projects = render_examples(args.dest)
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for project in projects:
        print(f"rendered {project}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
