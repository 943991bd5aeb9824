"""What every run keeps, whichever loop trains it: its directory and checkpoints.

Setup is what a run trains (training.prepare makes it). Bookkeeping is each
epoch's only writer: history.csv, TensorBoard, the best weights, a checkpoint
of model and optimizer to resume from (checkpoints.py: Keras's own saving, the
same on every backend), and early stopping. open_run writes a
new run's files, or restores a resumed run; finish_run saves the models and
plots the curves.
"""

import csv
import dataclasses
import json
import os
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from . import checkpoints, saving
from .config import Config, ProjectError
from .data import Datasets

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


class NoCheckpointError(ProjectError):
    """A run has no checkpoint: it was stopped before its first epoch ended."""


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


class Bookkeeping:
    """What every loop does after each epoch, at the same cost in all three.

    `end_epoch` appends the epoch to history.csv and TensorBoard, keeps the
    weights of the best epoch so far (by validation accuracy), checkpoints,
    and says whether early stopping ends the run. Early stopping follows
    `keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
    restore_best_weights=True)`: the run stops once `early_stopping_patience`
    epochs in a row have not beaten the best, and model.keras then holds the
    best epoch's weights.

    A resumed run continues as if never stopped: the checkpoint
    (checkpoints.py) holds the epochs done, the best epoch and its validation
    accuracy, and the random states. The best epoch's weights stay in
    checkpoints/best/: a hard link to its checkpoint's weights file, so keeping
    it costs no write (a copy where the file system has no links).

    Args:
        model: The model, built.
        optimizer: Its optimizer, built.
        config: Reads early_stopping_patience.
        run_dir: The run directory.
        strategy: The tf.distribute strategy the model was built under.
    """

    def __init__(self, model, optimizer, config: Config, run_dir: Path, strategy):
        self.model, self.optimizer = model, optimizer
        self.config, self.run_dir = config, run_dir
        self.completed, self.best_epoch, self.best_accuracy = 0, 0, -1.0
        self.random_state = None  # restored; set when the next epoch starts
        self.directory = run_dir / "checkpoints"
        self.save_dir = self.directory
        self.writers = {}  # TensorBoard's, made when the first epoch is logged

    def restore(self) -> int:
        """Restore the newest complete checkpoint; return the epochs it completed."""
        if not checkpoints.checkpoints(self.directory):
            raise NoCheckpointError(f"no checkpoint to resume from in {self.directory}")
        try:
            counters = checkpoints.restore(self.directory, self.model, self.optimizer)
        except checkpoints.CheckpointError as error:
            raise ProjectError(str(error)) from error
        self.random_state = counters.pop("random_state", None)
        self.completed = int(counters["epoch"])
        self.best_epoch = int(counters["best_epoch"])
        self.best_accuracy = float(counters["best_accuracy"])
        # Mend a kill between a save naming its epoch the best and the link:
        # checkpoints/best/ lacks that epoch's weights.
        mend = self.best_epoch == self.completed and not self._best_path().exists()
        if mend:
            self._keep_best()
        return self.completed

    def start_epoch(self) -> None:
        """Every loop calls it as an epoch starts: after a resume, the random state.

        The backend's global random state (PyTorch's) is set as the first
        resumed epoch starts, not on restore: fit draws from it (its data
        loader) before its first epoch.
        """
        if self.random_state is not None:
            checkpoints.set_random_state(self.random_state)
            self.random_state = None

    def stopped(self) -> bool:
        """Whether early stopping ends the run after the epochs done."""
        patience = self.config.early_stopping_patience
        return patience > 0 and self.completed - self.best_epoch >= patience

    def last_epoch(self) -> int:
        """config.epochs, or the epochs done if early stopping already ended the run."""
        return self.completed if self.stopped() else self.config.epochs

    def end_epoch(self, index: int, logs: dict[str, float]) -> bool:
        """Log, keep the best weights and checkpoint epoch `index` (from 0).

        The order makes a kill at any point safe. A kill after the history row
        leaves a row that resuming drops and repeats, never a missing one. A
        checkpoint is renamed into place once complete, so a kill during a
        save leaves the previous one to resume from. A kill after a save that
        names its epoch the best, before checkpoints/best/ has it, is mended by
        restore.

        Returns:
            True when early stopping ends the run here.
        """
        self._log(index, logs)
        self.completed = index + 1
        improved = logs["val_accuracy"] > self.best_accuracy
        if improved:
            self.best_accuracy = float(logs["val_accuracy"])
            self.best_epoch = self.completed
        counters = {
            "epoch": self.completed,
            "best_epoch": self.best_epoch,
            "best_accuracy": self.best_accuracy,
        }
        checkpoints.save(
            self.save_dir, self.completed, self.model, self.optimizer, counters
        )
        if improved:
            self._keep_best()
        if not self.stopped():
            return False
        print(
            f"Early stopping after epoch {self.completed}: the best validation "
            f"accuracy, {self.best_accuracy:.4f}, is from epoch {self.best_epoch}"
        )
        return True

    def save_models(self, model: keras.Model) -> None:
        """Write model.keras and best.keras at the end of the run.

        Args:
            model: What to save; it shares its weights with the trained model.
        """
        best_epoch = self.best_epoch
        if self.config.early_stopping_patience and best_epoch:
            # As EarlyStopping(restore_best_weights=True): the best epoch's weights.
            best_epoch = self._load_best(self.model.get_weights())
        saving.save_model(model, self.run_dir / "model.keras")
        if best_epoch in (0, self.completed) or self.config.early_stopping_patience:
            partial = self.run_dir / ".best.partial.keras"
            shutil.copyfile(self.run_dir / "model.keras", partial)
            partial.replace(self.run_dir / "best.keras")
            return
        # The best epoch's weights for best.keras; then the last epoch's again.
        last = self.model.get_weights()
        self._load_best(last)
        saving.save_model(model, self.run_dir / "best.keras")
        self.model.set_weights(last)

    def _load_best(self, last: list) -> int:
        """Load the best epoch's weights; return the epoch the model now holds.

        A weights file that does not read back (damaged on disk) leaves the
        last epoch's weights, `last`, in place, said in one line: the run still
        ends with its models, never with a traceback.
        """
        path = self._best_path()
        try:
            self.model.load_weights(path)
        except (OSError, ValueError) as error:
            self.model.set_weights(last)  # a damaged file may have loaded in part
            print(
                f"The best epoch's weights ({path}) do not read back ({error}): "
                f"the last epoch's, {self.completed}, are saved in their place"
            )
            return self.completed
        return self.best_epoch

    def _best_path(self) -> Path:
        """The best epoch's weights file in checkpoints/best/."""
        return self.directory / "best" / f"ckpt-{self.best_epoch}.weights.h5"

    def _keep_best(self) -> None:
        """Link the best epoch's weights into checkpoints/best/, alone there."""
        path = self._best_path()
        path.parent.mkdir(exist_ok=True)
        source = self.directory / f"ckpt-{self.best_epoch}" / checkpoints.WEIGHTS
        partial = path.with_name(f".{path.name}.partial")
        partial.unlink(missing_ok=True)
        try:
            os.link(source, partial)
        except OSError:
            shutil.copyfile(source, partial)
        partial.replace(path)
        for old in path.parent.glob("ckpt-*"):
            if old != path:
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


