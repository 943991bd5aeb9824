"""Distributed training: two replicas train as one device does.

TensorFlow fixes its devices when it starts, so the slow tests train in fresh
processes: with the CPU split into one or two logical devices for
MirroredStrategy.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from example_functional_train_on_batch_text.config import ConfigError, load_config
from example_functional_train_on_batch_text.data import load_datasets
from example_functional_train_on_batch_text.saving import load_model

SRC = Path(__file__).parents[1] / "src"
# A short run without dropout: a replica draws masks for its share of the batch
# only, which no single-device run reproduces. Batch normalization is synchronized, so
# every replica normalizes with the statistics of the whole global batch. A small
# learning rate keeps training out of its chaotic regime, where rounding
# differences (sums taken in another order) grow by orders of magnitude within an
# epoch: at the default 1e-3, the two runs' second-epoch losses differ by up to
# 6e-2 on text, which would hide a real mistake. Deterministic: both runs see
# the batches in the same order, made by the same kernels.
SETTINGS = {
    "epochs": 2,
    "dropout_rate": 0.0,
    "resnet_dropout_rate": 0.0,
    "learning_rate": 1e-4,
    "deterministic": True,
}
# Largest relative differences allowed between the losses of one and two replicas,
# ten times the largest measured across the 18 styles, loops and tasks: training
# loss 2.8e-5 in the first epoch and 1.9e-4 in the second, validation loss 5.3e-4.
FIRST_EPOCH_LOSS_TOLERANCE = 2e-4
LOSS_TOLERANCE = 2e-3
VALIDATION_LOSS_TOLERANCE = 5e-3
# Trains with MirroredStrategy on the CPU split into argv[2] logical devices,
# then keeps the trained classifier's predictions for one validation batch of
# token ids.
ON_DEVICES = """
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

run_dir, devices, settings = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * devices
)

from example_functional_train_on_batch_text import distribute, training
from example_functional_train_on_batch_text.config import load_config
from example_functional_train_on_batch_text.data import load_datasets

models = []
build_model = training.build_model


def build_and_keep(*args, **kwargs):
    models.append(build_model(*args, **kwargs))
    return models[-1]


training.build_model = build_and_keep
config = load_config(strategy="mirrored", **json.loads(settings))
strategy = distribute.make_strategy("mirrored")
data = load_datasets(config)
_, labels = next(iter(distribute.distribute(strategy, data.train)))
shares = [len(share) for share in strategy.experimental_local_results(labels)]
history = training.train(config, run_dir)
(run_dir / "results.json").write_text(json.dumps({"shares": shares, **history}))
inputs, _ = next(iter(data.validation))
np.save(run_dir / "predictions.npy", models[-1].predict(inputs, verbose=0))
"""


def start_python(code: str, *args, log: Path, **env) -> subprocess.Popen:
    """Start Python code in a fresh process with this project's sources."""
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-c", code, *map(str, args)],
            env={**os.environ, "PYTHONPATH": str(SRC), **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def stop(processes: list[subprocess.Popen]) -> None:
    """Kill the processes still running."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs with the same settings, on one and on two devices, side by side."""
    directory = tmp_path_factory.mktemp("devices")
    logs = {devices: directory / f"{devices}.log" for devices in (1, 2)}
    processes = {
        devices: start_python(
            ON_DEVICES,
            directory / str(devices),
            devices,
            json.dumps(SETTINGS),
            log=logs[devices],
        )
        for devices in (1, 2)
    }
    try:
        for devices, process in processes.items():
            status = process.wait(timeout=300)
            assert status == 0, logs[devices].read_text()[-3000:]
    finally:
        stop(processes.values())
    return {
        devices: {
            "run_dir": directory / str(devices),
            **json.loads((directory / str(devices) / "results.json").read_text()),
        }
        for devices in (1, 2)
    }


@pytest.mark.slow
def test_each_replica_gets_its_share_of_the_global_batch(runs):
    batch_size = load_config().batch_size
    assert runs[1]["shares"] == [batch_size]
    assert runs[2]["shares"] == [batch_size // 2, batch_size // 2]


@pytest.mark.slow
def test_two_replicas_match_one_device_epoch_by_epoch(runs):
    one, two = runs[1], runs[2]
    assert len(one["loss"]) == len(two["loss"]) == SETTINGS["epochs"]
    np.testing.assert_allclose(
        two["loss"][0], one["loss"][0], rtol=FIRST_EPOCH_LOSS_TOLERANCE
    )
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=LOSS_TOLERANCE)
    np.testing.assert_allclose(
        two["val_loss"], one["val_loss"], rtol=VALIDATION_LOSS_TOLERANCE
    )


@pytest.mark.slow
def test_model_trained_on_two_replicas_reloads_and_predicts(runs):
    run_dir = runs[2]["run_dir"]
    # The saved model takes the texts of the token ids the classifier was given.
    data = load_datasets(load_config(**SETTINGS), vectorize=False)
    inputs, labels = next(iter(data.validation))
    predictions = load_model(run_dir / "model.keras").predict(inputs, verbose=0)
    assert predictions.shape == (len(labels), 4)
    trained = np.load(run_dir / "predictions.npy")
    np.testing.assert_allclose(predictions, trained, atol=1e-5)


def test_multi_worker_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match="keras-team/keras#20585"):
        load_config(strategy="multi-worker")
