"""Training runs: the contract of the custom loop, resuming, seeding."""

import dataclasses
import math
import shutil

import keras
import numpy as np
import pytest

from example_subclassing_custom_image.config import ProjectError, load_config
from example_subclassing_custom_image.data import load_datasets
from example_subclassing_custom_image.runs import HISTORY_KEYS
from example_subclassing_custom_image.saving import load_model
from example_subclassing_custom_image.training import train

RUN_FILES = [
    "config.toml",
    "summary.txt",
    "class_names.json",
    "history.csv",
    "training_curves.png",
    "model.keras",
    "best.keras",
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
    assert (run_dir / "checkpoints" / "ckpt-2" / "state.npz").is_file()


def test_training_moves_every_batch_normalization_statistic(trained_run):
    # Layers run in training mode during training: batch normalization then
    # updates its moving statistics, which start at zero means.
    run_dir, _ = trained_run
    model = load_model(run_dir / "model.keras")
    means = [weight for weight in model.weights if weight.path.endswith("moving_mean")]
    assert means
    for mean in means:
        assert np.any(keras.ops.convert_to_numpy(mean) != 0), mean.path


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
    saved = load_config(run_dir / "config.toml")
    # The "auto" sizes are written as the numbers they became.
    auto = {
        name: getattr(saved, name)
        for name, value in dataclasses.asdict(config).items()
        if value == "auto"
    }
    assert any(isinstance(value, int) for value in auto.values()), auto
    assert saved == dataclasses.replace(config, **auto)


def validation_data(config):
    """The validation split, as the saved model takes it."""
    return load_datasets(config).validation


def validation_accuracy(model_path, config) -> float:
    model = load_model(model_path, compile=False)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    results = model.evaluate(validation_data(config), return_dict=True, verbose=0)
    return results["accuracy"]


def layers_of(model):
    """The layers of a model, and of the models inside it."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from layers_of(layer)


@pytest.mark.slow
def test_early_stopping_keeps_the_best_epoch_across_a_resume(
    trained_run, config, tmp_path
):
    """The first two epochs learn; resumed at a learning rate that overflows
    the weights (to infinity, then NaN, whose accuracy never improves: a merely
    large rate can learn again), the run keeps the best epoch in best.keras,
    and with early stopping it stops once `patience` epochs have not beaten
    the best, model.keras then holding the best epoch's weights."""
    run_dir = shutil.copytree(trained_run[0], tmp_path / "run")
    wrecking = dataclasses.replace(
        config, epochs=3, learning_rate=1e30, early_stopping_patience=0
    )
    history = train(wrecking, run_dir, resume=True)
    best = int(np.argmax(history["val_accuracy"]))
    assert best < 2
    accuracies = history["val_accuracy"]
    model_accuracy = validation_accuracy(run_dir / "model.keras", config)
    assert model_accuracy == pytest.approx(accuracies[-1], abs=1e-6)
    best_accuracy = validation_accuracy(run_dir / "best.keras", config)
    assert best_accuracy == pytest.approx(accuracies[best], abs=1e-6)

    # The checkpoint remembers the best epoch: patience counts from it.
    patience = 2
    stopping = dataclasses.replace(wrecking, epochs=8, early_stopping_patience=patience)
    history = train(stopping, run_dir, resume=True)
    accuracies = history["val_accuracy"]
    assert len(accuracies) == best + 1 + patience < stopping.epochs
    assert int(np.argmax(accuracies)) == best
    model_accuracy = validation_accuracy(run_dir / "model.keras", config)
    assert model_accuracy == pytest.approx(accuracies[best], abs=1e-6)
    assert model_accuracy > accuracies[-1]
    assert validation_accuracy(run_dir / "best.keras", config) == model_accuracy


@pytest.mark.slow
def test_mixed_float16_trains_resumes_and_reloads_exactly(config, tmp_path):
    config = dataclasses.replace(
        config,
        epochs=1,
        precision="mixed_float16",
        optimizer="adamw",
        schedule="cosine",
        label_smoothing=0.1,
    )
    run_dir = tmp_path / "run"
    history = train(config, run_dir)
    assert math.isfinite(history["loss"][0])
    model = load_model(run_dir / "model.keras")
    compute_dtypes = {layer.name: layer.compute_dtype for layer in layers_of(model)}
    assert compute_dtypes["pool"] == "float16"
    assert compute_dtypes["classifier"] == "float32"
    inputs, _ = next(iter(validation_data(config)))
    assert model.predict(inputs, verbose=0).dtype == np.float32
    accuracy = validation_accuracy(run_dir / "model.keras", config)
    assert accuracy == pytest.approx(history["val_accuracy"][0], abs=1e-6)
    # Resuming the run, as if killed before model.keras was written, restores
    # its checkpoint and saves it again.
    before = model.get_weights()
    (run_dir / "model.keras").unlink()
    train(config, run_dir, resume=True)
    after = load_model(run_dir / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_resuming_a_finished_run_restores_every_weight(trained_run, config, tmp_path):
    """The checkpoint holds the whole model, batch-normalization statistics too."""
    run_dir = shutil.copytree(trained_run[0], tmp_path / "run")
    before = load_model(run_dir / "model.keras").get_weights()
    # As if killed before saving it: the resume saves it from the checkpoint (a
    # finished run with its model.keras has nothing to do).
    (run_dir / "model.keras").unlink()
    train(config, run_dir, resume=True)
    after = load_model(run_dir / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_resume_refuses_fewer_epochs_than_completed(trained_run, config):
    run_dir, _ = trained_run
    with pytest.raises(ProjectError, match="epochs must be at least 2"):
        train(dataclasses.replace(config, epochs=1), run_dir, resume=True)


@pytest.mark.slow
def test_resume_without_a_checkpoint_starts_afresh(config, tmp_path, capsys):
    """A run stopped before its first epoch ended (tests/test_faults.py: quickly)."""
    history = train(dataclasses.replace(config, epochs=1), tmp_path / "r", resume=True)
    assert "has no completed epoch: starting it afresh" in capsys.readouterr().out
    assert len(history["loss"]) == 1


@pytest.mark.slow
def test_deterministic_seeded_runs_give_identical_weights(config, tmp_path):
    config = dataclasses.replace(config, epochs=1, deterministic=True)
    train(config, tmp_path / "a")
    train(config, tmp_path / "b")
    first = load_model(tmp_path / "a" / "model.keras").get_weights()
    second = load_model(tmp_path / "b" / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
