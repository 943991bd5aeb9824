"""Training, resume and reload on each Keras backend installed (slow: one process each).

A backend that is not installed is skipped, with the reason and the extra that
installs it.
"""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

PROJECT = Path(__file__).parents[1]
PACKAGE = "example_sequential_fit_image"
BACKENDS = ("tensorflow", "jax", "torch")
# The small preset's defaults, two short epochs, bit for bit repeatable.
SETTINGS = ("--epochs", "2", "--batch-size", "128", "--deterministic")


def environment(backend: str) -> dict[str, str]:
    """This environment, with Keras on `backend` and the project importable."""
    return {
        **os.environ,
        "KERAS_BACKEND": backend,
        "PYTHONPATH": str(PROJECT / "src"),
        "OMP_NUM_THREADS": "1",  # PyTorch crawls on busy cores without it
    }


def run(backend: str, *args) -> str:
    """Run `python -m PACKAGE ARGS...` on `backend`; fail on an error."""
    command = [sys.executable, "-m", PACKAGE, *map(str, args)]
    result = subprocess.run(
        command,
        cwd=PROJECT,
        env=environment(backend),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def kill_after_first_epoch(backend: str, output_dir: Path) -> Path:
    """Train four epochs on `backend`; SIGKILL it once epoch 1's checkpoint is whole.

    Returns:
        The killed run's directory.
    """
    log = output_dir.with_suffix(".log")
    command = [sys.executable, "-m", PACKAGE, "train", "--epochs", "4", *SETTINGS[2:]]
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, "--output-dir", str(output_dir)],
            cwd=PROJECT,
            env=environment(backend),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 900
            while not list(output_dir.glob("*/checkpoints/ckpt-1")):
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "timed out"
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL, log.read_text()
    (run_dir,) = output_dir.iterdir()
    return run_dir


def weights(run_dir: Path) -> list[np.ndarray]:
    from example_sequential_fit_image.saving import load_model

    return load_model(run_dir / "model.keras", compile=False).get_weights()


def require(backend: str) -> None:
    """Skip the test, saying why, where `backend` is not installed."""
    if importlib.util.find_spec(backend) is None:
        extra = "" if backend == "tensorflow" else f" (pip install -e '.[{backend}]')"
        pytest.skip(f"{backend} is not installed{extra}")


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_resumed_run_equals_an_unbroken_one(backend, tmp_path):
    """Kill after an epoch, resume: bit for bit the unbroken run; reload, export."""
    require(backend)
    run(backend, "train", *SETTINGS, "--output-dir", tmp_path / "unbroken")
    (unbroken,) = (tmp_path / "unbroken").iterdir()
    stopped = kill_after_first_epoch(backend, tmp_path / "stopped")
    # The first epoch's learning rate is the same of two epochs and of four.
    output = run(backend, "train", "--resume", stopped, "--epochs", "2")
    assert f"Resuming {stopped} after epoch 1 of 2" in output
    assert f'backend = "{backend}"' in (stopped / "config.toml").read_text()
    assert all(
        np.array_equal(a, b)
        for a, b in zip(weights(unbroken), weights(stopped), strict=True)
    )
    history = [(run_dir / "history.csv").read_text() for run_dir in (unbroken, stopped)]
    assert history[0] == history[1]
    assert "accuracy=" in run(backend, "evaluate", stopped / "model.keras")
    # Exported (under TensorFlow, as export does) and checked in its runtime.
    runtimes = ("tf2onnx", "onnxruntime")
    onnx = all(importlib.util.find_spec(name) for name in runtimes)
    export = ("export", stopped / "model.keras", tmp_path / "export", "--format")
    exported = run(backend, *export, "onnx" if onnx else "saved_model")
    assert "max difference from the Keras model" in exported
