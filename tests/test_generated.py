"""The generated-project matrix: every combination renders clean and passes its tests.

Each of the 18 combinations is rendered once per session. The quick checks (no
leftover Jinja, black, ruff) run for all of them; the generated project's own
test suite runs for all of them too: its quick part (``-m "not slow"``) in every
combination (the files that depend on the loop and the task alone, once per
loop x task pair) and in full (training runs, resume after a kill,
distribution) in COVERING, which spans every API style, training loop and
task. Every quick suite takes its loop's steps on JAX (the generated
test_benchmark.py); COVERING's tests/test_backends.py also trains, resumes and
evaluates on JAX and on PyTorch, one test per backend.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, copy_project, fresh_environment

from scaffold import COMBINATIONS, Combination

#: One project per API style; together they cover every loop and both tasks.
COVERING = (
    Combination("sequential", "fit", "image"),
    Combination("functional", "train_on_batch", "text"),
    Combination("subclassing", "custom", "image"),
)
#: With COVERING, one project per training loop x task pair: the generated tests
#: in PER_LOOP_AND_TASK run in these six only. Their text is the same in every
#: project of a task, and what they exercise (the data pipeline, the commands'
#: handling of bad input and damaged files, resume) is written per task and per
#: loop; the API style's code under them is tested in all 18 by the rest.
LOOP_AND_TASK = (
    *COVERING,
    Combination("subclassing", "fit", "text"),
    Combination("sequential", "train_on_batch", "image"),
    Combination("functional", "custom", "text"),
)
PER_LOOP_AND_TASK = (
    "tests/test_data.py",
    "tests/test_faults.py",
    "tests/test_startup.py",
)
#: The backends besides TensorFlow that COVERING's generated test_backends.py
#: trains, resumes and evaluates on (the small preset, two epochs); on one
#: shared 2-core machine each took 1-3 minutes (CHANGELOG, issue 18).
OTHER_BACKENDS = ("jax", "torch")
#: Answers at the edge of what copier.yml's validators allow.
EDGE_ANSWERS = {
    "package_name": "a_deliberately_long_package_name_for_cix",  # 40 characters
    "project_name": 'The "Edge" Net: ' + "x" * 64,  # 80 characters
    "description": 'Classifies "digits", it\'s said, ' + "and more words " * 12 + '"',
}
JINJA_LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory):
    """Render a combination once per session; returns a function of the combination."""
    root = tmp_path_factory.mktemp("matrix")
    projects: dict[Combination, Path] = {}

    def render(combination: Combination) -> Path:
        if combination not in projects:
            projects[combination] = copy_project(
                root / combination.slug, **combination.answers()
            )
        return projects[combination]

    return render


def run(
    command: list[str], cwd: Path, timeout: int = 900
) -> subprocess.CompletedProcess:
    """Run a command in a generated project; fail the test with its output."""
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, command))} exited {result.returncode} in {cwd}\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result


@pytest.mark.parametrize("combination", COMBINATIONS, ids=lambda c: c.slug)
def test_renders_every_file_without_leftover_jinja(rendered, combination):
    project = rendered(combination)
    package = project / "src" / "demo_net"
    modules = ("config", "data", "layers", "blocks", "model", "saving")
    for name in (*modules, "training", "loop", "runs"):
        assert (package / f"{name}.py").is_file(), name
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not JINJA_LEFTOVER.search(text), path
            assert not path.name.endswith(".jinja"), path


@pytest.mark.parametrize("combination", COMBINATIONS, ids=lambda c: c.slug)
def test_default_toml_comments_are_the_settings_help(rendered, combination):
    """A fresh configs/default.toml explains each setting as `train --help` does.

    Checked here, not in the project: the user owns the file once it exists,
    and `copier update` leaves it alone (its comments may then be older).
    """
    project = rendered(combination)
    spec = importlib.util.spec_from_file_location(
        f"config_{combination.slug.replace('-', '_')}",
        project / "src" / "demo_net" / "config.py",
    )
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    lines = (project / "configs" / "default.toml").read_text().splitlines()
    names = [field.name for field in dataclasses.fields(config.Config)]
    assert sorted(config.HELP) == sorted(names)
    for name in names:
        (index,) = [i for i, line in enumerate(lines) if line.startswith(f"{name} = ")]
        comment = []
        while lines[index - 1].startswith("# ") and "------" not in lines[index - 1]:
            index -= 1
            comment.insert(0, lines[index].removeprefix("# "))
        assert " ".join(comment) == config.HELP[name], name


@pytest.mark.parametrize("combination", COMBINATIONS, ids=lambda c: c.slug)
def test_black_and_ruff_clean(rendered, combination):
    project = rendered(combination)
    run([sys.executable, "-m", "black", "--check", "--quiet", "."], project)
    run([sys.executable, "-m", "ruff", "check", "--quiet", "."], project)


@pytest.mark.parametrize("combination", COMBINATIONS, ids=lambda c: c.slug)
def test_black_and_ruff_clean_with_edge_answers(tmp_path, combination):
    """The longest names allowed, and quotes, still give clean, importable code."""
    project = copy_project(tmp_path, **combination.answers(), **EDGE_ANSWERS)
    run([sys.executable, "-m", "compileall", "-q", "src", "tests"], project)
    run([sys.executable, "-m", "black", "--check", "--quiet", "."], project)
    run([sys.executable, "-m", "ruff", "check", "--quiet", "."], project)


@pytest.mark.slow
@pytest.mark.parametrize("combination", COMBINATIONS, ids=lambda c: c.slug)
def test_generated_quick_tests_pass(rendered, combination):
    project = rendered(combination)
    ignored = [] if combination in LOOP_AND_TASK else PER_LOOP_AND_TASK
    options = [f"--ignore={path}" for path in ignored]
    result = run(_pytest("-m", "not slow", *options), project)
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("combination", COVERING, ids=lambda c: c.slug)
def test_generated_slow_tests_pass(rendered, combination):
    project = rendered(combination)
    # The other backends' runs are tests of their own, below.
    others = [
        f"--deselect=tests/test_backends.py::"
        f"test_resumed_run_equals_an_unbroken_one[{backend}]"
        for backend in OTHER_BACKENDS
    ]
    result = run(_pytest("-m", "slow", *others), project, timeout=1500)
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("combination", COVERING, ids=lambda c: c.slug)
def test_generated_project_trains_and_resumes_on_backend(
    rendered, combination, backend
):
    """Train, resume bit for bit and evaluate off TensorFlow: each loop, task, style."""
    project = rendered(combination)
    test = f"tests/test_backends.py::test_resumed_run_equals_an_unbroken_one[{backend}]"
    result = run(_pytest("-m", "slow", test), project, timeout=1500)
    assert re.search(r"\b1 passed", result.stdout), result.stdout[-2000:]


@pytest.mark.slow
def test_stock_copier_cli_project_installs_and_passes(tmp_path):
    """`copier copy` as a user runs it, then an install into a fresh environment."""
    project = tmp_path / "project"
    run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            "-d",
            "api_style=subclassing",
            "-d",
            "training_loop=train_on_batch",
            "-d",
            "task=text",
            str(REPO_ROOT),
            str(project),
        ],
        tmp_path,
    )
    answers = (project / ".copier-answers.yml").read_text(encoding="utf-8")
    assert "api_style: subclassing" in answers
    assert "training_loop: train_on_batch" in answers
    # A fresh environment that reuses this one's TensorFlow, not the checkout.
    environment = tmp_path / "venv"
    python = fresh_environment(environment)
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "."], project)
    installed = run(
        [python, "-c", "import keras_project; print(keras_project.__file__)"],
        tmp_path,
    )
    assert str(environment) in installed.stdout
    assert (
        "--epochs"
        in run(
            [environment / "bin" / "keras-project", "train", "--help"], tmp_path
        ).stdout
    )
    # The installed package under its own tests; the matrix runs them all.
    tests = ("tests/test_model.py", "tests/test_saving.py", "tests/test_cli.py")
    result = run([python, *_pytest("-m", "not slow", *tests)[1:]], project)
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]


def _pytest(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]


def test_the_generated_export_tests_have_their_runtimes():
    """Without the export, jax and torch extras, generated tests of those skip."""
    for module in ("tf2onnx", "onnxruntime", "ai_edge_litert", "jax", "torch"):
        assert importlib.util.find_spec(module), f'{module}: pip install -e ".[test]"'


def test_covering_set_spans_every_choice():
    assert {c.api_style for c in COVERING} == {
        "sequential",
        "functional",
        "subclassing",
    }
    assert {c.training_loop for c in COVERING} == {"fit", "train_on_batch", "custom"}
    assert {c.task for c in COVERING} == {"image", "text"}


def test_loop_and_task_projects_span_every_pair():
    pairs = [(c.training_loop, c.task) for c in LOOP_AND_TASK]
    assert sorted(pairs) == sorted({(c.training_loop, c.task) for c in COMBINATIONS})
    for path in PER_LOOP_AND_TASK:
        assert (REPO_ROOT / "templates" / "project" / f"{path}.jinja").is_file(), path
