"""Training with a custom loop: `tf.GradientTape` in a compiled `tf.function`.

Every part of a step is written out: the forward pass, the loss averaged over
the global batch, the gradients, the update, and the metrics. Change any of it
(several losses, gradient clipping, a second model) right here.
"""

import csv
import dataclasses
import itertools
import json
import os
import shutil
import time
from pathlib import Path

import keras
import tensorflow as tf

from . import backbones, distribute, optim, saving
from .config import Config, ProjectError
from .data import Datasets, load_datasets
from .layers import dtype_policy
from .model import build_model

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def train(
    config: Config, run_dir: Path, *, resume: bool = False
) -> dict[str, list[float]]:
    """Train a model as configured, writing everything the run makes to run_dir.

    The run directory holds `config.toml` (the settings used), `summary.txt`,
    `class_names.json`, `checkpoints/` (model and optimizer after each epoch,
    and in `checkpoints/best/` the weights of the best epoch so far), `logs/`
    (TensorBoard), `history.csv`, `training_curves.png` and, at the end,
    `model.keras` (the last epoch, or the best one with early stopping) and
    `best.keras` (the epoch with the best validation accuracy).

    Args:
        config: The validated settings.
        run_dir: The run's directory; created if needed.
        resume: Continue from the last checkpoint in run_dir.

    Returns:
        The history of every epoch, resumed ones included: a list per key of
        HISTORY_KEYS.
    """
    setup = prepare(config)
    strategy, data, model, optimizer = (
        setup.strategy,
        setup.data,
        setup.model,
        setup.optimizer,
    )
    for path in data.skipped:
        print(f"Skipped file (unreadable or not an image): {path}")
    print(f"Precision {config.precision}, XLA {'on' if setup.jit_compile else 'off'}")
    book = Bookkeeping(model, optimizer, config, run_dir, strategy, data)
    if resume:
        completed = book.restore()
        if config.epochs < completed:
            raise ProjectError(
                f"epochs must be at least {completed}, the epochs {run_dir} has "
                f"completed; got {config.epochs}"
            )
        print(f"Resuming {run_dir} after epoch {completed} of {config.epochs}")
        if book.chief:
            _write_text(run_dir / "config.toml", config.to_toml())
            _truncate_history(run_dir, completed)
    elif book.chief:
        _write_run_files(model, config, data, run_dir)

    train_loop(setup, config, book)
    history = read_history(run_dir)
    backbones.unfreeze(model, config)
    book.save_models(model)
    if book.chief:
        plot_history(history, run_dir / "training_curves.png")
    return history


@dataclasses.dataclass
class Setup:
    """What a run trains: the strategy, data, model and optimizer, made as configured.

    Attributes:
        strategy: The tf.distribute strategy.
        data: The training and validation pipelines.
        model: The model, built in the strategy's scope.
        optimizer: Its optimizer, built in the same scope.
        jit_compile: Whether the training steps compile with XLA.
    """

    strategy: tf.distribute.Strategy
    data: Datasets
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    jit_compile: bool


def prepare(config: Config) -> Setup:
    """Seed, set determinism, load the data, and build the model and optimizer.

    Shared by train and the benchmark, so that the benchmark times what
    training runs.
    """
    strategy = distribute.make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        # Repeatable to the bit, at a cost: deterministic kernels only, no XLA.
        tf.config.experimental.enable_op_determinism()
    data = load_datasets(config)
    jit_compile = distribute.use_xla(config.jit_compile, strategy, config.deterministic)
    with strategy.scope(), dtype_policy(config.precision):
        # Replicas normalize with the statistics of the whole global batch.
        model = build_model(
            config,
            len(data.class_names),
            synchronized_batch_norm=strategy.num_replicas_in_sync > 1,
        )
        optimizer = optim.make_optimizer(config)
        optimizer.build(model.trainable_variables)
    return Setup(strategy, data, model, optimizer, jit_compile)


