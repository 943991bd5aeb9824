"""Mutation check: realistic bugs planted in rendered projects fail their own tests.

Each mutation patches one module of a freshly rendered project (one project per
API style, rendered once and copied per mutation) with regular expressions
anchored on whole lines, failing loudly when the template no longer has the
lines it expects, then runs only the project's tests that should catch the bug:
they must fail. The runs go two at a time, the time they mostly spend is
TensorFlow starting up and the short training runs that some of them need.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import DEFAULT_PACKAGE, copy_project

from scaffold import Combination

#: The project each API style is checked in: together every loop and both tasks.
PROJECTS = {
    "sequential": Combination("sequential", "fit", "text"),
    "functional": Combination("functional", "train_on_batch", "image"),
    "subclassing": Combination("subclassing", "custom", "image"),
}
ALL_STYLES = tuple(PROJECTS)


@dataclasses.dataclass(frozen=True)
class Mutation:
    """A bug: edits to one module, and the project tests that must catch it.

    Args:
        name: What the bug is, as a test id.
        module: The module patched, relative to the package.
        edits: (pattern, replacement) pairs for `re.subn` (multiline), applied
            in turn; each pattern must match exactly once.
        tests: The pytest arguments, run in the project, that must fail.
        styles: The API styles whose project has the code patched.
    """

    name: str
    module: str
    edits: tuple[tuple[str, str], ...]
    tests: tuple[str, ...]
    styles: tuple[str, ...] = ALL_STYLES


LAYER_ROUND_TRIP = ("tests/test_layers.py", "-k", "round_trip")
MUTATIONS = (
    Mutation(
        "linear-config-misses-activation",
        "layers.py",
        (
            (
                r'^ +"activation": keras\.activations\.serialize'
                r"\(self\.activation\),\n",
                "",
            ),
        ),
        LAYER_ROUND_TRIP,
    ),
    Mutation(
        "linear-unregistered",
        "layers.py",
        (
            (
                r"^@keras\.saving\.register_keras_serializable\(package=PACKAGE\)\n"
                r"(?=class Linear\()",
                "",
            ),
        ),
        ("tests/test_layers.py", "-k", "registered"),
    ),
    Mutation(
        "position-embedding-config-misses-sequence-length",
        "layers.py",
        (
            (
                r"^( +)return \{\*\*super\(\)\.get_config\(\), "
                r'"sequence_length": self\.sequence_length\}\n',
                r"\1return super().get_config()\n",
            ),
        ),
        LAYER_ROUND_TRIP,
        styles=("sequential",),  # the text project
    ),
    Mutation(
        "block-config-misses-strides",
        "blocks.py",
        ((r'^ +"strides": self\.strides,\n', ""),),
        LAYER_ROUND_TRIP,
        styles=("sequential", "subclassing"),
    ),
    Mutation(
        "block-sublayer-made-in-build",
        "blocks.py",
        (
            (
                r'^ +self\.shortcut_norm = batch_norm\("shortcut_bn", synchronized\)\n',
                "",
            ),
            (
                r"^( +)self\.shortcut_norm\.build\(shape\)\n",
                r"\1self.shortcut_norm = "
                r'batch_norm("shortcut_bn", self.synchronized)\n',
            ),
        ),
        LAYER_ROUND_TRIP,
        styles=("sequential", "subclassing"),
    ),
    Mutation(
        "model-config-misses-preset",
        "model.py",
        ((r'^ +"preset": self\.preset,\n', ""),),
        ("tests/test_saving.py", "-k", "custom_settings"),
        styles=("subclassing",),
    ),
    Mutation(
        "model-unregistered",
        "model.py",
        (
            (
                r"^@keras\.saving\.register_keras_serializable\(package=PACKAGE\)\n"
                r"(?=class ResNetClassifier\()",
                "",
            ),
        ),
        ("tests/test_saving.py", "-k", "registered"),
        styles=("subclassing",),
    ),
    Mutation(
        "model-classifier-made-in-build",
        "model.py",
        (
            (r"(?s)^ +self\.classifier = Linear\(.*?\)\n(?=\n    def build)", ""),
            (
                r"^( +)self\.classifier\.build\("
                r"self\.pool\.compute_output_shape\(shape\)\)\n",
                r'\1self.classifier = Linear(self.num_classes, activation="softmax")\n',
            ),
        ),
        ("tests/test_model.py", "-k", "every_weight"),
        styles=("subclassing",),
    ),
    Mutation(
        "custom-loop-trains-in-inference-mode",
        "steps_tensorflow.py",
        ((r"^( +probabilities = model\(inputs), training=True\)\n", r"\1)\n"),),
        ("tests/test_training.py", "-k", "batch_normalization_statistic"),
        styles=("subclassing",),  # the custom loop
    ),
    Mutation(
        "checkpoint-restores-no-weights",
        "checkpoints.py",
        ((r"^ +model\.load_weights\(path / WEIGHTS\)\n", ""),),
        # An image run's model.keras is its best epoch's, from checkpoints/best/:
        # the damaged-checkpoint cases are the ones that read the weights back.
        (
            "tests/test_training.py",
            "tests/test_faults.py",
            "-k",
            "resuming_a_finished_run or damaged_checkpoints",
        ),
        styles=("subclassing",),
    ),
    Mutation(
        "checkpoint-restores-the-oldest",
        "checkpoints.py",
        (
            (
                r"^( +return sorted\(found, key=lambda path: )-"
                r"(int\(path\.name\.removeprefix\(\"ckpt-\"\)\)\))$",
                r"\1\2",
            ),
        ),
        ("tests/test_training.py", "-k", "refuses_fewer_epochs"),
        styles=("functional",),
    ),
    Mutation(
        "image-export-signature-assumes-rgb",
        "saving.py",
        (
            (
                r"^( +signature = \[tf\.TensorSpec\()"
                r"\(None, \*image_shape\(model\)\)",
                r"\1(None, *image_shape(model)[:2], 3)",
            ),
        ),
        ("tests/test_saving.py", "-k", "saved_model_export_matches"),
        styles=("functional",),  # an image project
    ),
    Mutation(
        "text-export-signature-takes-a-column",
        "saving.py",
        (
            (
                r"^( +signature = \[tf\.TensorSpec\()\(None,\)"
                r'(, tf\.string, name="text"\))',
                r"\1(None, 1)\2",
            ),
        ),
        ("tests/test_saving.py", "-k", "saved_model_export_matches"),
        styles=("sequential",),  # the text project
    ),
)
CASES = [
    pytest.param(mutation, style, id=f"{mutation.name}-{style}")
    for mutation in MUTATIONS
    for style in mutation.styles
]


def mutate(project: Path, mutation: Mutation) -> None:
    """Apply the mutation's edits to its module; fail if one no longer applies."""
    path = project / "src" / DEFAULT_PACKAGE / mutation.module
    source = path.read_text(encoding="utf-8")
    for pattern, replacement in mutation.edits:
        source, count = re.subn(pattern, replacement, source, flags=re.MULTILINE)
        if count != 1:
            pytest.fail(
                f"mutation {mutation.name} no longer applies to {mutation.module} "
                f"({count} matches of {pattern!r}): update it to the template"
            )
    path.write_text(source, encoding="utf-8")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory):
    """Each case's (exit status, output): every mutated project's tests, run once."""
    root = tmp_path_factory.mktemp("mutations")
    originals = {
        style: copy_project(root / style, **combination.answers())
        for style, combination in PROJECTS.items()
    }

    projects = {}
    for case in CASES:
        mutation, style = case.values
        projects[case.id] = shutil.copytree(originals[style], root / case.id)
        mutate(projects[case.id], mutation)

    def run(case) -> tuple[int, str]:
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
        result = subprocess.run(
            [*command, *case.values[0].tests],
            cwd=projects[case.id],
            capture_output=True,
            text=True,
            timeout=600,
        )
        return result.returncode, result.stdout[-3000:] + result.stderr[-3000:]

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(projects, pool.map(run, CASES), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize(("mutation", "style"), CASES)
def test_mutation_fails_the_project_tests(outcomes, request, mutation, style):
    returncode, output = outcomes[request.node.callspec.id]
    # 1: tests ran and some failed (0: all passed; 2-5: interrupted, no tests).
    assert returncode == 1, f"{mutation.name} in the {style} project:\n{output}"
    assert re.search(r"\d+ failed", output), output
