"""Render and update projects: a thin layer over ``copier.run_copy`` / ``run_update``.

The layer adds what a scaffolder's users need and Copier leaves to its caller: the
three choices checked before anything runs, a refusal to render into a non-empty
folder by accident, nothing half-written left behind on failure, and one error
class with a one-line message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import copier
import jinja2
import yaml
from copier.errors import CopierError, InteractiveSessionError
from packaging.version import InvalidVersion, Version

from scaffold.combinations import CHOICES, check_choice
from scaffold.errors import ScaffoldError
from scaffold.template import find_template_root

__all__ = [
    "ANSWERS_FILE",
    "create_project",
    "default_ref",
    "find_conflicts",
    "read_answers",
    "update_project",
]

#: Where a rendered project records its answers (``_answers_file`` in copier.yml).
ANSWERS_FILE = ".copier-answers.yml"

# Errors that mean "this request failed", not "the scaffolder has a bug": Copier's
# own, validators and unknown git references (ValueError), missing paths and failed
# git commands (OSError, which plumbum's ProcessExecutionError is), and a template
# that does not render (jinja2.TemplateError).
_EXPECTED_ERRORS = (CopierError, ValueError, OSError, jinja2.TemplateError)


def create_project(
    dest: str | os.PathLike[str],
    *,
    api_style: str | None = None,
    training_loop: str | None = None,
    task: str | None = None,
    project_name: str | None = None,
    answers: Mapping[str, Any] | None = None,
    vcs_ref: str | None = None,
    defaults: bool = True,
    overwrite: bool = False,
    template: str | os.PathLike[str] | None = None,
    quiet: bool = True,
) -> Path:
    """Render a new project from the template.

    Args:
        dest: The folder to create. It must not exist, or be empty, unless
            ``overwrite`` is true.
        api_style: One of ``API_STYLES``.
        training_loop: One of ``TRAINING_LOOPS``.
        task: One of ``TASKS``.
        project_name: The project's human-readable name.
        answers: Any other answers by question name (``package_name``,
            ``description``, ``author_name``, ...). The keyword arguments above
            take precedence over the same keys here.
        vcs_ref: The template's git reference to render. ``None`` means its latest
            release tag or, where it has no release tags (a clone of the published
            repository, which carries none), its ``HEAD`` commit as committed
            (see ``default_ref``); ``"HEAD"`` includes uncommitted changes of a
            local template.
        defaults: Use each unanswered question's default. When false, Copier asks
            the unanswered questions interactively (this needs a terminal).
        overwrite: Render into a non-empty ``dest``, overwriting files that the
            template also has.
        template: A template path or URL; the bundled template by default.
        quiet: Suppress Copier's progress output and its closing message.

    Returns:
        The absolute path of the rendered project.

    Raises:
        ScaffoldError: A choice is not allowed, a question's validator rejects its
            answer, ``dest`` is not empty, or Copier fails otherwise. Whatever the
            call had written is removed by then.
    """
    data = _collect_answers(
        answers,
        api_style=api_style,
        training_loop=training_loop,
        task=task,
        project_name=project_name,
    )
    source = _template_source(template)
    _check_known_questions(source, data)
    dest = Path(dest).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise ScaffoldError(f"destination {dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise ScaffoldError(
            f"destination {dest} is not empty; "
            "pass overwrite=True (--force on the command line) to render into it"
        )
    undo = _Undo(dest)
    try:
        copier.run_copy(
            source,
            dest,
            data=data,
            vcs_ref=vcs_ref if vcs_ref is not None else default_ref(source),
            defaults=defaults,
            overwrite=overwrite,
            quiet=quiet,
            unsafe=False,
            cleanup_on_error=False,
        )
    except BaseException as error:
        undo()
        if isinstance(error, _EXPECTED_ERRORS) and not isinstance(
            error, KeyboardInterrupt
        ):
            raise ScaffoldError(_one_line(error)) from error
        raise
    return dest


def update_project(
    dest: str | os.PathLike[str],
    *,
    api_style: str | None = None,
    training_loop: str | None = None,
    task: str | None = None,
    answers: Mapping[str, Any] | None = None,
    vcs_ref: str | None = None,
    defaults: bool = True,
    template: str | os.PathLike[str] | None = None,
    quiet: bool = True,
    conflict: Literal["inline", "rej"] = "inline",
) -> Path:
    """Update a rendered project to a newer template version, or change answers.

    The project must be a git repository with no uncommitted changes: Copier
    merges the template's changes into it, and the user reviews them with git.

    Args:
        dest: The project folder (it holds ``.copier-answers.yml``).
        api_style: A new API style; the recorded one when omitted.
        training_loop: A new training loop; the recorded one when omitted.
        task: A new task; the recorded one when omitted.
        answers: Other new answers by question name.
        vcs_ref: The template's git reference to update to. ``None`` means its
            latest release tag or, where it has none, its ``HEAD`` commit (see
            ``default_ref``); ``":current:"`` the version the project records, to
            change answers only.
        defaults: Keep every recorded answer not given here. When false, Copier
            asks the questions again, the recorded answers as defaults.
        template: Take the new version from this template path or URL instead of
            the one recorded in the answers file.
        quiet: Suppress Copier's progress output.
        conflict: How to show a change that does not merge cleanly: ``"inline"``
            conflict markers or ``"rej"`` files.

    Returns:
        The absolute path of the project.

    Raises:
        ScaffoldError: ``dest`` is not a rendered project, a choice or answer is
            not allowed, the project has uncommitted changes, or Copier fails
            otherwise.
    """
    data = _collect_answers(
        answers, api_style=api_style, training_loop=training_loop, task=task
    )
    if conflict not in ("inline", "rej"):
        raise ScaffoldError(f"conflict must be one of inline, rej; got {conflict!r}")
    dest = Path(dest).expanduser().absolute()
    if not (dest / ANSWERS_FILE).is_file():
        raise ScaffoldError(
            f"{dest} is not a rendered project: it has no {ANSWERS_FILE}"
        )
    source = None if template is None else _template_source(template)
    recorded_source = read_answers(dest).get("_src_path")
    _check_known_questions(source or recorded_source, data)
    if vcs_ref is None and (source or recorded_source):
        vcs_ref = default_ref(str(source or recorded_source))
    options: dict[str, Any] = {
        "data": data,
        "vcs_ref": _vcs_ref(vcs_ref),
        "defaults": defaults,
        # Copier refuses to update without it; git holds the previous state.
        "overwrite": True,
        "quiet": quiet,
        "unsafe": False,
        "conflict": conflict,
    }
    try:
        if source is None:
            copier.run_update(dest, **options)
        else:
            # run_update takes its source from the answers file only; the Worker
            # it wraps also takes one (copier's public alias is deprecated).
            from copier._main import Worker

            with Worker(src_path=source, dst_path=dest, **options) as worker:
                worker.run_update()
    except _EXPECTED_ERRORS as error:
        if isinstance(error, KeyboardInterrupt):
            raise
        raise ScaffoldError(_one_line(error)) from error
    return dest


def find_conflicts(project: str | os.PathLike[str]) -> list[str]:
    """The files an update could not merge, for the user to resolve by hand.

    Args:
        project: An updated project (a git repository).

    Returns:
        Sorted paths relative to the project: files with inline conflict markers
        (git lists them as unmerged) and ``.rej`` files.
    """
    project = Path(project)
    unmerged = subprocess.run(
        ["git", "diff", "--name-only", "--diff-filter=U"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    rejected = [
        path.relative_to(project).as_posix()
        for path in project.rglob("*.rej")
        if ".git" not in path.relative_to(project).parts
    ]
    return sorted({*unmerged, *rejected})


def read_answers(project: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a rendered project's recorded answers.

    Args:
        project: The project folder.

    Returns:
        The answers by question name, plus Copier's ``_src_path`` and ``_commit``.
    """
    path = Path(project) / ANSWERS_FILE
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ScaffoldError(f"cannot read {path}: {_one_line(error)}") from error


