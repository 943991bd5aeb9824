"""Where training runs: one device.

Everything goes through `tf.distribute`: the model, optimizer and metrics are
made inside `strategy.scope()`. Its only strategy here is the default one:
Keras 3.15's `model.train_on_batch` cannot train a text model under MirroredStrategy
(it rebuilds a text model from every batch, and per-replica batches have
no shape to build from), nor under MultiWorkerMirroredStrategy
(keras-team/keras#20585). A project generated with the custom training loop
trains text on several GPUs and on several machines.
"""

import tensorflow as tf


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Create the strategy named in the config.

    Args:
        name: "auto" or "default": one device. With several GPUs visible,
            "auto" says that it uses one of them.

    Returns:
        The default strategy.
    """
    gpus = len(tf.config.list_logical_devices("GPU"))
    if name == "auto" and gpus > 1:
        print(
            f"Training on one of {gpus} GPUs: Keras 3.15's model.train_on_batch cannot "
            "train a text model under MirroredStrategy (see distribute.py)"
        )
    return tf.distribute.get_strategy()
