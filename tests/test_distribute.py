"""Distributed training: a generated project's own tests/test_distribute.py.

test_generated.py runs the full generated suite (slow tests included) in one
project per training loop: its fit and custom projects train images, so their
two-replica tests run there, and the custom one's two-worker test too. Its
train_on_batch project trains text, which Keras 3.15 cannot train with
train_on_batch under MirroredStrategy (the project refuses the setting), so the
train_on_batch loop's two-replica test runs here, on an image project.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import copy_project

from scaffold import Combination

TRAIN_ON_BATCH_IMAGE = Combination("functional", "train_on_batch", "image")


@pytest.mark.slow
def test_train_on_batch_on_two_replicas_matches_one_device(tmp_path):
    project = copy_project(tmp_path, **TRAIN_ON_BATCH_IMAGE.answers())
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*command, "-m", "slow", "tests/test_distribute.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert re.search(r"[1-9]\d* passed", result.stdout), result.stdout[-2000:]
