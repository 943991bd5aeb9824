"""Training runs: the contract of the fit loop, resuming, seeding."""

import dataclasses
import math
import shutil

import numpy as np
import pytest

from example_sequential_fit_image.config import ProjectError, load_config
from example_sequential_fit_image.data import load_datasets
from example_sequential_fit_image.saving import load_model
from example_sequential_fit_image.training import HISTORY_KEYS, train

RUN_FILES = [
    "config.toml",
    "summary.txt",
    "class_names.json",
    "history.csv",
    "training_curves.png",
    "model.keras",
]


def test_short_run_learns_and_writes_the_run_directory(trained_run):
    run_dir, history = trained_run
    assert set(history) == set(HISTORY_KEYS)
    assert all(len(values) == 2 for values in history.values())
    assert all(math.isfinite(value) for values in history.values() for value in values)
    assert history["loss"][1] < history["loss"][0]
    classes = 10
    assert history["val_accuracy"][-1] > 1.5 / classes
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "logs").rglob("events.out.tfevents.*"))
    assert list((run_dir / "checkpoints").glob("ckpt-2.index"))


@pytest.mark.slow
def test_resume_continues_from_the_last_completed_epoch(config, tmp_path):
    run_dir = tmp_path / "run"
    first = train(dataclasses.replace(config, epochs=1), run_dir)
    assert len(first["loss"]) == 1
    # As if killed after logging epoch 2 but before its checkpoint was saved.
    extra_row = "1,9,9,9,9,9\n"
    with (run_dir / "history.csv").open("a") as file:
        file.write(extra_row)
    resumed = train(config, run_dir, resume=True)
    assert len(resumed["loss"]) == config.epochs
    assert resumed["loss"][0] == first["loss"][0]
    assert extra_row not in (run_dir / "history.csv").read_text()
    # Resuming with more epochs than first planned updates the run's settings.
    assert load_config(run_dir / "config.toml") == config


def test_best_model_takes_what_the_final_model_takes(trained_run, config):
    run_dir, _ = trained_run
    data = load_datasets(config)
    inputs, _ = next(iter(data.validation))
    best = load_model(run_dir / "best.keras").predict(inputs, verbose=0)
    final = load_model(run_dir / "model.keras").predict(inputs, verbose=0)
    assert best.shape == final.shape == (len(inputs), 10)


def test_resuming_a_finished_run_restores_every_weight(trained_run, config, tmp_path):
    """The checkpoint holds the whole model, batch-normalization statistics too."""
    run_dir = shutil.copytree(trained_run[0], tmp_path / "run")
    before = load_model(run_dir / "model.keras").get_weights()
    train(config, run_dir, resume=True)
    after = load_model(run_dir / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_resume_refuses_fewer_epochs_than_completed(trained_run, config):
    run_dir, _ = trained_run
    with pytest.raises(ProjectError, match="epochs must be at least 2"):
        train(dataclasses.replace(config, epochs=1), run_dir, resume=True)


def test_resume_without_a_checkpoint_is_an_error(config, tmp_path):
    with pytest.raises(ProjectError, match="no checkpoint"):
        train(config, tmp_path / "empty", resume=True)


@pytest.mark.slow
def test_seeded_runs_give_identical_weights(config, tmp_path):
    config = dataclasses.replace(config, epochs=1)
    train(config, tmp_path / "a")
    train(config, tmp_path / "b")
    first = load_model(tmp_path / "a" / "model.keras").get_weights()
    second = load_model(tmp_path / "b" / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
