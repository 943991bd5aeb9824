"""Saving: .keras files reload exactly (custom objects too), weights, exports."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from example_sequential_fit_image.config import Config, load_config
from example_sequential_fit_image.data import load_datasets
from example_sequential_fit_image.model import build_model
from example_sequential_fit_image.saving import (
    CUSTOM_OBJECTS,
    ModelFileError,
    export_model,
    image_shape,
    load_export,
    load_model,
    load_weights,
    save_model,
    save_weights,
)

SRC = Path(__file__).parents[1] / "src"
RELOAD = """
import sys
import numpy as np
from example_sequential_fit_image.saving import load_model
inputs = np.load(sys.argv[2])
np.save(sys.argv[3], load_model(sys.argv[1]).predict(inputs, verbose=0))
"""


@pytest.fixture(scope="module")
def sample(config):
    """One validation batch of inputs, as a tensor."""
    inputs, _ = next(iter(load_datasets(config).validation))
    return inputs


def test_keras_file_predicts_identically_in_a_fresh_process(
    trained_run, sample, tmp_path
):
    run_dir, _ = trained_run
    model_path = run_dir / "model.keras"
    expected = load_model(model_path).predict(sample, verbose=0)
    np.save(tmp_path / "inputs.npy", sample.numpy())
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run(
        [
            sys.executable,
            "-c",
            RELOAD,
            model_path,
            tmp_path / "inputs.npy",
            tmp_path / "out.npy",
        ],
        check=True,
        env=env,
    )
    assert np.array_equal(np.load(tmp_path / "out.npy"), expected)


# Model settings away from their defaults: a saved model must keep every one.
CUSTOM_SETTINGS = {
    "preset": "resnet18",
    "dropout_rate": 0.5,
    "image_size": 32,
    "channels": 3,
}


def test_model_with_custom_settings_reloads_exactly(tmp_path):
    config = dataclasses.replace(Config(), **CUSTOM_SETTINGS)
    classifier = build_model(config, 3, synchronized_batch_norm=True)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3))
    images = images.astype("float32")
    expected = classifier(images)
    reloaded = load_model(save_model(classifier, tmp_path / "model.keras"))
    np.testing.assert_array_equal(reloaded(images), expected)
    assert image_shape(reloaded) == (32, 32, 3)
    assert [weight.shape for weight in reloaded.weights] == [
        weight.shape for weight in classifier.weights
    ]
    assert reloaded.get_layer("dropout").rate == 0.5


@pytest.mark.parametrize("name", CUSTOM_OBJECTS)
def test_custom_objects_are_registered_under_their_names(name):
    assert keras.saving.get_registered_object(name) is CUSTOM_OBJECTS[name]


def test_weights_round_trip(trained_run, config, sample, tmp_path):
    run_dir, _ = trained_run
    trained = load_model(run_dir / "model.keras")
    path = save_weights(trained, tmp_path / "model.weights.h5")
    # The run's config.toml holds the numbers the "auto" settings became.
    config = load_config(run_dir / "config.toml")
    fresh = build_model(config, 10)
    load_weights(fresh, path)
    assert np.array_equal(
        fresh.predict(sample, verbose=0), trained.predict(sample, verbose=0)
    )


def test_saved_model_export_matches(trained_run, sample, tmp_path):
    run_dir, _ = trained_run
    model = load_model(run_dir / "model.keras")
    exported = load_export(export_model(model, tmp_path / "export"))
    np.testing.assert_allclose(
        exported.serve(sample).numpy(), model.predict(sample, verbose=0), atol=1e-5
    )


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="no model file"):
        load_model(tmp_path / "missing.keras")


def test_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("not a model", encoding="utf-8")
    with pytest.raises(ModelFileError, match="not a .keras model"):
        load_model(path)


def test_directory_without_export_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="no SavedModel"):
        load_export(tmp_path)
