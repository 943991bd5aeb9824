"""The ``keras-scaffold`` command: flags mapped onto the library API.

keras-scaffold new DEST [--api-style S] [--training-loop L] [--task T] [--name N]
                   [--package-name P] [--description D] [--author A]
keras-scaffold update DEST [--api-style S] [--training-loop L] [--task T]
keras-scaffold list
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from scaffold import __version__
from scaffold.api import create_project, find_conflicts, read_answers, update_project
from scaffold.combinations import API_STYLES, COMBINATIONS, TASKS, TRAINING_LOOPS
from scaffold.errors import ScaffoldError

__all__ = ["main"]

PROG = "keras-scaffold"

# Exit statuses: a request that failed, a command line argparse rejects, Ctrl-C.
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _UsageError(Exception):
    """A command line argparse rejects; carries its one-line message."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a bad command line in one line.

    argparse prints the whole usage and exits; this raises instead, so ``main``
    returns a status and prints one line, like for every other error.
    """

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {message}; see {self.prog} --help")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` by default.

    Returns:
        The exit status: 0 on success, 1 when the request fails or an update
        leaves files to merge by hand, 2 for a bad command line, 130 when
        interrupted.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except _UsageError as error:
        _print_error(str(error))
        return EXIT_USAGE
    except ScaffoldError as error:
        _print_error(str(error))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _print_error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``keras-scaffold list | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Generate a runnable Keras 3 project, or update one.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(
        title="commands", dest="command", required=True, parser_class=_Parser
    )

    new = commands.add_parser(
        "new",
        help="render a new project",
        description=(
            "Render a new project into DEST. With --api-style, --training-loop and "
            "--task all given, every other question takes its default; otherwise "
            "the missing answers are asked for (defaults when stdin is not a "
            "terminal)."
        ),
    )
    new.add_argument("dest", metavar="DEST", help="folder to create")
    _add_choice_flags(new)
    new.add_argument("--name", help="the project's name, as people read it")
    new.add_argument(
        "--package-name", help="the Python package (default: derived from --name)"
    )
    new.add_argument("--description", help="a one-line description")
    new.add_argument("--author", help="the author's name")
    new.add_argument(
        "--force",
        action="store_true",
        help="render into a non-empty DEST, overwriting files the template has",
    )
    _add_source_flags(new)
    new.set_defaults(run=_run_new)

    update = commands.add_parser(
        "update",
        help="update a project to a newer template, or change its choices",
        description=(
            "Merge the template's changes into the project in DEST, which must be "
            "a git repository with no uncommitted changes. Answers not given keep "
            "their recorded values."
        ),
    )
    update.add_argument("dest", metavar="DEST", help="the project folder")
    _add_choice_flags(update)
    update.add_argument(
        "--conflict",
        choices=("inline", "rej"),
        default="inline",
        help="show changes that do not merge as inline markers or .rej files",
    )
    _add_source_flags(update)
    update.set_defaults(run=_run_update)

    list_ = commands.add_parser(
        "list",
        help="list the supported combinations",
        description="List the 18 supported combinations of the three choices.",
    )
    list_.set_defaults(run=_run_list)
    return parser


def _add_choice_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api-style", choices=API_STYLES, help="how the model is written"
    )
    parser.add_argument(
        "--training-loop", choices=TRAINING_LOOPS, help="how the model is trained"
    )
    parser.add_argument("--task", choices=TASKS, help="what the model learns")


def _add_source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vcs-ref",
        metavar="REF",
        help=(
            "template git reference (default: its latest release tag, or its "
            "HEAD commit where it has none, as in a clone of the published "
            "repository)"
        ),
    )
    parser.add_argument(
        "--template",
        metavar="PATH_OR_URL",
        help="another template (default: the one bundled with this package)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only errors and the result"
    )


def _run_new(args: argparse.Namespace) -> int:
    choices = (args.api_style, args.training_loop, args.task)
    dest = create_project(
        args.dest,
        api_style=args.api_style,
        training_loop=args.training_loop,
        task=args.task,
        project_name=args.name,
        answers={
            question: value
            for question, value in (
                ("package_name", args.package_name),
                ("description", args.description),
                ("author_name", args.author),
            )
            if value is not None
        },
        vcs_ref=args.vcs_ref,
        defaults=all(choices) or not _stdin_is_terminal(),
        overwrite=args.force,
        template=args.template,
        quiet=args.quiet,
    )
    print(f"created {_describe(dest)}")
    return 0


def _run_update(args: argparse.Namespace) -> int:
    dest = update_project(
        args.dest,
        api_style=args.api_style,
        training_loop=args.training_loop,
        task=args.task,
        vcs_ref=args.vcs_ref,
        template=args.template,
        quiet=args.quiet,
        conflict=args.conflict,
    )
    conflicts = find_conflicts(dest)
    if conflicts:
        print(f"updated {_describe(dest)}")
        _print_error(
            f"{len(conflicts)} file(s) did not merge: {', '.join(conflicts)}; "
            "resolve them by hand (conflict markers, or the hunks of a .rej "
            "file), then commit"
        )
        return EXIT_ERROR
    print(f"updated {_describe(dest)}; review the changes with git diff")
    return 0


def _run_list(args: argparse.Namespace) -> int:
    header = ("#", "api_style", "training_loop", "task", "slug")
    rows = [
        (str(number), combo.api_style, combo.training_loop, combo.task, combo.slug)
        for number, combo in enumerate(COMBINATIONS, start=1)
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(5)]
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )
    return 0


def _stdin_is_terminal() -> bool:
    """Whether Copier can ask questions: stdin exists and is a terminal."""
    return sys.stdin is not None and sys.stdin.isatty()


def _describe(dest: os.PathLike[str]) -> str:
    """``dest`` and, where recorded, its combination's slug."""
    try:
        answers = read_answers(dest)
    except ScaffoldError:
        return str(dest)
    keys = ("api_style", "training_loop", "task")
    if not all(key in answers for key in keys):
        return str(dest)
    return f"{dest} ({'-'.join(str(answers[key]) for key in keys)})"


def _print_error(message: str, stream: TextIO | None = None) -> None:
    """Print ``error: message`` on one line, red where stderr is a terminal."""
    stream = stream or sys.stderr
    line = f"error: {message}"
    if stream.isatty() and "NO_COLOR" not in os.environ:
        line = f"\033[31m{line}\033[0m"
    print(line, file=stream)
