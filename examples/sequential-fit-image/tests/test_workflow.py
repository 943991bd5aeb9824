"""The README's workflow, run as a user runs it: the commands in subprocesses.

Train on a directory of images made here, kill the run with SIGKILL in the
middle of an epoch, resume it, then evaluate, predict, export, and serve the
export with `tf.saved_model.load`.
"""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from example_sequential_fit_image import checkpoints

PROJECT = Path(__file__).parents[1]
ENV = {**os.environ, "PYTHONPATH": str(PROJECT / "src"), "PYTHONUNBUFFERED": "1"}
COLOURS = {"blue": (40, 60, 200), "green": (50, 190, 60), "red": (210, 50, 40)}
IMAGES_PER_CLASS = 60
UNREADABLE = Path("red", "broken.png")
EPOCHS = 4
BATCH_SIZE = 8
# The user's own config file, passed with --config; the data directory, epochs
# and batch size follow on the command line, as in the README.
SETTINGS = {
    "image_size": 32,
    "channels": 3,
    "augment": "full",
    "seed": 7,
    # Repeatable: the accuracy checks below see the same run every time.
    "deterministic": True,
}
PYTHON_M_PACKAGE = [sys.executable, "-m", "example_sequential_fit_image"]
# The progress bar of the second epoch showing a step: the moment to kill.
# TensorFlow may log lines of its own between the two (so DOTALL).
EPOCH_2_STEP = re.compile(rb"Epoch 2/\d+\n.*?\d+/\d+", re.DOTALL)


