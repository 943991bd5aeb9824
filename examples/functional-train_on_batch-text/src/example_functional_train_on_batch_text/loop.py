"""Training with an epoch loop over `model.train_on_batch`.

Keras compiles the step (forward, loss, gradients, update); this loop decides
everything around it: the order of batches, the learning rate of each epoch,
validation with `test_on_batch`, logging and checkpoints (runs.Bookkeeping).
The same loop runs on every backend: off TensorFlow, the tf.data pipelines
hand it NumPy batches (_batches).
"""

import itertools

import keras

from . import distribute, optim
from .config import Config
from .runs import Bookkeeping, Setup


def train_loop(setup: Setup, config: Config, book: Bookkeeping):
    """Run the epochs after book.completed, up to config.epochs or an early stop.

    Args:
        setup: The strategy, the data, and the model (compiled) and optimizer built in
            the strategy's scope.
        config: Reads epochs, the learning-rate schedule and label_smoothing.
        book: Logs and checkpoints each epoch, and says when to stop.
    """
    model, optimizer, data, strategy = (
        setup.model,
        setup.optimizer,
        setup.data,
        setup.strategy,
    )
    # Keras builds the compiled loss and metrics on the first batch it is
    # given, and cannot read shapes from the per-replica batches fed below:
    # give it one ordinary batch first.
    model.test_on_batch(*next(iter(_batches(data.validation))))
    steps = data.train.cardinality().numpy()
    # Each replica gets its share of every global batch, not the whole batch.
    train_batches = distribute.distribute(strategy, data.train)
    validation_batches = distribute.distribute(strategy, data.validation)
    for index in range(book.completed, book.last_epoch()):
        optimizer.learning_rate = optim.learning_rate(index, config)
        data.start_epoch(index)
        book.start_epoch()
        print(f"Epoch {index + 1}/{config.epochs}")
        progress = keras.utils.Progbar(steps, stateful_metrics=["loss", "accuracy"])
        totals = _Totals()
        for step, (inputs, labels) in enumerate(_batches(train_batches), start=1):
            logs = model.train_on_batch(inputs, labels, return_dict=True)
            totals.add(logs, _batch_size(strategy, labels))
            progress.update(step, values=list(totals.means().items()))
        train_logs = totals.means()
        totals = _Totals()
        for inputs, labels in _batches(validation_batches):
            logs = model.test_on_batch(inputs, labels, return_dict=True)
            totals.add(logs, _batch_size(strategy, labels))
        val_logs = {f"val_{key}": value for key, value in totals.means().items()}
        logs = {
            **train_logs,
            **val_logs,
            "learning_rate": optim.learning_rate(index, config),
        }
        progress.update(steps, values=list(logs.items()), finalize=True)
        if book.end_epoch(index, logs):
            break


def step_runner(setup: Setup, config: Config):
    """The training step of this loop, for the benchmark to time.

    Args:
        setup: What training.prepare made.
        config: The settings.

    Returns:
        A function run(steps) that trains `steps` steps, as train does, on
        batches from a fresh pass over the training data.
    """
    batches = distribute.distribute(setup.strategy, setup.data.train.repeat())
    # As train_loop: one ordinary batch builds the compiled loss and metrics.
    setup.model.test_on_batch(*next(iter(_batches(setup.data.validation))))

    def run(steps: int) -> None:
        for inputs, labels in itertools.islice(_batches(batches), steps):
            setup.model.train_on_batch(inputs, labels)

    return run


def compile_model(model, optimizer, config: Config, jit_compile: bool) -> None:
    """Compile for train_on_batch."""
    model.compile(
        optimizer=optimizer,
        loss=optim.make_loss(config),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
        auto_scale_loss=False,  # make_optimizer has scaled it where needed
    )


class _Totals:
    """Per-batch logs summed by batch size, for epoch means."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def add(self, logs, batch_size):
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0.0) + value * batch_size
        self.count += batch_size

    def means(self):
        return {key: total / self.count for key, total in self.sums.items()}


def _batches(dataset):
    """A pipeline's batches: tf.distribute's on TensorFlow, NumPy arrays elsewhere.

    JAX's train_on_batch takes NumPy arrays, not tf.Tensor.
    """
    if keras.backend.backend() == "tensorflow":
        return dataset
    return dataset.as_numpy_iterator()


def _batch_size(strategy, labels) -> int:
    """The size of a global batch: the sum of its replicas' shares."""
    return sum(len(share) for share in strategy.experimental_local_results(labels))
