"""Updating a generated project with ``copier update`` keeps the user's work.

The tests build real template versions, as Copier's own tests do: the checkout's
copier.yml and templates/ (working tree) committed to a temporary git repository
and tagged ``OLD_TAG``; then a template change (``change_template``: a new line in
model.py, a fixed README line, a new config comment, a new file, the next release
number) committed and tagged ``NEW_TAG``. A "user" renders at ``OLD_TAG``, edits
the project as people do (``edit_project``: the model, the config, a module of
their own), commits, and updates.

Rendering from the checkout itself would not do: Copier versions a template by
its git tags, and a dirty checkout makes it record a commit that exists nowhere.

``COVERING`` spans all three API styles, all three loops and both tasks; the
answer-change and conflict tests use other combinations again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import (
    DEFAULT_PACKAGE,
    REPO_ROOT,
    commit_all,
    copy_template,
    files_under,
    git,
    render_project,
)

import scaffold
from scaffold import Combination, find_conflicts, read_answers, update_project
from scaffold.cli import main as cli_main

QUESTIONS = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
OLD_VERSION = QUESTIONS["template_version"]["default"]
_major, _minor, *_ = OLD_VERSION.split(".")
NEW_VERSION = f"{_major}.{int(_minor) + 1}.0"
OLD_TAG, NEW_TAG = f"v{OLD_VERSION}", f"v{NEW_VERSION}"

#: Three combinations that span every API style, every loop and both tasks.
COVERING = (
    Combination("sequential", "fit", "image"),
    Combination("functional", "train_on_batch", "text"),
    Combination("subclassing", "custom", "image"),
)

MODEL = f"src/{DEFAULT_PACKAGE}/model.py"
CONFIG = "configs/default.toml"
README = "README.md"
#: A file only the user has.
USER_MODULE = f"src/{DEFAULT_PACKAGE}/augment.py"
#: Generated files that the template never touches again after generation.
USER_OWNED = (CONFIG,)

# ---------------------------------------------------------------- the template change

#: Each API style writes its model in a file of its own: NEW_TAG changes all three.
TEMPLATE_MODELS = tuple(
    f"templates/variants/api_style/{style}/model.py.jinja"
    for style in ("sequential", "functional", "subclassing")
)
TEMPLATE_CONFIG = "templates/project/configs/default.toml.jinja"
TEMPLATE_README = "templates/project/README.md.jinja"
#: What NEW_TAG adds above model.py's imports (far from the user's model edits).
TEMPLATE_MODEL_LINE = "# Every model comes from build_model(config, ...) below."
#: NEW_TAG's first line of configs/default.toml.
TEMPLATE_CONFIG_LINE = "# Template v2: every key below is optional."
#: README's install line before and after NEW_TAG (the user edits it too, to conflict).
OLD_README_LINE = 'python -m pip install -e ".[dev]"'
TEMPLATE_README_LINE = 'python -m pip install --editable ".[dev]"'
#: A file that NEW_TAG adds.
NEW_FILE = ".editorconfig"
NEW_FILE_TEXT = "root = true\n\n[*.py]\nindent_style = space\nindent_size = 4\n"

# ---------------------------------------------------------------- the user's edits

USER_MODEL_COMMENT = "# Ours: dropout 0.3 worked best on our data, see configs/."
USER_MODEL_HELPER = '''

def count_parameters(model: keras.Model) -> int:
    """The number of trainable parameters (added by the user)."""
    return sum(int(keras.ops.size(weight)) for weight in model.trainable_weights)
'''
USER_README_LINE = 'uv pip install -e ".[dev]"'
USER_MODULE_TEXT = '"""Our augmentations."""\n\nFLIP_PROBABILITY = 0.5\n'


def replace_once(text: str, old: str, new: str, where: str) -> str:
    """``text`` with its first ``old`` replaced; fail clearly if it is gone."""
    if old not in text:
        pytest.fail(
            f"{where} no longer contains {old!r}: pick another anchor for the "
            "simulated edit in tests/test_update.py"
        )
    return text.replace(old, new, 1)


def edit_model(text: str) -> str:
    """A user's model edit: a comment in the head, a helper at the end."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if 'name="dropout"' in line:
            indent = line[: len(line) - len(line.lstrip())]
            lines.insert(index, f"{indent}{USER_MODEL_COMMENT}\n")
            return "".join(lines) + USER_MODEL_HELPER
    pytest.fail('model.py has no name="dropout" line to edit next to')


def edit_config(text: str) -> str:
    """A user's config edit: shorter runs, smaller batches."""
    text, epochs = re.subn(
        r"^epochs = \d+$", "epochs = 3  # ours: quick runs", text, flags=re.M
    )
    text, batches = re.subn(r"^batch_size = \d+$", "batch_size = 32", text, flags=re.M)
    assert epochs == batches == 1, "configs/default.toml has no epochs/batch_size"
    return text


