"""Where training runs: one device, several GPUs, or several machines.

Everything goes through `tf.distribute`: the model, optimizer and metrics are
made inside `strategy.scope()`, and each training loop feeds the strategy
batches of the global batch size, which it splits across replicas.
"""

import os
import tempfile
from pathlib import Path

import tensorflow as tf


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Create the strategy named in the config.

    Args:
        name: "auto" (mirrored over every GPU when there are two or more, else
            the default), "default" (one device), "mirrored" (every local GPU,
            or the CPU), or "multi-worker" (a cluster described by TF_CONFIG,
            or by SLURM's variables when TF_CONFIG is unset).

    Returns:
        The strategy. Create it before any other TensorFlow work: a
        multi-worker strategy must be set up before the runtime starts.
    """
    if name == "auto":
        name = (
            "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "default"
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if "TF_CONFIG" not in os.environ and "SLURM_JOB_ID" in os.environ:
        resolver = tf.distribute.cluster_resolver.SlurmClusterResolver()
    else:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (the only one, or worker 0)."""
    resolver = getattr(strategy.extended, "_cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    if has_chief:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def worker_dir(strategy: tf.distribute.Strategy, directory: Path) -> Path:
    """`directory` on the chief; a scratch directory on the other workers.

    Every worker must take part in saving a checkpoint, but only the chief's
    copy is kept.
    """
    if is_chief(strategy):
        return directory
    resolver = strategy.extended._cluster_resolver
    return Path(tempfile.gettempdir()) / f"worker-{resolver.task_id}" / directory.name


def distribute(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    """Split each global batch across the replicas, sharding by data."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return strategy.experimental_distribute_dataset(dataset.with_options(options))
