"""Benchmark: how fast this project trains here, and whether its input keeps up.

    python -m example_functional_train_on_batch_text benchmark [--steps N] [--json]

It builds the configured model and input pipelines on this machine's devices
as `train` does (strategy, precision, XLA) and runs the project's own training
step for a few warm-up steps, which trace and compile it, then times more
steps from a fresh pass over the training data. It then times the input
pipeline alone over the same batches. Nothing is written. It takes the
settings `train` takes. The step timed: `model.train_on_batch`.
"""

import os
import resource
import sys
import time

import tensorflow as tf

from . import loop, training
from .config import Config


def benchmark(config: Config, *, steps: int = 20, warmup: int = 5) -> dict:
    """Time training steps and the input pipeline alone.

    Args:
        config: The validated settings.
        steps: Training steps to time, after the warm-up.
        warmup: Steps run first and not timed (tracing, compiling, threads).

    Returns:
        The figures: training_examples_per_second, pipeline_examples_per_second,
        their ratio pipeline_to_training (above 1: the pipeline keeps up),
        peak_host_memory_mib, the devices, and the settings that shaped them.
    """
    setup = training.prepare(config)
    run_steps = loop.step_runner(setup, config)
    run_steps(warmup)
    start = time.perf_counter()
    run_steps(steps)
    training_seconds = time.perf_counter() - start

    # The timed steps' batches again, from a fresh pass: the pipeline alone.
    batches = iter(setup.data.train.repeat())
    start = time.perf_counter()
    examples = sum(len(labels) for _, labels in (next(batches) for _ in range(steps)))
    pipeline_seconds = time.perf_counter() - start
    training_rate = examples / training_seconds
    pipeline_rate = examples / pipeline_seconds
    return {
        "loop": "train_on_batch",
        "preset": config.preset,
        "batch_size": config.batch_size,
        "precision": config.precision,
        "jit_compile": setup.jit_compile,
        "strategy": type(setup.strategy).__name__.lstrip("_"),
        "replicas": setup.strategy.num_replicas_in_sync,
        "devices": devices(setup.strategy),
        "cpu_cores": os.cpu_count(),
        "steps": steps,
        "warmup": warmup,
        "training_examples_per_second": training_rate,
        "pipeline_examples_per_second": pipeline_rate,
        "pipeline_to_training": pipeline_rate / training_rate,
        "peak_host_memory_mib": peak_host_memory_mib(),
    }


def devices(strategy: tf.distribute.Strategy) -> list[str]:
    """The devices the strategy trains on; for the default, where TF places ops."""
    if strategy is tf.distribute.get_strategy():
        gpus = tf.config.list_logical_devices("GPU")
        return [(gpus or tf.config.list_logical_devices())[0].name]
    return list(strategy.extended.worker_devices)


def peak_host_memory_mib() -> float:
    """The largest resident memory this process has had, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kibibytes, macOS bytes.
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def report(figures: dict) -> str:
    """The figures as a few lines for people."""
    xla = "on" if figures["jit_compile"] else "off"
    ratio = figures["pipeline_to_training"]
    verdict = "keeps up" if ratio >= 1 else "is the bottleneck"
    return "\n".join(
        [
            f"{figures['loop']} loop, preset {figures['preset']}, batch "
            f"{figures['batch_size']}, {figures['precision']}, XLA {xla}, "
            f"{figures['strategy']} on {', '.join(map(_short, figures['devices']))} "
            f"({figures['cpu_cores']} CPU cores)",
            f"training:  {figures['training_examples_per_second']:10.1f} examples/s "
            f"({figures['steps']} steps timed after {figures['warmup']} warm-up)",
            f"pipeline:  {figures['pipeline_examples_per_second']:10.1f} examples/s "
            f"alone, {ratio:.2f}x training: the input pipeline {verdict}",
            f"peak host memory: {figures['peak_host_memory_mib']:.0f} MiB",
        ]
    )


def _short(device: str) -> str:
    """A device's short name: CPU:0 for /job:localhost/replica:0/task:0/device:CPU:0."""
    return device.rpartition("device:")[2]
