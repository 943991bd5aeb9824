"""Distributed training: a generated project's own tests/test_distribute.py.

test_generated.py runs the full generated suite (slow tests included) in one
project per training loop, so the two-replica test of every loop runs there
(fit and the custom loop on images, train_on_batch on text), and the custom
loop's two-worker test too. Here the fit loop trains text on two replicas: the
classifier on token ids from the input pipeline, saved (best.keras, model.keras)
with the vectorizer in front.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import copy_project

from scaffold import Combination

FIT_TEXT = Combination("sequential", "fit", "text")


@pytest.mark.slow
def test_fit_on_text_on_two_replicas_matches_one_device(tmp_path):
    project = copy_project(tmp_path, **FIT_TEXT.answers())
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