def step_runner(setup: Setup, config: Config):
    """The training step of this loop, for the benchmark to time.

    Args:
        setup: What prepare made.
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


class Bookkeeping:
    """What every loop does after each epoch, at the same cost in all three.

    `end_epoch` appends the epoch to history.csv and TensorBoard, keeps the
    weights of the best epoch so far (by validation accuracy), checkpoints,
    and says whether early stopping ends the run. Early stopping follows
    `keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
    restore_best_weights=True)`: the run stops once `early_stopping_patience`
    epochs in a row have not beaten the best, and model.keras then holds the
    best epoch's weights.

    A resumed run continues as if never stopped: the checkpoint holds the
    epochs done, the best epoch and its validation accuracy. The best epoch's
    own checkpoint stays in checkpoints/best/: its files are hard links to
    those of checkpoints/, so keeping it costs no write (a copy where the file
    system has no links).

    Args:
        model: The model, built.
        optimizer: Its optimizer, built.
        config: Reads early_stopping_patience.
        run_dir: The run directory.
        strategy: The tf.distribute strategy the model was built under.
        data: The pipelines, which report the files they skipped in the epoch.
    """

    def __init__(
        self, model, optimizer, config: Config, run_dir: Path, strategy, data: Datasets
    ):
        self.model, self.config, self.run_dir = model, config, run_dir
        self.data = data
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_accuracy = tf.Variable(-1.0, dtype=tf.float64, trainable=False)
        # The model's variables as a list: tf.train.Checkpoint does not follow
        # the lists in which Keras keeps layers, so checkpointing `model` would
        # leave out variables that no optimizer holds, such as
        # batch-normalization statistics.
        self.checkpoint = tf.train.Checkpoint(
            weights=model.weights,
            optimizer=optimizer,
            epoch=self.epoch,
            best_epoch=self.best_epoch,
            best_accuracy=self.best_accuracy,
        )
        # Reads the weights alone from a checkpoint of self.checkpoint.
        self.best = tf.train.Checkpoint(weights=model.weights)
        self.directory = run_dir / "checkpoints"
        self.chief = distribute.is_chief(strategy)
        if not self.chief:
            print("Not the chief: the chief alone writes the run directory and model")
        # Every worker takes part in each save; the chief's copy is kept.
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, distribute.checkpoint_dir(strategy, self.directory), 2
        )
        self.writers = {}  # TensorBoard's, made when the first epoch is logged

    @property
    def completed(self) -> int:
        """The epochs done."""
        return int(self.epoch.numpy())

    def restore(self) -> int:
        """Restore the last checkpoint; return the epochs it completed.

        Every worker restores the chief's checkpoint.
        """
        latest = tf.train.latest_checkpoint(self.directory)
        if latest is None:
            raise ProjectError(f"no checkpoint to resume from in {self.directory}")
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        if self.chief and int(self.best_epoch) == self.completed:
            self._keep_best()  # in case a kill came between the save and the links
        return self.completed

    def stopped(self) -> bool:
        """Whether early stopping ends the run after the epochs done."""
        patience = self.config.early_stopping_patience
        return patience > 0 and self.completed - int(self.best_epoch) >= patience

    def last_epoch(self) -> int:
        """config.epochs, or the epochs done if early stopping already ended the run."""
        return self.completed if self.stopped() else self.config.epochs

    def end_epoch(self, index: int, logs: dict[str, float]) -> bool:
        """Log, keep the best weights and checkpoint epoch `index` (from 0).

        The order makes a kill at any point safe. A kill after the history row
        leaves a row that resuming drops and repeats, never a missing one.
        CheckpointManager writes a new checkpoint's files before the
        `checkpoint` file that names the latest, so a kill during a save leaves
        the previous one to resume from. A kill after a save that names its
        epoch the best, before checkpoints/best/ has it, is mended by restore.

        Returns:
            True when early stopping ends the run here.
        """
        self.data.report_skipped()
        if self.chief:
            self._log(index, logs)
        completed = index + 1
        improved = logs["val_accuracy"] > self.best_accuracy.numpy()
        if improved:
            self.best_accuracy.assign(logs["val_accuracy"])
            self.best_epoch.assign(completed)
        self.epoch.assign(completed)
        self.manager.save(checkpoint_number=completed)
        if not self.chief:
            shutil.rmtree(self.manager.directory)
        elif improved:
            self._keep_best()
        if not self.stopped():
            return False
        print(
            f"Early stopping after epoch {completed}: the best validation accuracy, "
            f"{float(self.best_accuracy):.4f}, is from epoch {int(self.best_epoch)}"
        )
        return True

    def save_models(self, model: keras.Model) -> None:
        """Write model.keras and best.keras at the end of the run.

        Args:
            model: What to save; it shares its weights with the trained model.
        """
        best_epoch = int(self.best_epoch)
        path = self.directory / "best" / f"ckpt-{best_epoch}"
        if self.config.early_stopping_patience and best_epoch:
            # As EarlyStopping(restore_best_weights=True): the best epoch's weights.
            self._restore_best(path)
        if not self.chief:
            return
        saving.save_model(model, self.run_dir / "model.keras")
        if best_epoch in (0, self.completed) or self.config.early_stopping_patience:
            partial = self.run_dir / ".best.partial.keras"
            shutil.copyfile(self.run_dir / "model.keras", partial)
            partial.replace(self.run_dir / "best.keras")
            return
        # The best epoch's weights for best.keras; then the last epoch's again.
        last = self.model.get_weights()
        self._restore_best(path)
        saving.save_model(model, self.run_dir / "best.keras")
        self.model.set_weights(last)

    def _restore_best(self, path: Path) -> None:
        """Restore the model's weights from the best epoch's checkpoint.

        The checkpoint holds the optimizer and the epoch counters too: only the
        weights are wanted, so the rest is expected to stay unread.
        """
        self.best.restore(path).assert_existing_objects_matched().expect_partial()

    def _keep_best(self) -> None:
        """Link the best epoch's checkpoint into checkpoints/best/, alone there."""
        best = self.directory / "best"
        best.mkdir(exist_ok=True)
        prefix = f"ckpt-{int(self.best_epoch)}."
        for source in self.directory.glob(prefix + "*"):
            partial = best / f".{source.name}.partial"
            partial.unlink(missing_ok=True)
            try:
                os.link(source, partial)
            except OSError:
                shutil.copyfile(source, partial)
            partial.replace(best / source.name)
        for old in best.glob("ckpt-*"):
            if not old.name.startswith(prefix):
                old.unlink()

    def _log(self, index: int, logs: dict[str, float]) -> None:
        """Append one epoch to history.csv (as CSVLogger does) and to TensorBoard."""
        path = self.run_dir / "history.csv"
        new = not path.exists()
        keys = sorted(HISTORY_KEYS)
        with path.open("a", newline="") as file:
            writer = csv.writer(file)
            if new:
                writer.writerow(["epoch", *keys])
            writer.writerow([index, *(float(logs[key]) for key in keys)])
        for split, prefix in (("train", ""), ("validation", "val_")):
            if split not in self.writers:
                self.writers[split] = tf.summary.create_file_writer(
                    str(self.run_dir / "logs" / split)
                )
            with self.writers[split].as_default(step=index):
                for key in ("loss", "accuracy"):
                    tf.summary.scalar(f"epoch_{key}", logs[prefix + key])
                if split == "train":
                    tf.summary.scalar("epoch_learning_rate", logs["learning_rate"])
            self.writers[split].flush()


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
        if book.end_epoch(index, logs):
            break


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


