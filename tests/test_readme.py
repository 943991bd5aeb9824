"""README.md's opening commands: CI runs both as pasted; the first one works.

.ci/run pastes both into a fresh virtual environment on a fresh clone, as a
newcomer would, and sets ``KERAS_SCAFFOLD_README_PROJECT`` to the project the
first one made: the test of the first command then checks that project instead
of running the command (about two minutes) a second time. Without the variable,
as on a developer's machine, it runs the command itself, in a copy of the
checkout and a fresh environment.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, fresh_environment

FENCED_BASH = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: Set by .ci/run to the project README's first command made (its ../my-net).
MADE_BY_CI = "KERAS_SCAFFOLD_README_PROJECT"
_CACHES_AND_BUILDS = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info", "build"
)


def opening_commands() -> tuple[str, str]:
    """The main-job and test commands: the first two bash blocks of README.md."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [block.strip() for block in FENCED_BASH.findall(readme)]
    assert readme.startswith("# keras-scaffold\n\n```bash\n"), "README opens with them"
    return blocks[0], blocks[1]


def not_in_a_clone(folder: str, names: list[str]) -> set[str]:
    """What a fresh clone lacks: caches, builds, virtual environments (venv/)."""
    ignored = set(_CACHES_AND_BUILDS(folder, names))
    ignored.update(name for name in names if Path(folder, name, "pyvenv.cfg").is_file())
    return ignored


def test_ci_runs_both_readme_commands_in_a_fresh_virtual_environment():
    script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    main, tests = opening_commands()
    assert commands.count(main) == 1, ".ci/run does not run README's first command"
    assert commands[-1] == tests, ".ci/run does not end with README's test command"
    clone = commands.index('git clone --quiet "$checkout" "$work/keras-scaffold"')
    create = commands.index('python -m venv "$work/venv"')
    activate = commands.index('source "$work/venv/bin/activate"')
    assert clone < create < activate < commands.index(main) == len(commands) - 2
    # Between the activation and the commands, only the variable this module reads.
    assert commands[activate + 1 : -2] == [f'export {MADE_BY_CI}="$work/my-net"']
    assert "../my-net" in main


@pytest.mark.slow
def test_main_command_installs_generates_and_trains(tmp_path: Path):
    """Paste the first command into a fresh checkout, as a newcomer would.

    Under .ci/run, which ran it in the environment running this test, check what
    it made. Otherwise run it here: in a copy of this checkout (uncommitted edits
    included) and a fresh virtual environment that reuses this one's TensorFlow,
    so that the command's own installs go into it and nowhere else.
    """
    made = os.environ.get(MADE_BY_CI)
    if made:
        project = Path(made)
        python = Path(sys.executable)
        assert sys.prefix != sys.base_prefix, ".ci/run runs in a virtual environment"
    else:
        checkout = tmp_path / "keras-scaffold"
        shutil.copytree(REPO_ROOT, checkout, ignore=not_in_a_clone)
        environment = tmp_path / "venv"
        python = fresh_environment(environment)
        env = {
            **os.environ,
            "VIRTUAL_ENV": str(environment),
            "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        }
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", opening_commands()[0]],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        final = re.search(
            r"^Final metrics: .*val_accuracy=([\d.]+)", result.stdout, re.M
        )
        assert final, result.stdout[-3000:]
        assert float(final[1]) >= 0.9
        project = tmp_path / "my-net"

    assert (project / ".copier-answers.yml").is_file()
    (run_dir,) = [path.parent for path in project.glob("runs/*/model.keras")]
    with (run_dir / "history.csv").open(encoding="utf-8", newline="") as file:
        last_epoch = list(csv.DictReader(file))[-1]
    assert float(last_epoch["val_accuracy"]) >= 0.9
    # The project went into the command's environment, not elsewhere.
    located = subprocess.run(
        [python, "-c", "import my_net; print(my_net.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert located.stdout.startswith(str(project.resolve()))
