"""Versions that work where users clone: a clone of the branch, with no tags.

Tags do not travel with a branch: a clone of the published repository has none.
These tests clone the checkout (what is committed) and delete every tag, as a user
gets it, then check that

- ``keras-scaffold new`` and ``copier copy`` render from it and record a
  ``_commit`` the clone resolves (its HEAD) and the release (``_template_version``);
- a copy of a committed example updates: its ``_commit`` (a commit hash, see
  ``scaffold.examples.template_commit``) is found, and a template change merges in
  beside the user's edit;
- a project rendered from the 0.2.0 release commit, named by its hash, updates to
  the branch's HEAD.

The last test is issue 17's guarantee, meant to outlive changes of layout: a
project rendered from the 0.2.0 release, with the user's edits in its training
loop and its model, updated to the working tree's template: each edit is still in
some file, or shows as a conflict; it never vanishes silently.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import copier
import pytest
import yaml
from conftest import DEFAULT_PACKAGE, REPO_ROOT, commit_all, git, render_project
from test_update import (
    CONFLICT_MARKERS,
    COVERING,
    MODEL,
    TEMPLATE_MODEL_LINE,
    USER_MODEL_COMMENT,
    USER_OWNED,
    assert_merged_cleanly,
    change_template,
    edit_model,
    rewrite,
    snapshot,
)

from scaffold import Combination, read_answers, update_project
from scaffold.api import default_ref
from scaffold.cli import main as cli_main
from scaffold.examples import EXAMPLES

#: The 0.2.0 release commit on main ("Release 0.2.0: ..."), as a user names it in a
#: clone without tags.
RELEASE_COMMIT = "205d72c2c66a8a3b8e5688834d24028e272567ce"
RELEASE_VERSION = "0.2.0"
VERSION = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))[
    "template_version"
]["default"]
NO_TAGS_WARNING = "No git tags found in template"


def tagless_clone(dest: Path) -> Path:
    """A clone of the checkout's committed history at ``dest``, with no tags."""
    if git(REPO_ROOT, "rev-parse", "--is-shallow-repository").strip() == "true":
        pytest.skip("a shallow checkout lacks the history these tests update from")
    dest.parent.mkdir(parents=True, exist_ok=True)
    git(dest.parent, "clone", "--quiet", "--no-tags", str(REPO_ROOT), dest.name)
    for tag in git(dest, "tag", "--list").split():
        git(dest, "tag", "--delete", tag)
    assert git(dest, "tag", "--list") == ""
    return dest


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tagless clone that tests only read (see ``tagless_clone``)."""
    return tagless_clone(tmp_path_factory.mktemp("published") / "keras-scaffold")


def resolve(repo: Path, ref: str) -> str:
    """The full commit hash ``ref`` names in ``repo`` (fails where it names none)."""
    return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()


def package_of(project: Path) -> str:
    return read_answers(project)["package_name"]


# ---------------------------------------------------------------- rendering


def test_release_commit_is_on_the_branch(published):
    assert resolve(published, RELEASE_COMMIT) == RELEASE_COMMIT
    assert git(published, "merge-base", "--is-ancestor", RELEASE_COMMIT, "HEAD") == ""
    subject = git(published, "log", "-1", "--format=%s", RELEASE_COMMIT)
    assert subject.startswith(f"Release {RELEASE_VERSION}")
    questions = yaml.safe_load(git(published, "show", f"{RELEASE_COMMIT}:copier.yml"))
    assert questions["template_version"]["default"] == RELEASE_VERSION


def test_default_ref_without_tags_is_the_head_commit(published, tmp_path):
    assert default_ref(published) == resolve(published, "HEAD")
    tagged = tmp_path / "tagged"
    git(tmp_path, "clone", "--quiet", str(published), tagged.name)
    git(tagged, "tag", "v9.9.9rc1")  # a prerelease: Copier skips it, so do we
    assert default_ref(tagged) == resolve(tagged, "HEAD")
    git(tagged, "tag", f"v{VERSION}")
    assert default_ref(tagged) is None  # Copier's own choice: the newest release
    assert default_ref(tmp_path) is None  # not a git repository: no versions


def test_keras_scaffold_new_in_a_tagless_clone_records_its_head(
    published, tmp_path, capfd
):
    dest = tmp_path / "net"
    command = ["new", str(dest), "--api-style=functional", "--training-loop=fit"]
    assert cli_main([*command, "--task=image", "--template", str(published)]) == 0

    assert NO_TAGS_WARNING not in capfd.readouterr().err  # a choice, not a fallback
    answers = read_answers(dest)
    assert resolve(published, answers["_commit"]) == resolve(published, "HEAD")
    assert answers["_template_version"] == VERSION


def test_copier_copy_in_a_tagless_clone_records_its_head(published, tmp_path, capfd):
    dest = tmp_path / "net"
    copier.run_copy(
        str(published),
        dest,
        data=Combination("sequential", "custom", "text").answers(),
        defaults=True,
        quiet=True,
        unsafe=False,
    )

    # Copier's own fallback: HEAD, with a warning; a ref the clone resolves.
    assert NO_TAGS_WARNING in capfd.readouterr().err
    answers = read_answers(dest)
    assert resolve(published, answers["_commit"]) == resolve(published, "HEAD")
    assert answers["_template_version"] == VERSION


# ---------------------------------------------------------------- updating


def copy_example(clone: Path, slug: str, dest: Path) -> Path:
    """A user's copy of ``clone``'s example ``slug``, its source recorded, committed."""
    shutil.copytree(clone / "examples" / slug, dest)
    answers = dest / ".copier-answers.yml"
    text = answers.read_text(encoding="utf-8")
    assert "_src_path:" not in text, "examples record a home now: drop this step"
    answers.write_text(
        text.replace("_template_version:", f"_src_path: {clone}\n_template_version:"),
        encoding="utf-8",
    )
    commit_all(dest, "Start from the example")
    return dest


@pytest.mark.update
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda c: c.slug)
def test_copier_update_of_an_example_copy_in_a_tagless_clone(tmp_path, example):
    clone = tagless_clone(tmp_path / "keras-scaffold")
    project = copy_example(clone, example.slug, tmp_path / "project")
    base = read_answers(project)["_commit"]
    assert resolve(clone, base) == base
    model = f"src/{package_of(project)}/model.py"
    rewrite(project / model, edit_model)
    commit_all(project, "Our model")
    change_template(clone)  # the next change on the branch, untagged
    commit_all(clone, "A template change")

    # Stock Copier, its defaults: no tag, so the branch's HEAD.
    copier.run_update(
        project, defaults=True, overwrite=True, quiet=True, conflict="rej"
    )

    assert_merged_cleanly(project)
    text = (project / model).read_text(encoding="utf-8")
    assert TEMPLATE_MODEL_LINE in text
    assert USER_MODEL_COMMENT in text
    assert resolve(clone, read_answers(project)["_commit"]) == resolve(clone, "HEAD")


@pytest.mark.update
def test_update_from_the_release_commit_by_hash_in_a_tagless_clone(published, tmp_path):
    combination = Combination("functional", "train_on_batch", "image")
    project = render_project(
        tmp_path / "project",
        template=published,
        vcs_ref=RELEASE_COMMIT,
        **combination.answers(),
    )
    answers = read_answers(project)
    assert resolve(published, answers["_commit"]) == RELEASE_COMMIT
    assert answers["_template_version"] == RELEASE_VERSION
    commit_all(project, "Generate from 0.2.0")
    released = snapshot(project)

    update_project(project)  # no tags: the clone's HEAD commit

    assert_merged_cleanly(project)
    assert resolve(published, read_answers(project)["_commit"]) == resolve(
        published, "HEAD"
    )
    fresh = snapshot(
        render_project(
            tmp_path / "fresh",
            template=published,
            vcs_ref=None,
            **combination.answers(),
        )
    )
    updated = snapshot(project)
    for name in USER_OWNED:  # the user's since generation: left as generated
        assert updated.pop(name) == released[name]
        fresh.pop(name)
    assert updated == fresh


# ---------------------------------------------------------------- issue 17's guarantee

#: A line of each loop's training code, in training.py as 0.2.0 generates it.
LOOP_LINES = {
    "fit": r"^\s+model\.fit\(",
    "train_on_batch": r"^\s+logs = model\.train_on_batch\(",
    "custom": r"^\s+gradients = tape\.gradient\(",
}
TRAINING = f"src/{DEFAULT_PACKAGE}/training.py"
LOOP_MARK = "# ours: the loop, edited"
MODEL_MARK = "# ours: the model, edited"


def edit_line(path: Path, pattern: str, mark: str) -> str:
    """Append ``mark`` to the first line of ``path`` matching ``pattern``."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for index, line in enumerate(lines):
        if re.search(pattern, line):
            lines[index] = f"{line.rstrip()}  {mark}\n"
            path.write_text("".join(lines), encoding="utf-8")
            return lines[index].strip()
    pytest.fail(f"{path.name} at {RELEASE_VERSION} has no line matching {pattern!r}")


