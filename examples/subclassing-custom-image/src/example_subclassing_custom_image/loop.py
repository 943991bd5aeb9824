"""Training with a custom loop: `tf.GradientTape` in a compiled `tf.function`.

Every part of a step is written out: the forward pass, the loss averaged over
the global batch, the gradients, the update, and the metrics. Change any of it
(several losses, gradient clipping, a second model) right here, in make_steps.
Each epoch is handed to the Bookkeeping the three loops share (runs.py).
"""

import itertools
import time

import keras
import tensorflow as tf

from . import backbones, distribute, optim
from .config import Config
from .runs import Bookkeeping, Setup


def train_loop(setup: Setup, config: Config, book: Bookkeeping):
    """Run the epochs after book.completed, up to config.epochs or an early stop.

    Args:
        setup: The strategy, the data, and the model and optimizer built in
            the strategy's scope.
        config: Reads epochs, the learning-rate schedule and label_smoothing.
        book: Logs and checkpoints each epoch, and says when to stop.
    """
    optimizer, data, strategy = setup.optimizer, setup.data, setup.strategy
    steps = data.train.cardinality().numpy()
    train_batches = distribute.distribute(strategy, data.train)
    validation_batches = distribute.distribute(strategy, data.validation)
    specs = train_batches.element_spec, validation_batches.element_spec
    backbones.set_trainable(setup.model, config, book.completed)
    metrics, distributed_train_step, distributed_validation_step = make_steps(
        setup, config, *specs
    )

    for index in range(book.completed, book.last_epoch()):
        if backbones.set_trainable(setup.model, config, index):
            # New traces: the old ones hold the trainable variables they saw.
            metrics, distributed_train_step, distributed_validation_step = make_steps(
                setup, config, *specs
            )
        optimizer.learning_rate = optim.learning_rate(index, config)
        print(f"Epoch {index + 1}/{config.epochs}")
        progress = keras.utils.Progbar(steps, stateful_metrics=list(metrics))
        for metric in metrics.values():
            metric.reset_state()
        start = time.perf_counter()
        for step, batch in enumerate(train_batches, start=1):
            distributed_train_step(batch)
            progress.update(
                step,
                values=[(key, metrics[key].result()) for key in ("loss", "accuracy")],
            )
        for batch in validation_batches:
            distributed_validation_step(batch)
        logs = {key: float(metric.result()) for key, metric in metrics.items()}
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
    batches = distribute.distribute(setup.strategy, setup.data.train.repeat())
    validation_batches = distribute.distribute(setup.strategy, setup.data.validation)
    metrics, train_step, _ = make_steps(
        setup, config, batches.element_spec, validation_batches.element_spec
    )

    def run(steps: int) -> None:
        for batch in itertools.islice(batches, steps):
            train_step(batch)
        # Waits for the last step.
        metrics["loss"].result().numpy()

    return run


def make_steps(setup: Setup, config: Config, train_spec, validation_spec):
    """The custom loop's metrics and its compiled training and validation steps.

    Args:
        setup: The strategy, and the model and optimizer built in its scope.
        config: Reads label_smoothing.
        train_spec: The element_spec of the distributed training batches.
        validation_spec: The same for the validation batches.

    Returns:
        (metrics, train_step, validation_step): the steps take one
        distributed batch and update the metrics, a dict of Keras metrics.
    """
    model, optimizer, strategy = setup.model, setup.optimizer, setup.strategy
    loss_fn = optim.make_loss(config, reduction=None)
    with strategy.scope():
        metrics = {
            "loss": keras.metrics.Mean(name="loss"),
            "accuracy": keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            "val_loss": keras.metrics.Mean(name="val_loss"),
            "val_accuracy": keras.metrics.SparseCategoricalAccuracy(
                name="val_accuracy"
            ),
        }

    # Each replica's step, compiled as fit compiles its own: with XLA or not.
    @tf.function(jit_compile=setup.jit_compile)
    def train_step(inputs, labels):
        with tf.GradientTape() as tape:
            probabilities = model(inputs, training=True)
            per_example_loss = loss_fn(labels, probabilities)
            # Averaged over the global batch: each replica adds its share.
            loss = tf.nn.compute_average_loss(per_example_loss)
            # Scaled up under mixed_float16 (a LossScaleOptimizer), else unchanged;
            # apply_gradients unscales the gradients.
            scaled_loss = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, model.trainable_variables)
        optimizer.apply_gradients(
            zip(gradients, model.trainable_variables, strict=True)
        )
        metrics["loss"].update_state(per_example_loss)
        metrics["accuracy"].update_state(labels, probabilities)

    @tf.function(jit_compile=setup.jit_compile)
    def validation_step(inputs, labels):
        probabilities = model(inputs, training=False)
        metrics["val_loss"].update_state(loss_fn(labels, probabilities))
        metrics["val_accuracy"].update_state(labels, probabilities)

    # One trace serves every batch, the last partial one included.
    @tf.function(input_signature=[train_spec])
    def distributed_train_step(batch):
        strategy.run(train_step, args=batch)

    @tf.function(input_signature=[validation_spec])
    def distributed_validation_step(batch):
        strategy.run(validation_step, args=batch)

    return metrics, distributed_train_step, distributed_validation_step