def edit_readme(text: str) -> str:
    """A user's README edit on the very line NEW_TAG changes."""
    return replace_once(text, OLD_README_LINE, USER_README_LINE, README)


def change_template(root: Path) -> None:
    """Make the template change that NEW_TAG releases."""
    config = root / "copier.yml"
    text, count = re.subn(
        r'(^template_version:\n(?:[ #].*\n)*?  default: )"[^"]+"',
        rf'\g<1>"{NEW_VERSION}"',
        config.read_text(encoding="utf-8"),
        flags=re.M,
    )
    assert count == 1, "copier.yml: no template_version default to bump"
    config.write_text(text, encoding="utf-8")
    for name in TEMPLATE_MODELS:
        model = root / name
        model.write_text(
            replace_once(
                model.read_text(encoding="utf-8"),
                "\nimport keras\n",
                f"\n{TEMPLATE_MODEL_LINE}\nimport keras\n",
                name,
            ),
            encoding="utf-8",
        )
    readme = root / TEMPLATE_README
    readme.write_text(
        replace_once(
            readme.read_text(encoding="utf-8"),
            OLD_README_LINE,
            TEMPLATE_README_LINE,
            TEMPLATE_README,
        ),
        encoding="utf-8",
    )
    toml = root / TEMPLATE_CONFIG
    toml.write_text(
        f"{TEMPLATE_CONFIG_LINE}\n{toml.read_text(encoding='utf-8')}", encoding="utf-8"
    )
    (root / "templates" / "project" / NEW_FILE).write_text(NEW_FILE_TEXT)


# ---------------------------------------------------------------- fixtures and helpers


@dataclass(frozen=True)
class Versions:
    """A template git repository with two tagged releases."""

    root: Path
    old: str = OLD_TAG
    new: str = NEW_TAG


def make_versions(root: Path) -> Versions:
    """Two template releases in a new git repository at ``root``.

    The checkout's template is tagged OLD_TAG; with ``change_template``, NEW_TAG.
    """
    copy_template(root)
    commit_all(root, f"Release {OLD_TAG}", tag=OLD_TAG)
    change_template(root)
    commit_all(root, f"Release {NEW_TAG}", tag=NEW_TAG)
    return Versions(root)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    """The template's two releases (see ``make_versions``)."""
    return make_versions(tmp_path_factory.mktemp("template") / "keras-scaffold")


Render = Callable[..., Path]


@pytest.fixture(scope="module")
def fresh(template: Versions, tmp_path_factory: pytest.TempPathFactory) -> Render:
    """``fresh(ref, combination, **answers)``: a fresh copy, rendered once a module.

    Tests compare updated projects with these; they must not modify them.
    """
    cache: dict[tuple, Path] = {}

    def render(ref: str, combination: Combination, **answers: str) -> Path:
        answers = {**combination.answers(), **answers}
        key = (ref, *sorted(answers.items()))
        if key not in cache:
            dest = tmp_path_factory.mktemp("fresh") / "project"
            cache[key] = render_project(
                dest, template=template.root, vcs_ref=ref, **answers
            )
        return cache[key]

    return render


def generate(tmp_path: Path, template: Versions, combination: Combination) -> Path:
    """Render ``combination`` at OLD_TAG into a new git repository, committed."""
    project = render_project(
        tmp_path / "project",
        template=template.root,
        vcs_ref=template.old,
        **combination.answers(),
    )
    commit_all(project, "Generate from the template")
    return project


def edit_project(project: Path, *, model: bool = True, readme: bool = False) -> None:
    """Edit like a user: the config, a module of their own, maybe model and README."""
    rewrite(project / CONFIG, edit_config)
    (project / USER_MODULE).write_text(USER_MODULE_TEXT)
    if model:
        rewrite(project / MODEL, edit_model)
    if readme:
        rewrite(project / README, edit_readme)
    commit_all(project, "Our changes")


def rewrite(path: Path, edit: Callable[[str], str]) -> None:
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


def snapshot(root: Path) -> dict[str, str]:
    """Every file below ``root`` (no .git) by relative path, as text."""
    return {
        name: (root / name).read_text(encoding="utf-8") for name in files_under(root)
    }


CONFLICT_MARKERS = ("<<<<<<< ", ">>>>>>> ")


def assert_merged_cleanly(project: Path) -> None:
    """No .rej file, no conflict marker, nothing unmerged in git's index."""
    assert not [name for name in files_under(project) if name.endswith(".rej")]
    marked = [
        name
        for name, text in snapshot(project).items()
        if any(line.startswith(CONFLICT_MARKERS) for line in text.splitlines())
    ]
    assert not marked, f"conflict markers in {marked}"
    assert not git(project, "diff", "--name-only", "--diff-filter=U").strip()
    assert find_conflicts(project) == []


