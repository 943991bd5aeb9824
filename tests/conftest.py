"""Fixtures and helpers shared by every test module.

Rendering goes through one helper, ``copy_project(tmp_path, **answers)``: the
template at the repository root, its working tree included (``vcs_ref="HEAD"``
renders uncommitted edits too), with ``DEFAULT_ANSWERS`` under the given answers.
Use it as a fixture (``def test_x(tmp_path, copy_project)``) or import it
(``from conftest import copy_project``).
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import scaffold
import scaffold.template

#: The scaffolder checkout: copier.yml, templates/, scaffold/.
REPO_ROOT = Path(__file__).resolve().parents[1]

#: A complete answer set; tests override what they are about.
DEFAULT_ANSWERS: dict[str, Any] = {
    "project_name": "Demo Net",
    "description": "A demo network for the scaffolder's tests",
    "author_name": "Ada Tester",
    "api_style": "functional",
    "training_loop": "fit",
    "task": "image",
}

#: The package_name that DEFAULT_ANSWERS' project_name derives.
DEFAULT_PACKAGE = "demo_net"


@pytest.fixture(scope="session", autouse=True)
def _isolated_tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the user's settings out, and the checkout's git index alone.

    Copier reads a user settings file that could change defaults; git commits in
    temporary repositories need an identity; ``git status`` on the checkout (Copier
    runs it to pick up uncommitted edits) must not take the index lock that the
    people committing there need.
    """
    settings = tmp_path_factory.mktemp("copier-settings") / "settings.yml"
    settings.write_text("defaults: {}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COPIER_SETTINGS_PATH", str(settings))
        patch.setenv("GIT_OPTIONAL_LOCKS", "0")
        for role in ("AUTHOR", "COMMITTER"):
            patch.setenv(f"GIT_{role}_NAME", "Scaffold Tests")
            patch.setenv(f"GIT_{role}_EMAIL", "tests@example.invalid")
        patch.delenv("NO_COLOR", raising=False)
        yield


def render_project(
    dest: Path,
    *,
    template: Path = REPO_ROOT,
    vcs_ref: str | None = "HEAD",
    **answers: Any,
) -> Path:
    """Render ``template`` into ``dest`` with DEFAULT_ANSWERS under ``answers``."""
    return scaffold.create_project(
        dest,
        answers={**DEFAULT_ANSWERS, **answers},
        template=template,
        vcs_ref=vcs_ref,
    )


def copy_project(tmp_path: Path, **answers: Any) -> Path:
    """Render the template into a new folder under ``tmp_path``; return its path.

    Args:
        tmp_path: The test's temporary folder.
        **answers: Answers over DEFAULT_ANSWERS, e.g. ``api_style="sequential"``.

    Returns:
        The rendered project: ``tmp_path/project``, or ``project-2``, ... when
        called again in the same test.
    """
    dest = tmp_path / "project"
    number = 1
    while dest.exists():
        number += 1
        dest = tmp_path / f"project-{number}"
    return render_project(dest, **answers)


@pytest.fixture(name="copy_project")
def copy_project_fixture() -> Any:
    """The ``copy_project(tmp_path, **answers)`` helper, as a fixture."""
    return copy_project


def files_under(root: Path) -> list[str]:
    """Every file below ``root`` as a sorted POSIX path relative to it (no .git)."""
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts
    )


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``; return its output, failing the test on an error."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout


def commit_all(
    repo: Path, message: str = "Snapshot", *, tag: str | None = None
) -> None:
    """Commit everything in ``repo`` (made a repository if need be), maybe tag it."""
    if not (repo / ".git").exists():
        git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "--message", message)
    if tag:
        git(repo, "tag", tag)


def copy_template(root: Path) -> Path:
    """Copy the checkout's template (copier.yml and templates/) into a new ``root``.

    As it is in the working tree; not a git repository until a test commits it.
    """
    return scaffold.template.copy_template(REPO_ROOT, root)


def copy_questions(root: Path) -> Path:
    """Copy the checkout's questions into ``root``: a template with an empty tree.

    copier.yml and templates/includes/ as they are in the working tree, and an
    empty templates/project/. Not a git repository, so Copier reads it in place
    (no clone): the fast way to test the questions apart from the tree.
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / "copier.yml", root / "copier.yml")
    shutil.copytree(
        REPO_ROOT / "templates" / "includes", root / "templates" / "includes"
    )
    (root / "templates" / "project").mkdir()
    return root


@pytest.fixture(scope="session")
def questions_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's questions with an empty tree (see ``copy_questions``)."""
    return copy_questions(tmp_path_factory.mktemp("questions"))


def make_stub_template(root: Path, *, tag: str | None = "v0.1.0") -> Path:
    """Build a small template under ``root``: the real questions, a tiny tree.

    It asks what copier.yml asks (same validators and defaults) but renders only
    an answers file, a README and a package ``__init__``, so tests of the API's
    mechanics (overwrite, clean-up, update) do not depend on the template tree.
    It is a git repository, tagged ``tag``, so that Copier can update from it.
    """
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / "copier.yml", root / "copier.yml")
    shutil.copytree(
        REPO_ROOT / "templates" / "includes", root / "templates" / "includes"
    )
    project = root / "templates" / "project"
    (project / "src" / "{{package_name}}").mkdir(parents=True)
    (project / "{{_copier_conf.answers_file}}.jinja").write_text(
        "# Changes here will be overwritten by Copier\n"
        "{{ _copier_answers|to_nice_yaml -}}\n"
    )
    (project / "README.md.jinja").write_text(
        "# {{ project_name }}\n\n{{ api_style }} {{ training_loop }} {{ task }}\n"
    )
    (project / "src" / "{{package_name}}" / "__init__.py.jinja").write_text(
        '"""{{ description }}"""\n'
    )
    commit_all(root, "Stub template", tag=tag)
    return root


@pytest.fixture
def stub_template(tmp_path: Path) -> Path:
    """A tagged git template (v0.1.0) with the real questions and a tiny tree."""
    return make_stub_template(tmp_path / "stub-template")


def this_environments_packages() -> list[str]:
    """The folders the running interpreter imports installed packages from.

    Its site-packages (purelib and platlib) and, where enabled, the user's: the
    same whether the tests run in the system Python, a virtual environment, or
    an environment made by uv or conda.
    """
    folders = [
        *site.getsitepackages(),
        sysconfig.get_path("purelib"),
        sysconfig.get_path("platlib"),
    ]
    if site.ENABLE_USER_SITE:
        folders.append(site.getusersitepackages())
    return [folder for folder in dict.fromkeys(folders) if Path(folder).is_dir()]


def fresh_environment(path: Path) -> Path:
    """A new virtual environment at ``path`` that sees this environment's packages.

    What is installed into it goes into it alone; what it lacks (TensorFlow,
    Keras, pytest, ...) it imports from the environment running the tests, which a
    ``.pth`` file in its site-packages names. ``system_site_packages=True`` would
    not do: from inside a virtual environment it shows the base interpreter's
    packages, not the active environment's.

    Returns:
        The environment's ``python``.
    """
    venv.create(path, with_pip=True)
    python = path / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "_tests_parent_environment.pth").write_text(
        "".join(f"{folder}\n" for folder in this_environments_packages()),
        encoding="utf-8",
    )
    return python
