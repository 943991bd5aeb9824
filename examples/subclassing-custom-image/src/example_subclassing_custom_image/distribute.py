"""Where training runs: one device, every GPU of this machine, or several machines.

Everything goes through `tf.distribute`: the model, optimizer and metrics are
made inside `strategy.scope()`, and the training loop feeds the strategy
batches of the global batch size (the config's `batch_size`), which it splits
across the replicas.
"""

import os
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from .config import ProjectError


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Create the strategy named in the config.

    Args:
        name: "auto" (mirrored when two or more GPUs are visible, else the
            default), "default" (one device), "mirrored" (every GPU of this
            machine; without GPUs, every logical CPU device), or "multi-worker"
            (a cluster described by TF_CONFIG, or by SLURM's variables when
            TF_CONFIG is unset).

    Returns:
        The strategy. Create it before any other TensorFlow work: a
        multi-worker strategy must be set up before the runtime starts.

    Raises:
        ProjectError: "multi-worker" with neither TF_CONFIG nor a SLURM job to
            describe the cluster.
    """
    if keras.backend.backend() != "tensorflow":
        # One device: tf.distribute is TensorFlow's (config.validate refuses others).
        return tf.distribute.get_strategy()
    if name == "auto":
        name = (
            "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "default"
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU")
        devices = devices or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if "TF_CONFIG" in os.environ:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    elif "SLURM_JOB_ID" in os.environ:
        resolver = tf.distribute.cluster_resolver.SlurmClusterResolver()
    else:
        raise ProjectError(
            "strategy 'multi-worker' needs the cluster described by TF_CONFIG "
            "or by a SLURM job; neither is set"
        )
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (the only one, or worker 0)."""
    resolver = strategy.cluster_resolver
    if resolver is None or not resolver.task_type:
        return True
    if "chief" in resolver.cluster_spec().as_dict():
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def checkpoint_dir(strategy: tf.distribute.Strategy, directory: Path) -> Path:
    """`directory` on the chief; a new scratch directory on the other workers.

    Every worker must take part in saving a checkpoint, but only the chief's
    copy is kept: the others delete theirs after each save, and all of them
    resume from the chief's.
    """
    if is_chief(strategy):
        return directory
    task_id = strategy.cluster_resolver.task_id
    return Path(tempfile.mkdtemp(prefix=f"checkpoints-worker{task_id}-"))


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Return once every worker has called it (an all-reduce of a constant)."""
    ones = strategy.run(lambda: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)


def use_xla(
    setting: str, strategy: tf.distribute.Strategy, deterministic: bool
) -> bool:
    """Whether to compile training steps with XLA (the config's jit_compile).

    "auto" follows Keras's rule for `compile(jit_compile="auto")`: XLA on a
    machine with an accelerator, off on a CPU-only one (where it slows
    convolutions about tenfold), off under a distribution strategy and off
    with op determinism, which XLA cannot guarantee.

    Args:
        setting: "auto", "true" or "false".
        strategy: The strategy the model trains under.
        deterministic: Whether op determinism is on.
    """
    if setting != "auto":
        return setting == "true"
    if keras.backend.backend() == "jax":
        return True  # jax.jit compiles with XLA: how JAX runs fast on any device
    if keras.backend.backend() == "torch":
        return False  # torch.compile: not by default
    accelerators = [
        device
        for device in tf.config.list_physical_devices()
        if device.device_type != "CPU"
    ]
    default = strategy is tf.distribute.get_strategy()
    return bool(accelerators) and default and not deterministic


def distribute(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    """Split each global batch across the replicas.

    The auto-shard policy is explicit: DATA, sharding by batch element, since
    the pipelines start from in-memory arrays rather than files. Every worker
    reads the whole pipeline and keeps its share of each global batch.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    if keras.backend.backend() != "tensorflow":
        return dataset  # one device: the loop takes the batches whole
    return strategy.experimental_distribute_dataset(dataset.with_options(options))
