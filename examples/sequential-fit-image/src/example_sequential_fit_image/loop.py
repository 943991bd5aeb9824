"""Training with `model.fit`: Keras runs the loop; callbacks set and save.

Callbacks work between epochs: LearningRateScheduler sets each epoch's
learning rate, and a callback hands each epoch to the Bookkeeping the three
loops share (runs.py: history.csv, TensorBoard, the best weights, a checkpoint
of model and optimizer to resume from, early stopping).
"""

import keras

from . import backbones, distribute, optim
from .config import Config
from .data import Datasets
from .layers import dtype_policy
from .runs import Bookkeeping, Setup


def train_loop(setup: Setup, config: Config, book: Bookkeeping):
    """Run the epochs after book.completed, up to config.epochs or an early stop.

    Args:
        setup: The strategy, the data, and the model (compiled) and optimizer built in
            the strategy's scope.
        config: Reads the learning-rate schedule and the fine-tuning phases.
        book: Logs and checkpoints each epoch, and says when to stop.
    """
    model, optimizer, data, strategy = (
        setup.model,
        setup.optimizer,
        setup.data,
        setup.strategy,
    )
    # One model.fit per phase of fine-tuning (backbone frozen, then trained),
    # each compiled for the variables it trains.
    for initial_epoch, epochs in backbones.phases(
        config, book.completed, book.last_epoch()
    ):
        if backbones.set_trainable(model, config, initial_epoch):
            with strategy.scope(), dtype_policy(config.precision):
                compile_model(model, optimizer, config, setup.jit_compile)
        model.fit(
            distribute.distribute(strategy, data.train),
            validation_data=distribute.distribute(strategy, data.validation),
            initial_epoch=initial_epoch,
            epochs=epochs,
            callbacks=[
                keras.callbacks.LearningRateScheduler(
                    lambda index: optim.learning_rate(index, config)
                ),
                # Before _EndEpoch, so that each epoch's progress bar ends its
                # line before the files skipped in the epoch are named.
                keras.callbacks.ProgbarLogger(),
                _EndEpoch(book, data),
            ],
            shuffle=False,  # data.train reshuffles itself every epoch
        )
        if book.stopped():
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

    def run(steps: int) -> None:
        setup.model.fit(batches, steps_per_epoch=steps, verbose=0, shuffle=False)

    return run


def compile_model(model, optimizer, config: Config, jit_compile: bool) -> None:
    """Compile for fit; again whenever the trainable variables change."""
    model.compile(
        optimizer=optimizer,
        loss=optim.make_loss(config),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
        auto_scale_loss=False,  # make_optimizer has scaled it where needed
    )


class _EndEpoch(keras.callbacks.Callback):
    """Hands each epoch to the run's data and Bookkeeping; stops fit early.

    As an epoch begins: its shuffle order, from (seed, epoch), and after a
    resume the random state the checkpoint holds. As it ends: its logs.
    """

    def __init__(self, book: Bookkeeping, data: Datasets):
        super().__init__()
        self.book, self.data = book, data

    def on_epoch_begin(self, epoch, logs=None):
        self.data.start_epoch(epoch)
        self.book.start_epoch()

    def on_epoch_end(self, epoch, logs=None):
        self.data.report_skipped()  # the files the pipelines skipped in the epoch
        if self.book.end_epoch(epoch, logs):
            self.model.stop_training = True
