"""Shared fixtures: short settings, and one short training run for the session."""

import dataclasses
from pathlib import Path

import pytest

from example_subclassing_custom_image.config import Config


@pytest.fixture(scope="session")
def config(tmp_path_factory) -> Config:
    """The defaults, cut to two epochs, writing under a temporary directory."""
    output_dir = tmp_path_factory.mktemp("runs")
    return dataclasses.replace(Config(), epochs=2, output_dir=str(output_dir))


@pytest.fixture(scope="session")
def trained_run(config) -> tuple[Path, dict[str, list[float]]]:
    """(run_dir, history) of one two-epoch run, shared by the tests that need it."""
    from example_subclassing_custom_image.training import train

    run_dir = Path(config.output_dir) / "trained"
    return run_dir, train(config, run_dir)
