"""What the custom loop asks of a backend: one contract, one module per backend.

loop.py runs the epochs; `steps_tensorflow.py`, `steps_jax.py` and
`steps_torch.py` each write the step in their backend's own idiom, as Keras's
"Writing a training loop from scratch" guides do. `make_steps` picks the one
for the backend Keras runs on and imports no other.
"""

import importlib

import keras

from . import optim


def make_steps(setup, config) -> "Steps":
    """The custom loop's steps for the backend Keras runs on.

    Args:
        setup: What training.prepare made: the model and optimizer, built.
        config: Reads label_smoothing.
    """
    module = importlib.import_module(f".steps_{keras.backend.backend()}", __package__)
    return module.Steps(setup, config)


class Steps:
    """A training step and a validation step, and the metrics they update.

    An epoch calls start_epoch, then train once per batch of the iterator
    batches(train data), then validate once per batch of batches(validation
    data), then end_epoch, which leaves the model's variables trained and
    returns the logs. The steps take the iterator rather than a batch, so that
    a backend may read each batch inside its compiled step, as `fit` does.

    Attributes:
        metrics: loss, accuracy, val_loss and val_accuracy, as Keras metrics.
    """

    #: The metrics train returns after each step, for the progress bar.
    PROGRESS = ("loss", "accuracy")

    def __init__(self, setup, config):
        self.model, self.optimizer = setup.model, setup.optimizer
        self.loss_fn = optim.make_loss(config, reduction=None)
        with setup.strategy.scope():
            self.metrics = {
                "loss": keras.metrics.Mean(name="loss"),
                "accuracy": keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                "val_loss": keras.metrics.Mean(name="val_loss"),
                "val_accuracy": keras.metrics.SparseCategoricalAccuracy(
                    name="val_accuracy"
                ),
            }

    def batches(self, dataset):
        """An iterator over a tf.data pipeline's batches, as NumPy arrays."""
        return dataset.as_numpy_iterator()

    def start_epoch(self) -> None:
        for metric in self.metrics.values():
            metric.reset_state()

    def train(self, batches) -> dict:
        """Train on the next (inputs, labels) batch of the iterator `batches`.

        Returns:
            The epoch's PROGRESS metrics so far, as scalars.
        """
        raise NotImplementedError

    def validate(self, batches) -> None:
        """Predict the next batch of `batches`; update val_loss and val_accuracy."""
        raise NotImplementedError

    def results(self, *names: str) -> dict[str, float]:
        """The metrics of the epoch so far: those named, or all of them."""
        return {
            name: float(self.metrics[name].result()) for name in names or self.metrics
        }

    def end_epoch(self) -> dict[str, float]:
        """Finish the epoch: the model's variables hold its training; its metrics."""
        return self.results()
