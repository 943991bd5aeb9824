"""The keras-scaffold command, run in-process through ``main([...])``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, commit_all, files_under

import scaffold
from scaffold import COMBINATIONS, read_answers
from scaffold.cli import main

ALL_CHOICES = [
    "--api-style",
    "sequential",
    "--training-loop",
    "custom",
    "--task",
    "text",
]
# Render the checkout's working tree, not its latest release tag.
WORKING_TREE = ["--vcs-ref", "HEAD"]


class TerminalStream(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def one_line(text: str) -> str:
    """The single line in ``text``; fails if there are more."""
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def fake_create(monkeypatch):
    """Replace create_project in the CLI; return the keyword arguments it got."""
    calls = []

    def create_project(dest, **options):
        calls.append(options)
        return dest

    monkeypatch.setattr("scaffold.cli.create_project", create_project)
    return calls


# ------------------------------------------------------------------ list


def test_list_prints_a_row_per_combination(capsys):
    assert main(["list"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["#", "api_style", "training_loop", "task", "slug"]
    assert len(rows) == 18
    for number, (row, combo) in enumerate(zip(rows, COMBINATIONS, strict=True), 1):
        assert row.split() == [
            str(number),
            combo.api_style,
            combo.training_loop,
            combo.task,
            combo.slug,
        ]


def test_python_dash_m_scaffold():
    result = subprocess.run(
        [sys.executable, "-m", "scaffold", "list"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 19


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"keras-scaffold {scaffold.__version__}"


def test_help(capsys):
    assert main(["new", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--api-style", "--training-loop", "--task", "--name", "--force"):
        assert flag in out


# ------------------------------------------------------------------ usage errors


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert one_line(capsys.readouterr().err).startswith("error: keras-scaffold: ")


@pytest.mark.parametrize(
    ("flag", "allowed"),
    [
        ("--api-style", "'sequential', 'functional', 'subclassing'"),
        ("--training-loop", "'fit', 'train_on_batch', 'custom'"),
        ("--task", "'image', 'text'"),
    ],
)
def test_new_with_bad_flag_value(tmp_path, capsys, flag, allowed):
    dest = tmp_path / "net"
    assert main(["new", str(dest), flag, "bogus"]) == 2
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert line.startswith(f"error: keras-scaffold new: argument {flag}: ")
    assert "invalid choice: 'bogus'" in line
    assert allowed in line
    assert captured.out == ""
    assert not dest.exists()


def test_update_with_bad_flag_value(tmp_path, capsys):
    assert main(["update", str(tmp_path), "--task", "audio"]) == 2
    assert "invalid choice: 'audio'" in one_line(capsys.readouterr().err)


# ------------------------------------------------------------------ new


def test_new_renders_a_project(tmp_path, capsys):
    dest = tmp_path / "net"
    args = ["new", str(dest), *ALL_CHOICES, *WORKING_TREE, "-q"]
    status = main([*args, "--name", "My Cool Net!"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert one_line(captured.out) == (f"created {dest} (sequential-custom-text)")
    answers = read_answers(dest)
    assert (answers["api_style"], answers["training_loop"], answers["task"]) == (
        "sequential",
        "custom",
        "text",
    )
    assert answers["package_name"] == "my_cool_net"
    assert (dest / "src" / "my_cool_net").is_dir()


def test_new_sets_every_identity_answer(tmp_path, capsys):
    dest = tmp_path / "net"
    args = ["new", str(dest), *ALL_CHOICES, *WORKING_TREE, "-q"]
    identity = ["--name", "Handwritten Digit Classifier For The Postal Service"]
    identity += ["--package-name", "digits", "--description", "Reads zip codes"]
    assert main([*args, *identity, "--author", "Ada"]) == 0, capsys.readouterr().err
    answers = read_answers(dest)
    assert (answers["package_name"], answers["description"]) == (
        "digits",
        "Reads zip codes",
    )
    assert answers["author_name"] == "Ada"
    assert (dest / "src" / "digits").is_dir()


def test_new_on_stub_template(tmp_path, capsys, stub_template):
    dest = tmp_path / "net"
    status = main(
        ["new", str(dest), *ALL_CHOICES, "--template", str(stub_template), "-q"]
    )
    assert status == 0, capsys.readouterr().err
    assert read_answers(dest)["package_name"] == "keras_project"
    assert "sequential custom text" in (dest / "README.md").read_text()


def test_new_refuses_a_non_empty_destination(tmp_path, capsys):
    dest = tmp_path / "net"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    assert main(["new", str(dest), *ALL_CHOICES]) == 1
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert line.startswith("error: destination ")
    assert "is not empty" in line
    assert "--force" in line
    assert "\033[" not in line  # stderr is not a terminal here
    assert files_under(dest) == ["notes.txt"]


def test_new_force_renders_into_a_non_empty_destination(tmp_path, stub_template):
    dest = tmp_path / "net"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    args = ["new", str(dest), *ALL_CHOICES, "--template", str(stub_template), "-q"]
    assert main([*args, "--force"]) == 0
    assert (dest / "notes.txt").read_text() == "mine"
    assert (dest / "README.md").is_file()


def test_new_validator_error_is_one_line(tmp_path, capsys):
    dest = tmp_path / "net"
    args = ["new", str(dest), *ALL_CHOICES, *WORKING_TREE, "-q"]
    assert main([*args, "--name", "JSON"]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("error: Validation error for question 'package_name'")
    assert not dest.exists()


def test_error_is_red_on_a_terminal(tmp_path, monkeypatch):
    stderr = TerminalStream()
    monkeypatch.setattr(sys, "stderr", stderr)
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["new", str(tmp_path), *ALL_CHOICES]) == 1
    assert stderr.getvalue().startswith("\033[31merror: destination ")
    assert stderr.getvalue().endswith("\033[0m\n")


def test_no_color_turns_red_off(tmp_path, monkeypatch):
    stderr = TerminalStream()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setenv("NO_COLOR", "1")
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["new", str(tmp_path), *ALL_CHOICES]) == 1
    assert stderr.getvalue().startswith("error: destination ")


def test_new_maps_flags_onto_create_project(tmp_path, fake_create):
    args = ["new", str(tmp_path / "x"), *ALL_CHOICES, "--name", "X Net"]
    identity = ["--package-name", "xnet", "--description", "D", "--author", "A"]
    assert main([*args, *identity, "--force", "--vcs-ref", "v1.2.0"]) == 0
    (options,) = fake_create
    assert options == {
        "api_style": "sequential",
        "training_loop": "custom",
        "task": "text",
        "project_name": "X Net",
        "answers": {"package_name": "xnet", "description": "D", "author_name": "A"},
        "vcs_ref": "v1.2.0",
        "defaults": True,
        "overwrite": True,
        "template": None,
        "quiet": False,
    }


@pytest.mark.parametrize("stdin_is_terminal", [True, False])
def test_new_with_all_choices_never_prompts(
    tmp_path, monkeypatch, fake_create, stdin_is_terminal
):
    stdin = TerminalStream() if stdin_is_terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["new", str(tmp_path / "x"), *ALL_CHOICES]) == 0
    assert fake_create[0]["defaults"] is True


@pytest.mark.parametrize("stdin_is_terminal", [True, False])
def test_new_with_missing_choices_prompts_on_a_terminal(
    tmp_path, monkeypatch, fake_create, stdin_is_terminal
):
    stdin = TerminalStream() if stdin_is_terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["new", str(tmp_path / "x"), "--task", "image"]) == 0
    # Copier asks what is missing on a terminal, takes defaults otherwise.
    assert fake_create[0]["defaults"] is (not stdin_is_terminal)
    assert fake_create[0]["api_style"] is None


def test_new_without_choices_off_a_terminal_takes_defaults(
    tmp_path, monkeypatch, capsys, stub_template
):
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    dest = tmp_path / "net"
    assert main(["new", str(dest), "--template", str(stub_template), "-q"]) == 0
    assert one_line(capsys.readouterr().out) == f"created {dest} (functional-fit-image)"


# ------------------------------------------------------------------ update


@pytest.fixture
def committed_project(tmp_path, stub_template):
    dest = tmp_path / "net"
    args = ["new", str(dest), "--template", str(stub_template), *ALL_CHOICES, "-q"]
    assert main(args) == 0
    commit_all(dest, "Render")
    return dest


@pytest.mark.update
def test_update_changes_a_choice(committed_project, capsys):
    capsys.readouterr()
    assert main(["update", str(committed_project), "--api-style", "functional"]) == 0
    out = capsys.readouterr().out
    assert f"updated {committed_project} (functional-custom-text)" in out
    answers = read_answers(committed_project)
    assert answers["api_style"] == "functional"
    assert answers["task"] == "text"
    assert answers["package_name"] == "keras_project"
    assert (committed_project / "src" / "keras_project").is_dir()


@pytest.mark.update
def test_update_refuses_uncommitted_changes(committed_project, capsys):
    (committed_project / "README.md").write_text("edited")
    assert main(["update", str(committed_project), "--task", "image"]) == 1
    assert "dirty" in one_line(capsys.readouterr().err)


def test_update_that_leaves_conflicts_says_so_and_fails(
    committed_project, capsys, monkeypatch
):
    def update_project(dest, **options):
        (Path(dest) / "README.md.rej").write_text("@@ a hunk that did not apply\n")
        return dest

    monkeypatch.setattr("scaffold.cli.update_project", update_project)
    capsys.readouterr()
    assert main(["update", str(committed_project)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"updated {committed_project}")
    assert one_line(captured.err) == (
        "error: 1 file(s) did not merge: README.md.rej; resolve them by hand "
        "(conflict markers, or the hunks of a .rej file), then commit"
    )


def test_update_refuses_a_folder_that_is_not_a_project(tmp_path, capsys):
    assert main(["update", str(tmp_path)]) == 1
    line = one_line(capsys.readouterr().err)
    assert line == f"error: {tmp_path} is not a rendered project: it has no " + (
        ".copier-answers.yml"
    )
