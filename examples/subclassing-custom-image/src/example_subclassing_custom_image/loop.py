"""Training with a custom loop: the epochs here, the steps in steps_<backend>.py.

Every part of a step is written out, in the idiom of the backend Keras runs
on: the forward pass, the loss, the gradients, the update, and the metrics.
Change any of it (several losses, gradient clipping, a second model) in
steps_tensorflow.py, steps_jax.py or steps_torch.py. This module runs the
epochs around them, the same on every backend: the learning rate of each
epoch, progress, validation; each epoch is handed to the Bookkeeping the three
loops share (runs.py).
"""

import time

import keras

from . import backbones, optim
from .config import Config
from .runs import Bookkeeping, Setup
from .steps import make_steps


def train_loop(setup: Setup, config: Config, book: Bookkeeping):
    """Run the epochs after book.completed, up to config.epochs or an early stop.

    Args:
        setup: The strategy, the data, and the model and optimizer built in
            the strategy's scope.
        config: Reads epochs, the learning-rate schedule and label_smoothing.
        book: Logs and checkpoints each epoch, and says when to stop.
    """
    optimizer, data = setup.optimizer, setup.data
    steps = data.train.cardinality().numpy()
    validation_steps = data.validation.cardinality().numpy()
    backbones.set_trainable(setup.model, config, book.completed)
    loop = make_steps(setup, config)

    for index in range(book.completed, book.last_epoch()):
        if backbones.set_trainable(setup.model, config, index):
            # New steps: the old ones hold the trainable variables they saw.
            loop = make_steps(setup, config)
        optimizer.learning_rate = optim.learning_rate(index, config)
        data.start_epoch(index)
        book.start_epoch()
        print(f"Epoch {index + 1}/{config.epochs}")
        progress = keras.utils.Progbar(steps, stateful_metrics=list(loop.metrics))
        loop.start_epoch()
        start = time.perf_counter()
        batches = loop.batches(data.train)
        for step in range(1, steps + 1):
            results = loop.train(batches)
            progress.update(
                step, values=[(key, float(value)) for key, value in results.items()]
            )
        batches = loop.batches(data.validation)
        for _ in range(validation_steps):
            loop.validate(batches)
        logs = loop.end_epoch()
        logs["learning_rate"] = optim.learning_rate(index, config)
        progress.update(steps, values=list(logs.items()), finalize=True)
        print(f"{time.perf_counter() - start:.1f} s")
        data.report_skipped()
        if book.end_epoch(index, logs):
            break


def step_runner(setup: Setup, config: Config):
    """The training step of this loop, for the benchmark to time.

    Args:
        setup: What training.prepare made.
        config: The settings (the loss reads label_smoothing).

    Returns:
        A function run(steps) that trains `steps` steps, as train does, on
        batches from a fresh pass over the training data.
    """
    loop = make_steps(setup, config)
    batches = loop.batches(setup.data.train.repeat())
    loop.start_epoch()

    def run(steps: int) -> None:
        for _ in range(steps):
            loop.train(batches)
        # Waits for the last step.
        loop.results()

    return run