def default_ref(template: str | os.PathLike[str]) -> str | None:
    """The git reference rendered when none is given: a release, else ``HEAD``.

    Copier's own default is the template's newest release tag (a PEP 440 version,
    prereleases left out), or ``HEAD`` with the warning "No git tags found in
    template" where it has none. Tags do not travel with a branch, so a clone of
    the published repository often has none; this makes that case deliberate:

    - a template with a release tag: ``None``, which lets Copier take the newest;
    - a local git template without one: the full hash of its ``HEAD`` commit. A
      commit, not ``"HEAD"``: Copier would add a local checkout's uncommitted
      changes to ``"HEAD"`` and record a commit that exists nowhere. The project
      records the commit (``_commit``, its short hash), which every clone of the
      branch resolves, and the release it builds on (``_template_version``, from
      copier.yml);
    - a remote template without one: ``"HEAD"``, its default branch;
    - a template that is not a git repository (a wheel's copy): ``None``; Copier
      renders the folder and records no ``_commit``.

    Args:
        template: A template path or URL.
    """
    text = os.fspath(template)
    if _is_url(text):
        listing = _git_output("ls-remote", "--tags", "--refs", "--", text)
        if listing is None:
            return None  # Copier reports an unreachable template itself.
        tags = [line.split("refs/tags/", 1)[-1] for line in listing.splitlines()]
        return None if _has_release(tags) else "HEAD"
    path = Path(text).expanduser().absolute()
    if not (path / ".git").exists():
        return None  # not a git repository root: Copier does not version it
    tags = _git_output("tag", "--list", cwd=path)
    if tags is None or _has_release(tags.split()):
        return None
    return _git_output("rev-parse", "--verify", "HEAD^{commit}", cwd=path) or None


