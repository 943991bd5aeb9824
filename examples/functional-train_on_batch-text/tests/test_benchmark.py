"""The benchmark command: this project's training step and input pipeline, timed."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from example_functional_train_on_batch_text.benchmark import report
from example_functional_train_on_batch_text.cli import main

PROJECT = Path(__file__).parents[1]
PACKAGE = "example_functional_train_on_batch_text"

FIGURES = {
    "loop": "train_on_batch",
    "preset": "small",
    "batch_size": 64,
    "precision": "float32",
    "jit_compile": False,
    "strategy": "DefaultDistributionStrategy",
    "replicas": 1,
    "devices": ["/device:CPU:0"],
    "cpu_cores": 2,
    "steps": 20,
    "warmup": 5,
    "training_examples_per_second": 800.0,
    "pipeline_examples_per_second": 4000.0,
    "pipeline_to_training": 5.0,
    "peak_host_memory_mib": 900.0,
}


def test_benchmark_times_the_training_step_and_the_pipeline(capsys):
    settings = ["--batch-size", "16", "--epochs", "1", "--strategy", "default"]
    argv = ["benchmark", "--steps", "3", "--warmup", "1", "--json", *settings]
    assert main(argv) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["loop"] == "train_on_batch"
    assert (figures["batch_size"], figures["steps"], figures["warmup"]) == (16, 3, 1)
    training = figures["training_examples_per_second"]
    pipeline = figures["pipeline_examples_per_second"]
    assert training > 0 and pipeline > 0
    assert figures["pipeline_to_training"] == pytest.approx(pipeline / training)
    assert figures["devices"] and figures["devices"][0].endswith("CPU:0")
    assert figures["peak_host_memory_mib"] > 100


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason='needs pip install -e ".[jax]"'
)
def test_the_configured_model_takes_this_loops_steps_on_jax():
    """On JAX, benchmark builds the model and runs this loop's own step (~30 s)."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(PROJECT / "src")}
    command = [sys.executable, "-m", PACKAGE, "benchmark", "--json"]
    command += ["--steps", "1", "--warmup", "1", "--batch-size", "16"]
    result = subprocess.run(
        command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["loop"] == "train_on_batch"
    assert figures["training_examples_per_second"] > 0


def test_report_says_whether_the_pipeline_keeps_up():
    lines = report(FIGURES).splitlines()
    assert lines[0] == (
        "train_on_batch loop, preset small, batch 64, float32, XLA off, "
        "DefaultDistributionStrategy on CPU:0 (2 CPU cores)"
    )
    assert "800.0 examples/s (20 steps timed after 5 warm-up)" in lines[1]
    assert "5.00x training: the input pipeline keeps up" in lines[2]
    slow = report({**FIGURES, "pipeline_to_training": 0.5}).splitlines()
    assert "0.50x training: the input pipeline is the bottleneck" in slow[2]
    assert lines[3] == "peak host memory: 900 MiB"


@pytest.mark.parametrize("flag", ["--steps", "--warmup"])
def test_benchmark_needs_a_positive_number_of_steps(capsys, flag):
    assert main(["benchmark", flag, "0"]) == 1
    error = capsys.readouterr().err
    assert error == f"error: {flag} must be a positive integer, got 0\n"