def read_history(run_dir: Path) -> dict[str, list[float]]:
    """The history.csv of a run as {key: [value of each epoch]}."""
    path = run_dir / "history.csv"
    history = {key: [] for key in HISTORY_KEYS}
    if not path.exists():
        return history
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            for key in HISTORY_KEYS:
                history[key].append(float(row[key]))
    return history


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    """Save the loss and accuracy curves of a run as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, 2, figsize=(10, 4))
    epochs = range(1, len(history["loss"]) + 1)
    for axis, key in zip(axes, ("loss", "accuracy"), strict=True):
        axis.plot(epochs, history[key], marker="o", label="training")
        axis.plot(epochs, history[f"val_{key}"], marker="o", label="validation")
        axis.set(xlabel="epoch", ylabel=key, title=key)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


def _truncate_history(run_dir: Path, completed: int) -> None:
    """Drop the rows of history.csv after the `completed` epochs a resume keeps."""
    path = run_dir / "history.csv"
    if path.exists():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        _write_text(path, "".join(lines[: completed + 1]))


def _write_text(path: Path, text: str) -> None:
    """Write a file beside its final name, then rename: never half written."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _write_run_files(model, config: Config, data: Datasets, run_dir: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_text(run_dir / "config.toml", config.to_toml())
    (run_dir / "class_names.json").write_text(
        json.dumps(data.class_names), encoding="utf-8"
    )
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line), line_length=100)
    (run_dir / "summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"Run directory: {run_dir}")