def cli(*args) -> subprocess.CompletedProcess:
    """Run `python -m PACKAGE ARGS...` in the project root; fail on an error."""
    command = [*PYTHON_M_PACKAGE, *map(str, args)]
    result = subprocess.run(
        command, cwd=PROJECT, env=ENV, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """One folder of PNG and JPEG images per colour, and one broken PNG."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir()
        for index in range(IMAGES_PER_CLASS):
            suffix = ".png" if index % 2 else ".jpg"
            save_image(root / name / f"{index}{suffix}", colour, rng)
    (root / UNREADABLE).write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    return root


def save_image(path: Path, colour, rng) -> None:
    """A noisy image of one colour, of a random size (the model resizes it)."""
    height, width = rng.integers(24, 48, size=2)
    pixels = np.asarray(colour) + rng.normal(0, 30, (height, width, 3))
    Image.fromarray(np.clip(pixels, 0, 255).astype("uint8")).save(path)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    """A config file of the user's own."""
    path = tmp_path_factory.mktemp("config") / "config.toml"
    lines = [f"{key} = {json.dumps(value)}" for key, value in SETTINGS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def killed_and_resumed(config_file, data_dir, tmp_path_factory):
    """Train, SIGKILL the process in the middle of an epoch, then --resume it.

    Returns:
        (run_dir, epochs completed when killed, the killed run's output, the
        resumed run's output).
    """
    output_dir = tmp_path_factory.mktemp("runs")
    log = output_dir.parent / "killed.log"
    command = [
        *("train", "--config", config_file, "--data-dir", data_dir),
        *("--epochs", EPOCHS, "--batch-size", BATCH_SIZE, "--output-dir", output_dir),
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            [*PYTHON_M_PACKAGE, *map(str, command)],
            cwd=PROJECT,
            env=ENV,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            # The first epoch's checkpoint is complete, and the second epoch
            # has taken steps: kill it there.
            state = wait_for(
                process, lambda: list(output_dir.glob("*/checkpoints/ckpt-*/"))
            )
            wait_for(process, lambda: EPOCH_2_STEP.search(log.read_bytes()))
            time.sleep(0.1)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL, log.read_text()
    run_dir = state[0].parents[1]
    completed = latest_checkpoint(run_dir)
    assert 1 <= completed < EPOCHS, "killed too late to test resuming"
    assert not (run_dir / "model.keras").exists()
    resumed = cli("train", "--resume", run_dir)
    return run_dir, completed, log.read_text(), resumed.stdout


@pytest.fixture(scope="module")
def uninterrupted(config_file, data_dir, tmp_path_factory) -> Path:
    """The same training, never interrupted (in-process: it only sets the bar)."""
    from example_sequential_fit_image.config import load_config
    from example_sequential_fit_image.training import train

    config = load_config(
        config_file, data_dir=str(data_dir), epochs=EPOCHS, batch_size=BATCH_SIZE
    )
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    train(config, run_dir)
    return run_dir


def wait_for(process: subprocess.Popen, condition, timeout: float = 180.0):
    """Poll until condition() is truthy while the process runs; return the value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def latest_checkpoint(run_dir: Path) -> int:
    """The epoch of the newest checkpoint, checkpoints/ckpt-<epoch>/."""
    newest = checkpoints.checkpoints(run_dir / "checkpoints")[0]
    return int(newest.name.removeprefix("ckpt-"))


def history_epochs(run_dir: Path) -> list[int]:
    with (run_dir / "history.csv").open(newline="") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(killed_and_resumed, data_dir):
    run_dir, completed, killed_output, resumed_output = killed_and_resumed
    skipped = f"Skipped file (unreadable or not an image): {data_dir / UNREADABLE}"
    assert skipped in killed_output
    assert f"Resuming {run_dir} after epoch {completed} of {EPOCHS}" in resumed_output
    assert "Final metrics: " in resumed_output
    assert history_epochs(run_dir) == list(range(EPOCHS))
    assert (run_dir / "history.csv").read_text().count("epoch") == 1
    assert latest_checkpoint(run_dir) == EPOCHS
    for name in ("config.toml", "summary.txt", "training_curves.png", "model.keras"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "logs").rglob("events.out.tfevents.*"))


@pytest.mark.slow
def test_resumed_run_ends_where_an_uninterrupted_run_ends(
    killed_and_resumed, uninterrupted
):
    run_dir, *_ = killed_and_resumed
    assert history_epochs(run_dir) == history_epochs(uninterrupted)
    # Deterministic, and every random draw resumed (the augmentation's too):
    # each epoch's losses and accuracies are the unbroken run's, bit for bit.
    history = [run / "history.csv" for run in (run_dir, uninterrupted)]
    assert history[0].read_text() == history[1].read_text()
    assert latest_checkpoint(run_dir) == latest_checkpoint(uninterrupted)
    # The optimizer's step count survives the kill: no step lost, none repeated.
    steps = []
    for run in (run_dir, uninterrupted):
        newest = checkpoints.checkpoints(run / "checkpoints")[0]
        with np.load(newest / checkpoints.STATE) as state:
            steps.append(state["optimizer.0"])  # the optimizer's iterations
    assert steps[0] == steps[1] > 0


@pytest.mark.slow
def test_evaluate_predict_export_and_serve(killed_and_resumed, tmp_path):
    import tensorflow as tf

    run_dir, *_ = killed_and_resumed
    model = run_dir / "model.keras"
    scores = dict(
        item.split("=") for item in cli("evaluate", model).stdout.strip().split(", ")
    )
    assert float(scores["accuracy"]) >= 0.8, scores
    rng = np.random.default_rng(1)
    samples = [tmp_path / "photo.jpg", tmp_path / "picture.png"]
    expected = ["red", "blue"]
    for path, name in zip(samples, expected, strict=True):
        save_image(path, COLOURS[name], rng)
    predictions = cli("predict", model, *samples).stdout.strip().splitlines()
    rows = [line.split("\t") for line in predictions]
    assert [name for _, name, _ in rows] == expected
    class_names = json.loads((run_dir / "class_names.json").read_text())

    export_dir = tmp_path / "export"
    exported = cli("export", model, export_dir).stdout
    assert "max difference from the Keras model" in exported
    serving = tf.saved_model.load(str(export_dir))
    size = (SETTINGS["image_size"], SETTINGS["image_size"])
    images = [
        tf.io.decode_image(tf.io.read_file(str(path)), channels=3) for path in samples
    ]
    images = [tf.image.resize(image, size) for image in images]
    probabilities = serving.serve(tf.stack(images)).numpy()
    assert [class_names[index] for index in probabilities.argmax(axis=1)] == expected
    np.testing.assert_allclose(
        probabilities.max(axis=1), [float(row[2]) for row in rows], atol=1e-3
    )

    # Trained on augmented images (augment "full"); yet neither the saved model
    # nor the export holds an augmentation layer.
    assert 'augment = "full"' in (run_dir / "config.toml").read_text()
    with zipfile.ZipFile(model) as archive:
        saved = archive.read("config.json").decode()
    exported = (export_dir / "saved_model.pb").read_bytes().decode(errors="replace")
    for name in ("augmentation", "Random", "random_"):
        assert name not in saved and name not in exported, name
