"""Distributed training: two replicas train as one device does; two workers agree.

TensorFlow fixes its devices when it starts, so the slow tests train in fresh
processes: with the CPU split into one or two logical devices for
MirroredStrategy, and as two workers on 127.0.0.1 for MultiWorkerMirroredStrategy.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from example_subclassing_custom_image import distribute
from example_subclassing_custom_image.config import ProjectError, load_config
from example_subclassing_custom_image.data import load_datasets
from example_subclassing_custom_image.saving import load_model

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
# then keeps the trained model's predictions for one validation batch.
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

from example_subclassing_custom_image import distribute, training
from example_subclassing_custom_image.config import load_config
from example_subclassing_custom_image.data import load_datasets

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
    data = load_datasets(load_config(**SETTINGS))
    inputs, labels = next(iter(data.validation))
    predictions = load_model(run_dir / "model.keras").predict(inputs, verbose=0)
    assert predictions.shape == (len(labels), 10)
    trained = np.load(run_dir / "predictions.npy")
    np.testing.assert_allclose(predictions, trained, atol=1e-5)


def test_multi_worker_without_a_cluster_is_an_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with pytest.raises(ProjectError, match="TF_CONFIG"):
        distribute.make_strategy("multi-worker")


@pytest.mark.parametrize(
    ("cluster", "task", "chief"),
    [
        ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 0}, True),
        ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 1}, False),
        ({"chief": ["a:1"], "worker": ["b:1"]}, {"type": "worker", "index": 0}, False),
        ({"chief": ["a:1"], "worker": ["b:1"]}, {"type": "chief", "index": 0}, True),
    ],
)
def test_only_one_worker_is_the_chief(monkeypatch, cluster, task, chief):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    strategy = types.SimpleNamespace(cluster_resolver=resolver)
    assert distribute.is_chief(strategy) is chief


# A worker: the command line, keeping the weights of the model it trained.
WORKER = """
import sys

import numpy as np

from example_subclassing_custom_image import training
from example_subclassing_custom_image.cli import main

models = []
build_model = training.build_model


def build_and_keep(*args, **kwargs):
    models.append(build_model(*args, **kwargs))
    return models[-1]


training.build_model = build_and_keep
status = main(sys.argv[2:])
np.savez(sys.argv[1], *models[-1].get_weights())
sys.exit(status)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """Two worker processes on 127.0.0.1, killed if a test leaves them running."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.processes = []

    def start(self, name: str, arguments: list[str]) -> None:
        """Start both workers with the same command-line arguments."""
        addresses = [f"127.0.0.1:{free_port()}" for _ in range(2)]
        self.processes = []
        for index in range(2):
            tf_config = {
                "cluster": {"worker": addresses},
                "task": {"type": "worker", "index": index},
            }
            scratch = self.directory / f"{name}-scratch{index}"
            scratch.mkdir()
            env = {
                **os.environ,
                "PYTHONPATH": str(SRC),
                "TF_CONFIG": json.dumps(tf_config),
                "TMPDIR": str(scratch),
            }
            weights = self.directory / f"{name}-weights{index}.npz"
            command = [sys.executable, "-c", WORKER, weights, "train", *arguments]
            with (self.directory / f"{name}-worker{index}.log").open("w") as log:
                self.processes.append(
                    subprocess.Popen(
                        [str(part) for part in command],
                        cwd=self.directory,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )

    def wait(self, timeout: float) -> list[int]:
        """Wait for both workers to exit; return their exit codes."""
        deadline = time.monotonic() + timeout
        return [
            process.wait(timeout=max(deadline - time.monotonic(), 1))
            for process in self.processes
        ]

    def log(self, name: str, index: int) -> str:
        return (self.directory / f"{name}-worker{index}.log").read_text()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """Two workers train, worker 1 is killed after the first epoch, both resume.

    Yields the run directory (on the chief), the two workers' weights, the
    chief's process ids and the cluster (its logs) once the resumed run ends.
    """
    directory = tmp_path_factory.mktemp("two-workers")
    cluster = Cluster(directory)
    settings = [
        *("--strategy", "multi-worker", "--epochs", "2", "--dropout-rate", "0"),
        "--deterministic",  # the workers' weights are compared bit for bit
    ]
    try:
        cluster.start("first", [*settings, "--output-dir", "runs"])
        chief_pids = [cluster.processes[0].pid]
        deadline = time.monotonic() + 240
        while not list(directory.glob("runs/*/checkpoints/ckpt-1/")):
            assert time.monotonic() < deadline, cluster.log("first", 0)[-3000:]
            exits = [process.poll() for process in cluster.processes]
            assert exits == [None, None], cluster.log("first", 0)[-3000:]
            time.sleep(0.1)
        cluster.processes[1].send_signal(signal.SIGKILL)
        # The chief notices the lost worker and stops with an error, by itself.
        assert cluster.wait(timeout=120)[0] != 0
        (run_dir,) = (directory / "runs").iterdir()
        assert not (run_dir / "checkpoints" / "ckpt-2").exists()

        cluster.start("resumed", ["--resume", run_dir])
        chief_pids.append(cluster.processes[0].pid)
        exits = cluster.wait(timeout=240)
        assert exits == [0, 0], cluster.log("resumed", 0)[-3000:]
        weights = [
            np.load(directory / f"resumed-weights{index}.npz") for index in range(2)
        ]
        yield run_dir, weights, chief_pids, cluster
    finally:
        cluster.stop()


@pytest.mark.slow
def test_two_workers_resume_after_one_is_killed(two_workers):
    run_dir, _, _, cluster = two_workers
    for index in range(2):
        assert f"Resuming {run_dir} after epoch 1 of 2" in cluster.log("resumed", index)
    history = (run_dir / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["0", "1"]


@pytest.mark.slow
def test_two_workers_end_with_identical_weights(two_workers):
    run_dir, weights, _, _ = two_workers
    first, second = ([archive[key] for key in archive.files] for archive in weights)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    saved = load_model(run_dir / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(saved, first, strict=True))


@pytest.mark.slow
def test_only_the_chief_writes(two_workers):
    run_dir, _, chief_pids, cluster = two_workers
    directory = run_dir.parents[1]
    assert [path.name for path in (directory / "runs").iterdir()] == [run_dir.name]
    events = list((run_dir / "logs").rglob("events.out.tfevents.*"))
    assert events
    writers = {int(re.search(r"\.(\d+)\.\d+\.v2$", path.name)[1]) for path in events}
    assert writers <= set(chief_pids)
    # Worker 1 deletes its own copy of each checkpoint once it is written.
    assert not list((directory / "resumed-scratch1").glob("checkpoints-*"))
    assert "Not the chief" in cluster.log("resumed", 1)
