"""The generated repository checks itself: pre-commit hooks and a CI workflow.

``.pre-commit-config.yaml`` and ``.github/workflows/tests.yml`` are checked by
their own validators (``pre-commit validate-config``; check-jsonschema against
GitHub's workflow schema). The hooks live on GitHub, which tests cannot reach,
so the file-hygiene hooks run here from the pre-commit-hooks package at the
pinned release, and black and ruff, pinned in the test extra to the hooks'
revisions, run on every combination in tests/test_generated.py. Both files are
the template's: an update merges the template's changes with the user's.
"""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import identify.identify
import pytest
import yaml
from conftest import REPO_ROOT, commit_all, copy_template, files_under, render_project

from scaffold import Combination, find_conflicts, update_project

PRE_COMMIT = ".pre-commit-config.yaml"
WORKFLOW = ".github/workflows/tests.yml"
HYGIENE_REPO = "https://github.com/pre-commit/pre-commit-hooks"
#: The pre-commit-hooks hooks: their command and the file type they take, as the
#: package's .pre-commit-hooks.yaml declares them (None: every file). The size
#: check looks at every file, not only those a commit adds.
HYGIENE_HOOKS = {
    "check-added-large-files": (["check-added-large-files", "--enforce-all"], None),
    "check-merge-conflict": (["check-merge-conflict"], "text"),
    "check-toml": (["check-toml"], "toml"),
    "check-yaml": (["check-yaml"], "yaml"),
    "end-of-file-fixer": (["end-of-file-fixer"], "text"),
    "trailing-whitespace": (["trailing-whitespace-fixer"], "text"),
}
COVERING = (
    Combination("sequential", "fit", "image"),
    Combination("functional", "train_on_batch", "text"),
    Combination("subclassing", "custom", "image"),
)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The covering combinations, rendered once for the module."""
    root = tmp_path_factory.mktemp("checks")
    return [
        render_project(root / combination.slug, **combination.answers())
        for combination in COVERING
    ]


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def script(name: str) -> str:
    """A console script of the environment running the tests, activated or not."""
    path = Path(sysconfig.get_path("scripts")) / name
    return str(path) if path.is_file() else name


def hooks(config: dict, repo: str) -> dict[str, dict]:
    (entry,) = [entry for entry in config["repos"] if entry["repo"] == repo]
    return {hook["id"]: hook for hook in entry["hooks"]}


def revision(config: dict, repo_end: str) -> str:
    (entry,) = [entry for entry in config["repos"] if entry["repo"].endswith(repo_end)]
    return entry["rev"]


def test_pre_commit_config_is_valid(projects):
    result = run(
        [sys.executable, "-m", "pre_commit", "validate-config", PRE_COMMIT], projects[0]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_is_valid_for_github(projects):
    result = run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            WORKFLOW,
        ],
        projects[0],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_files_are_the_same_for_every_combination(projects):
    for name in (PRE_COMMIT, WORKFLOW):
        texts = {(project / name).read_text(encoding="utf-8") for project in projects}
        assert len(texts) == 1, name


def test_workflow_installs_lints_and_runs_the_quick_tests(projects):
    workflow = yaml.safe_load((projects[0] / WORKFLOW).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    assert set(workflow[True]) == {"push", "pull_request"}
    (job,) = workflow["jobs"].values()
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert commands == [
        'python -m pip install -e ".[dev,export]"',
        "pre-commit run --all-files --show-diff-on-failure",
        'python -m pytest -m "not slow"',
    ]
    pyproject = tomllib.loads((projects[0] / "pyproject.toml").read_text())
    assert "pre-commit" in pyproject["project"]["optional-dependencies"]["dev"]


def test_hooks_are_black_ruff_and_hygiene(projects):
    config = yaml.safe_load((projects[0] / PRE_COMMIT).read_text(encoding="utf-8"))
    assert set(hooks(config, HYGIENE_REPO)) == set(HYGIENE_HOOKS)
    assert set(hooks(config, "https://github.com/psf/black-pre-commit-mirror")) == {
        "black"
    }
    assert set(hooks(config, "https://github.com/astral-sh/ruff-pre-commit")) == {
        "ruff-check"
    }


def test_test_extra_pins_the_hooks_revisions(projects):
    """So that the black and ruff checks of the matrix are the hooks' checks."""
    config = yaml.safe_load((projects[0] / PRE_COMMIT).read_text(encoding="utf-8"))
    pins = dict(
        requirement.split("==")
        for requirement in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())[
            "project"
        ]["optional-dependencies"]["test"]
        if "==" in requirement
    )
    assert pins["black"] == revision(config, "/black-pre-commit-mirror")
    assert "v" + pins["ruff"] == revision(config, "/ruff-pre-commit")
    assert "v" + pins["pre-commit-hooks"] == revision(config, "/pre-commit-hooks")