def open_run(book: Bookkeeping, data: Datasets, *, resume: bool) -> bool:
    """Write a new run's files, or restore a resumed run's last checkpoint.

    A resumed run without a checkpoint (stopped before its first epoch ended)
    starts afresh in its directory, so that the same command can be rerun
    after a kill at any moment.

    Args:
        book: The run's Bookkeeping: its model, settings and directory.
        data: The pipelines, whose class names the run directory records.
        resume: Continue from the last checkpoint in the run directory.

    Returns:
        Whether there are epochs to train: False for a resumed run that has
        completed its epochs and saved its model.

    Raises:
        ProjectError: config.epochs is below the epochs the run has completed.
    """
    config, run_dir = book.config, book.run_dir
    if resume:
        try:
            completed = book.restore()
        except NoCheckpointError:
            print(f"{run_dir} has no completed epoch: starting it afresh")
            resume = False
    if resume:
        if config.epochs < completed:
            raise ProjectError(
                f"epochs must be at least {completed}, the epochs {run_dir} has "
                f"completed; got {config.epochs}"
            )
        if completed == book.last_epoch() and (run_dir / "model.keras").is_file():
            print(f"{run_dir} has completed its {completed} epochs: nothing to do")
            return False
        print(f"Resuming {run_dir} after epoch {completed} of {config.epochs}")
        _write_text(run_dir / "config.toml", config.to_toml())
        _truncate_history(run_dir, completed)
    else:
        _write_run_files(book.model, config, data, run_dir)
    return True


def finish_run(book: Bookkeeping, model: keras.Model) -> dict[str, list[float]]:
    """Save model.keras and best.keras, and plot the run's curves.

    Args:
        book: The run's Bookkeeping, after the last epoch.
        model: What to save; it shares its weights with the trained model.

    Returns:
        The history of every epoch, resumed ones included (read_history).
    """
    history = read_history(book.run_dir)
    book.save_models(model)
    plot_history(history, book.run_dir / "training_curves.png")
    return history


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
    """The files a run starts with; config.toml first, which makes it resumable.

    A run started afresh in its directory keeps no history row of before.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ProjectError(f"cannot make run directory {run_dir}: {error}") from None
    _write_text(run_dir / "config.toml", config.to_toml())
    _write_text(run_dir / "class_names.json", json.dumps(data.class_names))
    _truncate_history(run_dir, 0)
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line), line_length=100)
    _write_text(run_dir / "summary.txt", "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"Run directory: {run_dir}")