def changed_paths(project: Path) -> set[str]:
    """Paths that git sees changed since the last commit (new files included)."""
    status = git(project, "status", "--porcelain", "--untracked-files=all")
    return {line[3:] for line in status.splitlines()}


# ---------------------------------------------------------------- new template versions


@pytest.mark.update
@pytest.mark.parametrize("combination", COVERING, ids=lambda c: c.slug)
def test_update_keeps_user_edits_and_brings_template_changes(
    tmp_path, template, fresh, combination
):
    project = generate(tmp_path, template, combination)
    edit_project(project)
    user_config = (project / CONFIG).read_text()

    # "rej" rather than the default inline mode: every hunk of the user's must
    # apply as a patch, with no 3-way merge to fall back on.
    update_project(project, vcs_ref=template.new, conflict="rej")

    assert_merged_cleanly(project)
    expected = snapshot(fresh(template.new, combination))
    assert TEMPLATE_MODEL_LINE in expected[MODEL]
    assert TEMPLATE_CONFIG_LINE in expected[CONFIG]
    expected[MODEL] = edit_model(expected[MODEL])  # both changes, merged
    expected[CONFIG] = user_config  # the user's, the template's change left out
    expected[USER_MODULE] = USER_MODULE_TEXT
    updated = snapshot(project)
    assert sorted(updated) == sorted(expected)
    for name, text in updated.items():
        assert text == expected[name], f"{name} differs from the expected merge"
    assert (project / NEW_FILE).read_text() == NEW_FILE_TEXT
    answers = read_answers(project)
    assert answers["_commit"] == NEW_TAG
    assert answers["_template_version"] == NEW_VERSION


@pytest.mark.update
@pytest.mark.parametrize("combination", COVERING, ids=lambda c: c.slug)
def test_update_of_unedited_project_equals_fresh_copy(
    tmp_path, template, fresh, combination
):
    project = generate(tmp_path, template, combination)
    assert read_answers(project)["_commit"] == OLD_TAG
    assert read_answers(project)["_template_version"] == OLD_VERSION

    update_project(project)  # to the latest release tag, as `copier update` does

    # File for file the fresh copy, but for the files the user owns: the update
    # leaves them as generated, whatever the template's change to them.
    expected = snapshot(fresh(template.new, combination))
    for name in USER_OWNED:
        assert TEMPLATE_CONFIG_LINE in expected.pop(name)
    updated = snapshot(project)
    for name in USER_OWNED:
        assert updated.pop(name) == snapshot(fresh(template.old, combination))[name]
    assert updated == expected
    assert changed_paths(project) == {".copier-answers.yml", MODEL, README, NEW_FILE}


@pytest.mark.update
@pytest.mark.parametrize("conflict", ["inline", "rej"])
def test_conflict_is_shown_and_nothing_of_the_user_is_lost(
    tmp_path, template, fresh, conflict
):
    combination = Combination("functional", "custom", "text")
    project = generate(tmp_path, template, combination)
    edit_project(project, readme=True)
    before = snapshot(project)

    update_project(project, vcs_ref=template.new, conflict=conflict)

    after = snapshot(project)
    new = snapshot(fresh(template.new, combination))
    if conflict == "inline":
        readme = after[README]
        assert f"<<<<<<< before updating\n{USER_README_LINE}\n=======\n" in readme
        assert f"=======\n{TEMPLATE_README_LINE}\n>>>>>>> after updating\n" in readme
        # Every line of the user's README is still there.
        assert set(before[README].splitlines()) <= set(readme.splitlines())
        # git lists the file as unmerged, so that it is not committed by mistake.
        unmerged = git(project, "diff", "--name-only", "--diff-filter=U")
        assert unmerged.split() == [README]
        assert not [name for name in after if name.endswith(".rej")]
        assert find_conflicts(project) == [README]
    else:
        # The template's README, and the user's hunk beside it to apply by hand.
        assert after[README] == new[README]
        assert f"+{USER_README_LINE}\n" in after[f"{README}.rej"]
        assert f"-{OLD_README_LINE}\n" in after[f"{README}.rej"]
        assert find_conflicts(project) == [f"{README}.rej"]
    # The user's other work merged as usual.
    assert after[MODEL] == edit_model(new[MODEL])
    assert after[CONFIG] == before[CONFIG]
    assert after[USER_MODULE] == USER_MODULE_TEXT


# ---------------------------------------------------------------- changed answers


