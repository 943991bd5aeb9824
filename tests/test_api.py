"""The library API: combinations, create_project and update_project.

The mechanics (refusals, clean-up, updates) run on a stub template that asks the
real questions; the happy path renders the real template.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jinja2
import pytest
import yaml
from conftest import (
    DEFAULT_ANSWERS,
    DEFAULT_PACKAGE,
    REPO_ROOT,
    commit_all,
    files_under,
    git,
    render_project,
)
from copier._main import Worker

import scaffold
from scaffold import (
    API_STYLES,
    COMBINATIONS,
    TASKS,
    TRAINING_LOOPS,
    Combination,
    ScaffoldError,
    create_project,
    read_answers,
    update_project,
)

QUESTIONS = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))

# ------------------------------------------------------------------ combinations


def test_public_names():
    for name in scaffold.__all__:
        assert hasattr(scaffold, name), name


@pytest.mark.parametrize(
    ("question", "values"),
    [("api_style", API_STYLES), ("training_loop", TRAINING_LOOPS), ("task", TASKS)],
)
def test_choice_tuples_match_copier_yml(question, values):
    assert tuple(QUESTIONS[question]["choices"].values()) == values


def test_combinations_cover_every_choice_once():
    assert len(COMBINATIONS) == 18
    assert len(set(COMBINATIONS)) == 18
    assert {combo.api_style for combo in COMBINATIONS} == set(API_STYLES)
    assert {combo.training_loop for combo in COMBINATIONS} == set(TRAINING_LOOPS)
    assert {combo.task for combo in COMBINATIONS} == set(TASKS)


def test_combination_slug_and_answers():
    combo = Combination("functional", "fit", "image")
    assert combo.slug == "functional-fit-image"
    assert combo.answers() == {
        "api_style": "functional",
        "training_loop": "fit",
        "task": "image",
    }
    assert len({combo.slug for combo in COMBINATIONS}) == 18


def test_combination_is_frozen_and_checked():
    combo = COMBINATIONS[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        combo.task = "text"
    with pytest.raises(ScaffoldError, match="training_loop must be one of"):
        Combination("functional", "fitting", "image")


def test_template_root_is_the_checkout():
    assert scaffold.TEMPLATE_ROOT == REPO_ROOT
    assert (scaffold.TEMPLATE_ROOT / "copier.yml").is_file()


# ------------------------------------------------------------------ create_project


def test_create_project_renders_the_template(tmp_path):
    dest = create_project(
        tmp_path / "net",
        api_style="subclassing",
        training_loop="custom",
        task="text",
        project_name="Text Net",
        answers={"author_name": "Ada"},
        template=REPO_ROOT,
        vcs_ref="HEAD",
    )
    assert dest == (tmp_path / "net").absolute()
    assert (dest / "src" / "text_net").is_dir()
    answers = read_answers(dest)
    assert answers["api_style"] == "subclassing"
    assert answers["training_loop"] == "custom"
    assert answers["task"] == "text"
    assert answers["package_name"] == "text_net"
    assert answers["author_name"] == "Ada"


def test_create_project_uses_bundled_template_by_default(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        scaffold.api.copier, "run_copy", lambda *args, **kwargs: calls.append(args)
    )
    create_project(tmp_path / "net")
    assert calls == [(str(REPO_ROOT), (tmp_path / "net").absolute())]


def test_create_project_passes_options_to_copier(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        scaffold.api.copier,
        "run_copy",
        lambda *args, **kwargs: calls.append(kwargs),
    )
    create_project(
        tmp_path / "net",
        api_style="sequential",
        vcs_ref="v1.0.0",
        defaults=False,
        quiet=False,
    )
    (options,) = calls
    assert options["data"] == {"api_style": "sequential"}
    assert options["vcs_ref"] == "v1.0.0"
    assert options["defaults"] is False
    assert options["quiet"] is False
    assert options["overwrite"] is False
    assert options["unsafe"] is False


def test_keyword_answers_override_the_answers_dict(copy_project, tmp_path):
    dest = create_project(
        tmp_path / "net",
        api_style="sequential",
        answers={**DEFAULT_ANSWERS, "api_style": "functional"},
        template=REPO_ROOT,
        vcs_ref="HEAD",
    )
    assert read_answers(dest)["api_style"] == "sequential"


def test_copy_project_helper(copy_project, tmp_path):
    first = copy_project(tmp_path)
    second = copy_project(tmp_path, task="text")
    assert first != second
    assert read_answers(first)["task"] == "image"
    assert read_answers(second)["task"] == "text"
    assert (first / "src" / DEFAULT_PACKAGE).is_dir()


@pytest.mark.parametrize(
    ("option", "value"),
    [("api_style", "Sequential"), ("training_loop", "loop"), ("task", "audio")],
)
def test_bad_choice_is_refused_before_copier(tmp_path, monkeypatch, option, value):
    monkeypatch.setattr(scaffold.api.copier, "run_copy", pytest.fail)
    with pytest.raises(ScaffoldError, match=f"^{option} must be one of ") as caught:
        create_project(tmp_path / "net", **{option: value})
    assert ", ".join(scaffold.combinations.CHOICES[option]) in str(caught.value)
    assert not (tmp_path / "net").exists()


def test_bad_choice_in_answers_dict_is_refused(tmp_path):
    with pytest.raises(ScaffoldError, match="task must be one of image, text"):
        create_project(tmp_path / "net", answers={"task": "audio"})


def test_unknown_question_is_refused(tmp_path, stub_template):
    with pytest.raises(ScaffoldError, match="unknown question pakage_name"):
        create_project(
            tmp_path / "net", answers={"pakage_name": "net"}, template=stub_template
        )
    assert not (tmp_path / "net").exists()


def test_validator_failure_is_one_line_and_writes_nothing(tmp_path, stub_template):
    dest = tmp_path / "a" / "b" / "net"
    with pytest.raises(ScaffoldError) as caught:
        render_project(dest, template=stub_template, package_name="my-pkg")
    assert str(caught.value) == (
        "Validation error for question 'package_name': package_name must be a "
        "lowercase Python identifier starting with a letter (letters, digits, "
        "underscores), got 'my-pkg'"
    )
    assert list(tmp_path.iterdir()) == [stub_template]


def test_non_empty_destination_is_refused(tmp_path, stub_template):
    dest = tmp_path / "net"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match=r"is not empty.*overwrite=True"):
        render_project(dest, template=stub_template)
    assert files_under(dest) == ["notes.txt"]


def test_overwrite_renders_into_non_empty_destination(tmp_path, stub_template):
    dest = tmp_path / "net"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    (dest / "README.md").write_text("old")
    create_project(
        dest, answers=DEFAULT_ANSWERS, template=stub_template, overwrite=True
    )
    assert (dest / "notes.txt").read_text() == "mine"
    assert (dest / "README.md").read_text().startswith("# Demo Net")


def test_empty_destination_is_accepted(tmp_path, stub_template):
    dest = tmp_path / "net"
    dest.mkdir()
    render_project(dest, template=stub_template)
    assert "README.md" in files_under(dest)


def test_prompting_without_a_terminal_is_one_line_error(tmp_path, stub_template):
    # Under pytest stdin is not a terminal, so Copier cannot ask.
    with pytest.raises(ScaffoldError, match="no terminal to ask them on"):
        create_project(
            tmp_path / "net",
            answers={"task": "text"},
            template=stub_template,
            defaults=False,
        )
    assert not (tmp_path / "net").exists()


def test_destination_that_is_a_file_is_refused(tmp_path, stub_template):
    (tmp_path / "net").write_text("")
    with pytest.raises(ScaffoldError, match="not a directory"):
        render_project(tmp_path / "net", template=stub_template)


def test_template_without_copier_yml_is_refused(tmp_path):
    with pytest.raises(ScaffoldError, match=r"has no copier\.yml"):
        create_project(tmp_path / "net", template=tmp_path)


def test_unknown_vcs_ref_is_one_line_error(tmp_path, stub_template):
    with pytest.raises(ScaffoldError, match="no-such-ref"):
        render_project(tmp_path / "net", template=stub_template, vcs_ref="no-such-ref")
    assert not (tmp_path / "net").exists()


@pytest.fixture
def broken_template(stub_template, monkeypatch):
    """The stub template, failing to render its second file: after one is written.

    Copier renders files in the order the file system lists them, so a broken
    file in the template might come first; failing the second one is certain.
    """
    render_file = Worker._render_file
    written = []

    def fail_after_the_first_file(self, src_relpath, dst_relpath, *args, **kwargs):
        if written:
            raise jinja2.TemplateError(f"cannot render {src_relpath}")
        render_file(self, src_relpath, dst_relpath, *args, **kwargs)
        assert (Path(self.dst_path) / dst_relpath).is_file()
        written.append(dst_relpath)

    monkeypatch.setattr(Worker, "_render_file", fail_after_the_first_file)
    return stub_template


def test_failed_render_removes_the_folders_it_created(tmp_path, broken_template):
    dest = tmp_path / "new" / "deeper" / "net"
    with pytest.raises(ScaffoldError, match="cannot render"):
        render_project(dest, template=broken_template)
    assert not (tmp_path / "new").exists()


def test_failed_render_keeps_a_pre_existing_folder(tmp_path, broken_template):
    dest = tmp_path / "net"
    (dest / "src").mkdir(parents=True)
    (dest / "README.md").write_text("mine")
    (dest / "src" / "notes.txt").write_text("mine")
    with pytest.raises(ScaffoldError):
        create_project(
            dest,
            answers=DEFAULT_ANSWERS,
            template=broken_template,
            vcs_ref="HEAD",
            overwrite=True,
        )
    # What the render added is gone; what was there stays (a file the render
    # wrote over before the failure keeps its new text: overwrite means that).
    assert files_under(dest) == ["README.md", "src/notes.txt"]
    assert (dest / "src" / "notes.txt").read_text() == "mine"


def test_failed_render_leaves_an_empty_folder_empty(tmp_path, broken_template):
    dest = tmp_path / "net"
    dest.mkdir()
    with pytest.raises(ScaffoldError):
        render_project(dest, template=broken_template)
    assert dest.is_dir()
    assert list(dest.iterdir()) == []


# ------------------------------------------------------------------ update_project


def release(template: Path, readme: str, tag: str) -> None:
    """Commit a new README template to ``template`` and tag it."""
    (template / "templates" / "project" / "README.md.jinja").write_text(readme)
    commit_all(template, f"Release {tag}", tag=tag)


@pytest.fixture
def committed_project(tmp_path, stub_template):
    """A project rendered from the stub template at v0.1.0 and committed."""
    dest = render_project(tmp_path / "net", template=stub_template, vcs_ref=None)
    commit_all(dest, "Render")
    return dest


@pytest.mark.update
def test_update_pulls_a_new_template_version(committed_project, stub_template):
    assert read_answers(committed_project)["_commit"] == "v0.1.0"
    release(stub_template, "# {{ project_name }}\n\nVersion two.\n", "v0.2.0")
    update_project(committed_project)
    assert (
        committed_project / "README.md"
    ).read_text() == "# Demo Net\n\nVersion two.\n"
    answers = read_answers(committed_project)
    assert answers["_commit"] == "v0.2.0"
    assert answers["api_style"] == DEFAULT_ANSWERS["api_style"]


@pytest.mark.update
def test_update_changes_a_choice_and_keeps_the_rest(committed_project):
    update_project(committed_project, api_style="sequential", task="text")
    answers = read_answers(committed_project)
    assert answers["api_style"] == "sequential"
    assert answers["task"] == "text"
    assert answers["training_loop"] == DEFAULT_ANSWERS["training_loop"]
    assert answers["project_name"] == DEFAULT_ANSWERS["project_name"]
    assert "sequential fit text" in (committed_project / "README.md").read_text()


@pytest.mark.update
def test_update_keeps_user_edits(committed_project, stub_template):
    init = committed_project / "src" / DEFAULT_PACKAGE / "__init__.py"
    init.write_text(init.read_text() + "VALUE = 1\n")
    commit_all(committed_project, "Edit")
    release(stub_template, "# {{ project_name }}\n\nVersion two.\n", "v0.2.0")
    update_project(committed_project)
    assert init.read_text().endswith("VALUE = 1\n")
    assert "Version two." in (committed_project / "README.md").read_text()


@pytest.mark.update
def test_update_from_another_template(committed_project, tmp_path, stub_template):
    git(tmp_path, "clone", "--quiet", str(stub_template), "fork")
    fork = tmp_path / "fork"
    release(fork, "# {{ project_name }}\n\nFrom the fork.\n", "v0.3.0")
    update_project(committed_project, template=fork)
    assert "From the fork." in (committed_project / "README.md").read_text()


@pytest.mark.update
def test_update_refuses_uncommitted_changes(committed_project):
    (committed_project / "README.md").write_text("edited")
    with pytest.raises(ScaffoldError, match="dirty"):
        update_project(committed_project, task="text")
    assert (committed_project / "README.md").read_text() == "edited"


def test_update_refuses_a_folder_that_is_not_a_project(tmp_path):
    with pytest.raises(ScaffoldError, match="not a rendered project"):
        update_project(tmp_path)


def test_update_refuses_a_bad_choice(committed_project):
    with pytest.raises(ScaffoldError, match="api_style must be one of"):
        update_project(committed_project, api_style="sequentially")


def test_update_refuses_a_bad_conflict_mode(committed_project):
    with pytest.raises(ScaffoldError, match="conflict must be one of inline, rej"):
        update_project(committed_project, conflict="merge")
