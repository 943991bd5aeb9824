"""Where training runs: one device, or every GPU of this machine.

Everything goes through `tf.distribute`: the model, optimizer and metrics are
made inside `strategy.scope()`, and the training loop feeds the strategy
batches of the global batch size (the config's `batch_size`), which it splits
across the replicas.

There is no multi-worker strategy here: under MultiWorkerMirroredStrategy,
Keras 3.15 cannot run `model.fit` (keras-team/keras#20585). A project
generated with the custom training loop trains on several machines.
"""

import keras
import tensorflow as tf


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Create the strategy named in the config.

    Args:
        name: "auto" (mirrored when two or more GPUs are visible, else the
            default), "default" (one device), or "mirrored" (every GPU of this
            machine; without GPUs, every logical CPU device).

    Returns:
        The strategy.
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
    devices = tf.config.list_logical_devices("GPU")
    devices = devices or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy([device.name for device in devices])


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
    the pipelines start from in-memory arrays rather than files.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    if keras.backend.backend() != "tensorflow":
        return dataset  # one device: the loop takes the batches whole
    return strategy.experimental_distribute_dataset(dataset.with_options(options))
