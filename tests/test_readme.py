"""README.md's opening commands: CI runs the second; the first works as pasted."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest
from conftest import REPO_ROOT

FENCED_BASH = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def opening_commands() -> tuple[str, str]:
    """The main-job and test commands: the first two bash blocks of README.md."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [block.strip() for block in FENCED_BASH.findall(readme)]
    assert readme.startswith("# keras-scaffold\n\n```bash\n"), "README opens with them"
    return blocks[0], blocks[1]


def test_ci_runs_the_readme_test_command():
    script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line
        for line in script.splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    assert commands[-1] == opening_commands()[1]


@pytest.mark.slow
def test_main_command_installs_generates_and_trains(tmp_path: Path):
    """Paste the first command into a fresh checkout, as a newcomer would.

    The checkout is a copy of this one (uncommitted edits included) and the
    environment a fresh virtual environment that reuses the installed
    TensorFlow, so the command's own installs go into it and nowhere else.
    """
    checkout = tmp_path / "keras-scaffold"
    shutil.copytree(
        REPO_ROOT,
        checkout,
        ignore=shutil.ignore_patterns(
            "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info", "build"
        ),
    )
    environment = tmp_path / "venv"
    venv.create(environment, system_site_packages=True, with_pip=True)
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(environment),
        "PATH": f"{environment / 'bin'}{os.pathsep}{os.environ['PATH']}",
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
    final = re.search(r"^Final metrics: .*val_accuracy=([\d.]+)", result.stdout, re.M)
    assert final, result.stdout[-3000:]
    assert float(final[1]) >= 0.9
    project = tmp_path / "my-net"
    assert (project / ".copier-answers.yml").is_file()
    assert list(project.glob("runs/*/model.keras"))
    # The project went into the fresh environment, not the one running this test.
    located = subprocess.run(
        [environment / "bin" / "python", "-c", "import my_net; print(my_net.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(project) in located.stdout
