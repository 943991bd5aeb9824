"""keras.applications backbones: preprocessing inside, weights, fine-tuning."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from example_subclassing_custom_image.config import load_config
from example_subclassing_custom_image.saving import load_model
from example_subclassing_custom_image.training import train

PROJECT = Path(__file__).parents[1]
COLOURS = {"blue": (40, 60, 200), "green": (50, 190, 60), "red": (210, 50, 40)}
SIZE = 32


def images(count: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (count, SIZE, SIZE, 3)).astype("float32")


def same_weights(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Three classes of eight plain-coloured images, with a little noise."""
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir()
        for index in range(8):
            noise = rng.integers(-20, 20, (SIZE, SIZE, 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype("uint8")
            Image.fromarray(pixels).save(root / name / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """MobileNetV3Small weights that no new model has, saved as a user would."""
    application = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(SIZE, SIZE, 3), pooling="avg"
    )
    weights = [weight + 0.01 for weight in application.get_weights()]
    application.set_weights(weights)
    path = tmp_path_factory.mktemp("weights") / "mobilenet.weights.h5"
    application.save_weights(path)
    return path, weights


@pytest.fixture(scope="module")
def fine_tuned(data_dir, weights_file, tmp_path_factory):
    """A run frozen for epoch 1, stopped, then resumed into epoch 2 (unfrozen).

    Returns (run_dir, the model saved after epoch 1, the history).
    """
    config = load_config(
        data_dir=str(data_dir),
        validation_split=0.25,
        image_size=SIZE,
        channels=3,
        backbone="MobileNetV3Small",
        backbone_weights=str(weights_file[0]),
        freeze_backbone_epochs=1,
        fine_tune_lr_factor=0.5,
        # A constant rate within each phase, and the last epoch kept (not the
        # best one), so that the fine-tuned epoch shows in the weights.
        schedule="step",
        early_stopping_patience=0,
        epochs=1,
        batch_size=6,  # 18 training images, 6 for validation: no partial batch
    )
    run_dir = tmp_path_factory.mktemp("fine_tuned") / "run"
    train(config, run_dir)
    frozen = load_model(run_dir / "model.keras")
    history = train(dataclasses.replace(config, epochs=2), run_dir, resume=True)
    return run_dir, frozen, history


def test_fine_tuning_freezes_the_backbone_then_trains_it(fine_tuned, weights_file):
    run_dir, frozen, history = fine_tuned
    _, pretrained = weights_file
    # Epoch 1 left every backbone weight as loaded, batch-normalization
    # statistics too (a frozen backbone normalizes in inference mode).
    after_epoch_1 = frozen.get_layer("backbone").get_weights()
    assert same_weights(after_epoch_1, pretrained)
    # The resumed epoch 2 trained it, at the lower learning rate.
    final = load_model(run_dir / "model.keras").get_layer("backbone")
    assert not same_weights(final.get_weights(), pretrained)
    assert final.trainable
    assert history["learning_rate"] == pytest.approx([0.001, 0.0005])


def test_fine_tuned_model_predicts_identically_in_a_fresh_process(fine_tuned, tmp_path):
    model_path = fine_tuned[0] / "model.keras"
    inputs = images(3)
    np.save(tmp_path / "inputs.npy", inputs)
    script = (
        "import sys, numpy as np\n"
        "from example_subclassing_custom_image.saving import load_model\n"
        "model = load_model(sys.argv[1])\n"
        "np.save(sys.argv[3], model(np.load(sys.argv[2])))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
    command = [sys.executable, "-c", script, model_path, tmp_path / "inputs.npy"]
    subprocess.run([*command, tmp_path / "out.npy"], check=True, env=env)
    expected = load_model(model_path)(inputs)
    assert np.array_equal(np.load(tmp_path / "out.npy"), expected)
