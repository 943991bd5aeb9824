"""Training with `model.fit`: Keras runs the loop; callbacks save and log.

Callbacks do the bookkeeping: the best model (ModelCheckpoint), TensorBoard
events, a CSV of every epoch, the learning-rate schedule, and a checkpoint of
model and optimizer after every epoch to resume from.
"""

import csv
import json
from pathlib import Path

import keras
import tensorflow as tf

from . import distribute, saving
from .config import Config, ProjectError
from .data import Datasets, load_datasets
from .model import build_model

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def train(
    config: Config, run_dir: Path, *, resume: bool = False
) -> dict[str, list[float]]:
    """Train a model as configured, writing everything the run makes to run_dir.

    The run directory holds `config.toml` (the settings used), `summary.txt`,
    `class_names.json`, `checkpoints/` (model and optimizer after each epoch),
    `logs/` (TensorBoard), `history.csv`, `training_curves.png`, `best.keras`
    (the epoch with the best validation accuracy) and, at the end,
    `model.keras`.

    Args:
        config: The validated settings.
        run_dir: The run's directory; created if needed.
        resume: Continue from the last checkpoint in run_dir.

    Returns:
        The history of every epoch, resumed ones included: a list per key of
        HISTORY_KEYS.
    """
    strategy = distribute.make_strategy(config.strategy)
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    data = load_datasets(config)
    for path in data.skipped:
        print(f"Skipped file (unreadable or not an image): {path}")
    with strategy.scope():
        model = build_model(config, len(data.class_names))
        optimizer = keras.optimizers.Adam(config.learning_rate)
        optimizer.build(model.trainable_variables)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    # The model's variables as a list: tf.train.Checkpoint does not follow the
    # lists in which Keras keeps layers, so checkpointing `model` would leave out
    # variables that no optimizer holds, such as batch-normalization statistics.
    checkpoint = tf.train.Checkpoint(
        weights=model.weights, optimizer=optimizer, epoch=epoch
    )
    manager = tf.train.CheckpointManager(
        checkpoint, run_dir / "checkpoints", max_to_keep=2
    )
    if resume:
        if manager.latest_checkpoint is None:
            raise ProjectError(
                f"no checkpoint to resume from in {run_dir / 'checkpoints'}"
            )
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        completed = int(epoch.numpy())
        if config.epochs < completed:
            raise ProjectError(
                f"epochs must be at least {completed}, the epochs {run_dir} has "
                f"completed; got {config.epochs}"
            )
        print(f"Resuming {run_dir} after epoch {completed} of {config.epochs}")
        _write_text(run_dir / "config.toml", config.to_toml())
        _truncate_history(run_dir, completed)
    else:
        _write_run_files(model, config, data, run_dir)

    def end_epoch(completed: int) -> None:
        """Checkpoint after `completed` epochs.

        Called after the epoch is logged: a kill between the two leaves a
        history row that resuming drops and repeats, never a missing one.
        CheckpointManager writes the new checkpoint's files first and then
        replaces the `checkpoint` file that names the latest one, so a kill
        during a save leaves the previous checkpoint as the one to resume.
        """
        data.report_skipped()
        epoch.assign(completed)
        manager.save(checkpoint_number=completed)

    callbacks = [
        keras.callbacks.LearningRateScheduler(lambda index: step_decay(index, config)),
        keras.callbacks.ModelCheckpoint(
            run_dir / "best.keras",
            monitor="val_accuracy",
            mode="max",
            save_best_only=True,
            # A resumed run keeps best.keras until an epoch beats the epochs before.
            initial_value_threshold=max(
                read_history(run_dir)["val_accuracy"], default=None
            ),
        ),
        keras.callbacks.TensorBoard(log_dir=run_dir / "logs"),
        keras.callbacks.CSVLogger(run_dir / "history.csv", append=True),
        keras.callbacks.LambdaCallback(
            on_epoch_end=lambda index, logs: end_epoch(index + 1)
        ),
    ]
    model.fit(
        distribute.distribute(strategy, data.train),
        validation_data=distribute.distribute(strategy, data.validation),
        initial_epoch=int(epoch.numpy()),
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # data.train reshuffles itself every epoch
    )
    history = read_history(run_dir)
    saving.save_model(model, run_dir / "model.keras")
    plot_history(history, run_dir / "training_curves.png")
    return history


def step_decay(epoch: int, config: Config) -> float:
    """The learning rate of an epoch (from 0): step decay every lr_decay_epochs."""
    return config.learning_rate * config.lr_decay_factor ** (
        epoch // config.lr_decay_epochs
    )


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