def check_answer_change(
    project: Path,
    fresh: Render,
    template: Versions,
    old: Combination,
    *,
    cli: bool = False,
    **new: str,
) -> None:
    """Update ``project`` to new answers at its version; check what changed.

    The files that differ between fresh copies for the old and the new answers
    change, to the new copy's content; every other file stays as it was. With
    ``cli``, through ``keras-scaffold update`` rather than the API.
    """
    before = snapshot(project)
    if cli:
        flags = [f"--{key.replace('_', '-')}={value}" for key, value in new.items()]
        command = ["update", str(project), *flags, "--vcs-ref=:current:", "--quiet"]
        assert cli_main(command) == 0
    else:
        update_project(project, vcs_ref=":current:", **new)

    assert_merged_cleanly(project)
    old_copy = snapshot(fresh(template.old, old))
    new_copy = snapshot(fresh(template.old, old, **new))
    differs = {
        name
        for name in old_copy.keys() | new_copy.keys()
        if old_copy.get(name) != new_copy.get(name) and name not in USER_OWNED
    }
    assert changed_paths(project) == differs
    after = snapshot(project)
    for name in sorted(after.keys() | before.keys()):
        want = new_copy.get(name) if name in differs else before.get(name)
        assert after.get(name) == want, f"{name} is not as expected"
    answers = read_answers(project)
    assert {key: answers[key] for key in new} == new
    assert answers["_commit"] == template.old


@pytest.mark.update
@pytest.mark.slow
def test_update_changes_the_training_loop_and_project_tests_pass(
    tmp_path, template, fresh
):
    old = Combination("subclassing", "fit", "text")
    project = generate(tmp_path, template, old)
    edit_project(project)

    check_answer_change(project, fresh, template, old, training_loop="custom")

    assert (project / MODEL).read_text() == edit_model(
        snapshot(fresh(template.old, old))[MODEL]
    )
    package = project / f"src/{DEFAULT_PACKAGE}"
    assert "make_steps(" in (package / "loop.py").read_text()
    assert "GradientTape" in (package / "steps_tensorflow.py").read_text()
    # The project's own quick tests, on the user's model and config.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-m",
            "not slow",
            "-p",
            "no:cacheprovider",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


@pytest.mark.update
def test_update_changes_the_api_style(tmp_path, template, fresh):
    # The model is rewritten in the new style, so the user has not edited it: an
    # edit inside it would be a conflict to resolve, like any other.
    old = Combination("sequential", "train_on_batch", "image")
    project = generate(tmp_path, template, old)
    edit_project(project, model=False)

    check_answer_change(project, fresh, template, old, cli=True, api_style="functional")

    assert "keras.Sequential" not in (project / MODEL).read_text()


@pytest.mark.update
def test_changing_the_task_writes_its_config_once_the_old_one_is_deleted(
    tmp_path, template, fresh
):
    # The README's recipe: the image settings are not the text settings, so the
    # user deletes the config they own, and the update writes the new task's one.
    old = Combination("functional", "fit", "image")
    project = generate(tmp_path, template, old)
    edit_project(project, model=False)
    (project / CONFIG).unlink()
    commit_all(project, "Delete the image settings")

    update_project(project, vcs_ref=":current:", task="text")

    assert_merged_cleanly(project)
    text_copy = snapshot(fresh(template.old, old, task="text"))
    updated = snapshot(project)
    assert updated.pop(USER_MODULE) == USER_MODULE_TEXT
    assert updated == text_copy


# ---------------------------------------------------------------- what the user owns


@pytest.mark.parametrize("task", scaffold.TASKS)
def test_shipped_config_holds_every_default(fresh, template, task):
    # The generated tests accept any valid config, since the user owns it; check
    # here that the template ships every setting at the dataclass's default.
    project = fresh(template.old, Combination("functional", "fit", task))
    code = f"""
import dataclasses, pathlib
from {DEFAULT_PACKAGE}.config import Config, load_config
text = pathlib.Path({CONFIG!r}).read_text(encoding="utf-8")
names = [field.name for field in dataclasses.fields(Config)]
missing = [name for name in names if f"\\n{{name}} = " not in text]
assert not missing, f"{CONFIG} does not list {{missing}}"
assert load_config({CONFIG!r}) == Config(), "{CONFIG} differs from Config()"
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": "src"},
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_readme_names_the_files_the_user_owns(fresh, template):
    readme = (fresh(template.old, COVERING[0]) / README).read_text()
    section = readme.split("## Updating from the template", 1)[1]
    for name in USER_OWNED:
        assert f"`{name}`" in section


def test_skip_if_exists_is_the_user_owned_files():
    assert tuple(QUESTIONS["_skip_if_exists"]) == USER_OWNED


# ---------------------------------------------------------------- versions


def test_template_version_is_the_package_version_and_in_the_changelog():
    assert scaffold.__version__ == OLD_VERSION
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    released = re.findall(
        r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.M
    )
    assert released, "CHANGELOG.md lists no release"
    assert (
        released[0] == OLD_VERSION
    ), "the newest CHANGELOG release is not copier.yml's"