def where_the_edit_is(files: dict[str, str], edited: str, mark: str) -> str:
    """Where an edited line went: a clean file holding it, or a conflict showing it.

    Fails when no file holds the edit's mark: the edit vanished silently.
    """
    shown = []
    for name, text in files.items():
        if mark not in text:
            continue
        conflicted = name.endswith(".rej") or any(
            line.startswith(CONFLICT_MARKERS) for line in text.splitlines()
        )
        if conflicted:
            shown.append(f"conflict in {name}")
        elif edited in (line.strip() for line in text.splitlines()):
            return f"arrived in {name}"
        else:
            shown.append(f"changed in {name}")
    assert shown, f"the edit {edited!r} is in no file of the updated project"
    assert any(
        where.startswith("conflict") for where in shown
    ), f"the edit {edited!r} survives only altered ({shown}), without a conflict"
    return shown[0]


def test_an_edit_that_vanished_fails_the_check():
    edited = f"x = 1  {LOOP_MARK}"
    assert where_the_edit_is({"a.py": f"{edited}\n"}, edited, LOOP_MARK) == (
        "arrived in a.py"
    )
    rejected = {"a.py": "x = 2\n", "a.py.rej": f"+{edited}\n"}
    assert where_the_edit_is(rejected, edited, LOOP_MARK) == "conflict in a.py.rej"
    with pytest.raises(AssertionError, match="in no file"):
        where_the_edit_is({"a.py": "x = 1\n"}, edited, LOOP_MARK)
    with pytest.raises(AssertionError, match="without a conflict"):
        where_the_edit_is({"a.py": f"y = 1  {LOOP_MARK}\n"}, edited, LOOP_MARK)


@pytest.mark.update
@pytest.mark.parametrize("combination", COVERING, ids=lambda c: c.slug)
def test_update_from_the_release_never_drops_an_edit_silently(tmp_path, combination):
    # From the checkout: the release by its hash, then the working tree (HEAD,
    # uncommitted changes included), whatever its layout.
    project = render_project(
        tmp_path / "project",
        template=REPO_ROOT,
        vcs_ref=RELEASE_COMMIT,
        **combination.answers(),
    )
    commit_all(project, "Generate from 0.2.0")
    loop_edit = edit_line(
        project / TRAINING, LOOP_LINES[combination.training_loop], LOOP_MARK
    )
    model_edit = edit_line(project / MODEL, r'name="dropout"', MODEL_MARK)
    commit_all(project, "Our loop and model")

    update_project(project, vcs_ref="HEAD")

    files = snapshot(project)
    assert read_answers(project)["_template_version"] == VERSION
    for edited, mark in ((loop_edit, LOOP_MARK), (model_edit, MODEL_MARK)):
        where_the_edit_is(files, edited, mark)