def _has_release(tags: list[str]) -> bool:
    """Whether any tag is a release Copier would pick (a final PEP 440 version)."""
    for tag in tags:
        try:
            if not Version(tag).is_prerelease:
                return True
        except InvalidVersion:
            continue
    return False


def _git_output(*args: str, cwd: Path | None = None) -> str | None:
    """git's output, stripped, or None where git fails or is missing."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _vcs_ref(vcs_ref: str | None) -> Any:
    """Copier's enum for ``":current:"``, which its command line, not its API, maps."""
    return copier.VcsRef.CURRENT if vcs_ref == ":current:" else vcs_ref


def _collect_answers(
    answers: Mapping[str, Any] | None, **named: str | None
) -> dict[str, Any]:
    """Merge the named answers over ``answers`` and check the three choices."""
    data = dict(answers or {})
    data.update({key: value for key, value in named.items() if value is not None})
    for option in CHOICES:
        if option in data:
            check_choice(option, data[option])
    return data


def _template_source(template: str | os.PathLike[str] | None) -> str:
    """The template to give Copier: a local folder checked to exist, or a URL."""
    if template is None:
        return str(find_template_root())
    text = os.fspath(template)
    if _is_url(text):
        return text
    path = Path(text).expanduser().absolute()
    if not (path / "copier.yml").is_file() and not (path / "copier.yaml").is_file():
        raise ScaffoldError(f"template {path} has no copier.yml")
    return str(path)


def _is_url(text: str) -> bool:
    return "://" in text or text.startswith(("gh:", "gl:", "git@"))


def _check_known_questions(source: str | None, data: Mapping[str, Any]) -> None:
    """Refuse answers to questions a local template does not ask.

    Copier would silently ignore them, so a misspelt name would go unnoticed.
    """
    if not data or not source or _is_url(source):
        return
    for name in ("copier.yml", "copier.yaml"):
        config = Path(source) / name
        if config.is_file():
            break
    else:
        return
    try:
        questions = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return  # Copier itself reports a broken file.
    known = sorted(
        name
        for name, spec in questions.items()
        if not name.startswith("_")
        and not (isinstance(spec, dict) and spec.get("when") is False)
    )
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ScaffoldError(
            f"unknown question {', '.join(unknown)}; "
            f"the template asks {', '.join(known)}"
        )


def _one_line(error: BaseException) -> str:
    """An exception's message on one line (Copier's can span several)."""
    if isinstance(error, InteractiveSessionError):
        # Copier's message names its own command-line flags.
        return (
            "questions were left unanswered and there is no terminal to ask "
            "them on; answer them or use their defaults (defaults=True)"
        )
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, jinja2.TemplateSyntaxError) and error.name:
        # The template file and line, relative to the template's root.
        text = f"{error.name}:{error.lineno}: {text}"
    return text


class _Undo:
    """Remove what a failed render wrote, never what was there before.

    A destination that did not exist is removed with every parent folder the call
    created. A destination that existed keeps its previous entries (files it
    overwrote stay overwritten) and loses the new ones.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.created = None
        if dest.exists():
            self.before = {path for path in dest.rglob("*")}
        else:
            self.before = set()
            self.created = dest
            while not self.created.parent.exists():
                self.created = self.created.parent

    def __call__(self) -> None:
        if self.created is not None:
            shutil.rmtree(self.created, ignore_errors=True)
            return
        # Deepest first, so that a new folder is empty by the time it is reached.
        for path in sorted(self.dest.rglob("*"), reverse=True):
            if path in self.before:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