def test_generated_files_pass_the_hygiene_hooks(projects):
    for project in projects:
        # As pre-commit runs them: in the repository, on its files, all added.
        commit_all(project, "Generated")
        files = files_under(project)
        digests = {name: (project / name).read_bytes() for name in files}
        for hook, (command, kind) in HYGIENE_HOOKS.items():
            chosen = [
                name
                for name in files
                if kind is None
                or kind in identify.identify.tags_from_path(str(project / name))
            ]
            assert chosen, hook
            result = run([script(command[0]), *command[1:], *chosen], project)
            assert result.returncode == 0, f"{hook}: {result.stdout}{result.stderr}"
        changed = [
            name for name in files if (project / name).read_bytes() != digests[name]
        ]
        assert not changed, f"the hooks changed {changed} in {project.name}"


def test_readme_says_how_to_use_both(projects):
    readme = (projects[0] / "README.md").read_text(encoding="utf-8")
    for needle in ("pre-commit install", "pre-commit run --all-files", WORKFLOW):
        assert needle in readme


def test_skip_if_exists_leaves_both_to_updates():
    questions = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    assert not {PRE_COMMIT, WORKFLOW} & set(questions["_skip_if_exists"])


@pytest.mark.update
def test_update_merges_template_and_user_changes(tmp_path):
    # Release 1: the checkout's template; release 2 moves black's revision on.
    template = copy_template(tmp_path / "template")
    commit_all(template, "Release 1", tag="v100.0.0")
    hooks_file = template / "templates" / "project" / PRE_COMMIT
    text = hooks_file.read_text(encoding="utf-8")
    black_rev = re.search(r"black-pre-commit-mirror\n    rev: (\S+)\n", text)[1]
    hooks_file.write_text(text.replace(f"rev: {black_rev}", "rev: 99.1.0"))
    commit_all(template, "Release 2", tag="v100.1.0")

    project = render_project(
        tmp_path / "project", template=template, vcs_ref="v100.0.0"
    )
    commit_all(project, "Generated")
    user_hook = (
        "  - repo: local\n    hooks:\n      - id: no-notebooks\n"
        "        name: no notebooks\n        entry: notebooks are not committed\n"
        "        language: fail\n        files: \\.ipynb$\n"
    )
    with (project / PRE_COMMIT).open("a", encoding="utf-8") as file:
        file.write(user_hook)
    workflow = (project / WORKFLOW).read_text(encoding="utf-8")
    (project / WORKFLOW).write_text(
        workflow.replace("timeout-minutes: 30", "timeout-minutes: 45")
    )
    commit_all(project, "Our checks")

    update_project(project, vcs_ref="v100.1.0")  # copier's default 3-way merge

    assert find_conflicts(project) == []
    hooks_text = (project / PRE_COMMIT).read_text(encoding="utf-8")
    assert "rev: 99.1.0" in hooks_text
    assert hooks_text.endswith(user_hook)
    assert "timeout-minutes: 45" in (project / WORKFLOW).read_text(encoding="utf-8")
    result = run(
        [sys.executable, "-m", "pre_commit", "validate-config", PRE_COMMIT], project
    )
    assert result.returncode == 0, result.stdout + result.stderr
