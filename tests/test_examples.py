"""examples/: rendered projects, committed, equal to a fresh render of the template.

When the template changes, re-render them with ``python -m scaffold.examples``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, commit_all, copy_template, git

from scaffold import API_STYLES, TASKS, TRAINING_LOOPS, ScaffoldError, read_answers
from scaffold.examples import (
    EXAMPLES,
    TEMPLATE_PATHS,
    main,
    render_examples,
    template_commit,
    template_home,
)

COMMITTED = REPO_ROOT / "examples"
RERENDER = "python -m scaffold.examples"
#: What using an example leaves behind (all ignored by its .gitignore).
ARTIFACTS = {"__pycache__", ".pytest_cache", ".ruff_cache", "runs", "exports"}


def example_files(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by relative path, but for artifacts of use."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and not ARTIFACTS & set(path.relative_to(root).parts)
        and not path.name.endswith((".pyc", ".egg-info"))
        and not any(part.endswith(".egg-info") for part in path.parts)
    }


def test_examples_cover_every_choice():
    assert {example.api_style for example in EXAMPLES} == set(API_STYLES)
    assert {example.training_loop for example in EXAMPLES} == set(TRAINING_LOOPS)
    assert {example.task for example in EXAMPLES} == set(TASKS)


def test_committed_examples_equal_a_fresh_render(tmp_path):
    render_examples(tmp_path / "examples")
    fresh = example_files(tmp_path / "examples")
    committed = example_files(COMMITTED) if COMMITTED.is_dir() else {}
    missing = sorted(fresh.keys() - committed.keys())
    extra = sorted(committed.keys() - fresh.keys())
    differ = sorted(
        name
        for name in fresh.keys() & committed.keys()
        if fresh[name] != committed[name]
    )
    problems = [
        f"{label}: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}"
        for label, names in (("missing", missing), ("extra", extra), ("differ", differ))
        if names
    ]
    assert not problems, (
        "examples/ is out of date with the template ("
        + "; ".join(problems)
        + f"). Re-render them with: {RERENDER}"
    )


def test_example_answers_record_a_commit_of_this_repository_not_a_tag():
    # Tags do not travel with a clone of the branch; a commit on it does. The
    # commit is the template's: its copier.yml and templates/ are the checkout's.
    questions = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    version = questions["template_version"]["default"]
    commit = template_commit(REPO_ROOT)
    for example in EXAMPLES:
        answers = read_answers(COMMITTED / example.slug)
        assert re.fullmatch(r"[0-9a-f]{40}", answers["_commit"]), answers["_commit"]
        assert answers["_commit"] == commit, (
            f"{example.slug} records the template of {answers['_commit']}, not "
            f"{commit}'s. Re-render them with: {RERENDER}"
        )
        assert answers.get("_src_path") == (template_home(REPO_ROOT) or None)
        assert answers["_template_version"] == version
        assert {key: answers[key] for key in example.answers()} == example.answers()


def test_template_commit_is_on_the_branch_with_the_checkouts_template():
    commit = template_commit(REPO_ROOT)
    assert git(REPO_ROOT, "merge-base", "--is-ancestor", commit, "HEAD") == ""
    for path in TEMPLATE_PATHS:
        assert git(REPO_ROOT, "rev-parse", f"{commit}:{path}") == git(
            REPO_ROOT, "rev-parse", f"HEAD:{path}"
        )


def test_template_commit_refuses_an_uncommitted_template(tmp_path):
    template = tmp_path / "template"
    copy_template(template)
    commit_all(template, "Template")
    first = git(template, "rev-parse", "HEAD").strip()
    (template / "NOTES.md").write_text("not the template\n")
    commit_all(template, "Notes")
    assert template_commit(template) == first  # the template's, not HEAD's
    (template / "templates" / "project" / "NEW.md").write_text("new\n")
    with pytest.raises(ScaffoldError, match="uncommitted changes: commit them"):
        template_commit(template)


def test_index_links_every_example():
    index = (COMMITTED / "README.md").read_text(encoding="utf-8")
    for example in EXAMPLES:
        assert f"]({example.slug}/)" in index
    assert RERENDER in index


def test_rerender_replaces_examples_and_keeps_other_files(tmp_path, capsys):
    dest = tmp_path / "examples"
    (dest / "retired-example").mkdir(parents=True)
    (dest / "retired-example" / ".copier-answers.yml").write_text("{}\n")
    (dest / EXAMPLES[0].slug).mkdir()
    (dest / EXAMPLES[0].slug / "left-over.txt").write_text("old\n")
    (dest / "NOTES.txt").write_text("kept\n")

    assert main([str(dest)]) == 0

    assert sorted(path.name for path in dest.iterdir()) == sorted(
        ["NOTES.txt", "README.md", *(example.slug for example in EXAMPLES)]
    )
    assert not (dest / EXAMPLES[0].slug / "left-over.txt").exists()
    assert capsys.readouterr().out.count("rendered ") == len(EXAMPLES)
