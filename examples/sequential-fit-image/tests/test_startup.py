"""A quiet start-up: TensorFlow's start-up notices show only with --verbose."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from example_sequential_fit_image.startup import without_notices

SRC = Path(__file__).resolve().parents[1] / "src"
# What TensorFlow 2.21 printed as it started on a machine without a GPU.
STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795843529.508458    9476 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1795843529.508760    9476 cudart_stub.cc:31] Could not find cuda drivers \
on your machine, GPU will not be used.
2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] \
Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1795843529.551437    9476 cpu_feature_guard.cc:227] This TensorFlow binary \
is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 FMA, in other operations, rebuild \
TensorFlow with the appropriate compiler flags.
E0000 00:00:1795843532.910712    9476 cuda_platform.cc:52] failed call to cuInit: \
INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
"""
WARNING = "W0000 00:00:1795843533.1 9476 op_kernel.cc:1857] a warning that matters\n"


def test_start_up_notices_are_dropped_and_warnings_kept():
    assert without_notices(STARTUP) == ""
    assert without_notices(STARTUP + WARNING + "Traceback\n") == WARNING + "Traceback\n"


def test_cuda_failure_is_kept_where_a_driver_was_found():
    failure = STARTUP.splitlines(keepends=True)[-1]
    assert without_notices(failure) == failure


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return subprocess.run(
        [sys.executable, "-m", "example_sequential_fit_image", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_tensorflow_starts_quietly_unless_verbose(tmp_path):
    # predict imports TensorFlow, then finds no model: one line of error.
    args = ["predict", str(tmp_path / "missing.keras"), "image.png"]
    quiet = run_cli(*args)
    assert quiet.returncode == 1
    assert quiet.stderr == f"error: no model file at {tmp_path / 'missing.keras'}\n"
    if sys.platform == "linux" and platform.machine() == "x86_64":
        # TensorFlow has notices to print here (which ones depends on the CPU:
        # oneDNN's only where it is used): --verbose lets them through.
        verbose = run_cli(*args, "--verbose")
        assert verbose.returncode == 1
        assert verbose.stderr.endswith(quiet.stderr)
        assert without_notices(verbose.stderr) != verbose.stderr
