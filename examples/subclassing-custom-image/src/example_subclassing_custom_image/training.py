"""Training with a custom loop: `tf.GradientTape` in a compiled `tf.function`.

Every part of a step is written out: the forward pass, the loss averaged over
the global batch, the gradients, the update, and the metrics. Change any of it
(several losses, gradient clipping, a second model) right here.
"""

import csv
import json
import shutil
import time
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
    `logs/` (TensorBoard), `history.csv`, `training_curves.png` and, at the end,
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
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    # The model's variables as a list: tf.train.Checkpoint does not follow the
    # lists in which Keras keeps layers, so checkpointing `model` would leave out
    # variables that no optimizer holds, such as batch-normalization statistics.
    checkpoint = tf.train.Checkpoint(
        weights=model.weights, optimizer=optimizer, epoch=epoch
    )
    chief = distribute.is_chief(strategy)
    if not chief:
        print("Not the chief: the chief alone writes the run directory and model")
    manager = tf.train.CheckpointManager(
        checkpoint,
        distribute.checkpoint_dir(strategy, run_dir / "checkpoints"),
        max_to_keep=2,
    )
    if resume:
        # Every worker resumes from the chief's checkpoints.
        latest = tf.train.latest_checkpoint(run_dir / "checkpoints")
        if latest is None:
            raise ProjectError(
                f"no checkpoint to resume from in {run_dir / 'checkpoints'}"
            )
        checkpoint.restore(latest).assert_existing_objects_matched()
        completed = int(epoch.numpy())
        if config.epochs < completed:
            raise ProjectError(
                f"epochs must be at least {completed}, the epochs {run_dir} has "
                f"completed; got {config.epochs}"
            )
        print(f"Resuming {run_dir} after epoch {completed} of {config.epochs}")
        if chief:
            _write_text(run_dir / "config.toml", config.to_toml())
            _truncate_history(run_dir, completed)
    elif chief:
        _write_run_files(model, config, data, run_dir)

    def end_epoch(completed: int) -> None:
        """Checkpoint after `completed` epochs; every worker must take part.

        Called after the epoch is logged: a kill between the two leaves a
        history row that resuming drops and repeats, never a missing one.
        CheckpointManager writes the new checkpoint's files first and then
        replaces the `checkpoint` file that names the latest one, so a kill
        during a save leaves the previous checkpoint as the one to resume.
        """
        data.report_skipped()
        epoch.assign(completed)
        manager.save(checkpoint_number=completed)
        if not chief:
            shutil.rmtree(manager.directory)

    train_loop(
        model, optimizer, data, config, strategy, int(epoch.numpy()), end_epoch, run_dir
    )
    history = read_history(run_dir)
    if chief:
        saving.save_model(model, run_dir / "model.keras")
        plot_history(history, run_dir / "training_curves.png")
    return history


def step_decay(epoch: int, config: Config) -> float:
    """The learning rate of an epoch (from 0): step decay every lr_decay_epochs."""
    return config.learning_rate * config.lr_decay_factor ** (
        epoch // config.lr_decay_epochs
    )


def train_loop(
    model,
    optimizer,
    data: Datasets,
    config: Config,
    strategy,
    initial_epoch,
    end_epoch,
    run_dir,
):
    """Run epochs initial_epoch+1 .. config.epochs, validating after each.

    Args:
        model: The model, built in the strategy's scope.
        optimizer: Its optimizer, built in the same scope.
        data: The training and validation pipelines.
        config: Reads epochs and the learning-rate schedule.
        strategy: The tf.distribute strategy the model was built under.
        initial_epoch: Epochs already done (non-zero when resuming).
        end_epoch: Called with the number of completed epochs to checkpoint.
        run_dir: Where the CSV history and TensorBoard events go.
    """
    chief = distribute.is_chief(strategy)
    writers = (
        {
            split: tf.summary.create_file_writer(str(run_dir / "logs" / split))
            for split in ("train", "validation")
        }
        if chief
        else {}
    )
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    with strategy.scope():
        metrics = {
            "loss": keras.metrics.Mean(name="loss"),
            "accuracy": keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            "val_loss": keras.metrics.Mean(name="val_loss"),
            "val_accuracy": keras.metrics.SparseCategoricalAccuracy(
                name="val_accuracy"
            ),
        }

    def train_step(inputs, labels):
        with tf.GradientTape() as tape:
            probabilities = model(inputs, training=True)
            per_example_loss = loss_fn(labels, probabilities)
            # Averaged over the global batch: each replica adds its share.
            loss = tf.nn.compute_average_loss(per_example_loss)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(
            zip(gradients, model.trainable_variables, strict=True)
        )
        metrics["loss"].update_state(per_example_loss)
        metrics["accuracy"].update_state(labels, probabilities)

    def validation_step(inputs, labels):
        probabilities = model(inputs, training=False)
        metrics["val_loss"].update_state(loss_fn(labels, probabilities))
        metrics["val_accuracy"].update_state(labels, probabilities)

    steps = data.train.cardinality().numpy()
    train_batches = distribute.distribute(strategy, data.train)
    validation_batches = distribute.distribute(strategy, data.validation)

    # One trace serves every batch, the last partial one included.
    @tf.function(input_signature=[train_batches.element_spec])
    def distributed_train_step(batch):
        strategy.run(train_step, args=batch)

    @tf.function(input_signature=[validation_batches.element_spec])
    def distributed_validation_step(batch):
        strategy.run(validation_step, args=batch)

    for index in range(initial_epoch, config.epochs):
        optimizer.learning_rate = step_decay(index, config)
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
        logs["learning_rate"] = step_decay(index, config)
        progress.update(steps, values=list(logs.items()), finalize=True)
        print(f"{time.perf_counter() - start:.1f} s")
        if chief:
            _log_epoch(run_dir, writers, index, logs)
        end_epoch(index + 1)


def _log_epoch(run_dir: Path, writers, index: int, logs) -> None:
    """Append one epoch to history.csv (as CSVLogger does) and to TensorBoard."""
    path = run_dir / "history.csv"
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(["epoch", *sorted(logs)])
        writer.writerow([index, *(logs[key] for key in sorted(logs))])
    for split, prefix in (("train", ""), ("validation", "val_")):
        with writers[split].as_default(step=index):
            for key in ("loss", "accuracy"):
                tf.summary.scalar(f"epoch_{key}", logs[prefix + key])
        writers[split].flush()


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
