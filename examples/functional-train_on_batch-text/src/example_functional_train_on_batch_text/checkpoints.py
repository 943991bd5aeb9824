"""Checkpoints to resume from, written and read by Keras on every backend.

A checkpoint is a directory, `checkpoints/ckpt-<epoch>/`, holding:

- `model.weights.h5`: the model's weights (`model.save_weights`);
- `state.npz`: the optimizer's variables (`optimizer.save_own_variables`),
  the states of the model's random seed generators (dropout's draws), which
  no weights file holds, on PyTorch its global generator's state too
  (unseeded dropout and data loaders draw from it), and the run's counters
  (epochs done, best epoch, its validation accuracy).

These are plain arrays, the same on TensorFlow, JAX and PyTorch. A checkpoint
is written into `.ckpt-<epoch>.partial/` and renamed when complete: a kill
leaves the whole directory or none of it, and the older checkpoints stay.
`restore` reads the newest checkpoint that reads back completely.
"""

import os
import re
import shutil
from pathlib import Path

import keras
import numpy as np

WEIGHTS = "model.weights.h5"
STATE = "state.npz"
_NAME = re.compile(r"ckpt-(\d+)")


class CheckpointError(Exception):
    """A checkpoint that cannot be read back."""


def seed_variables(model: keras.Model) -> list:
    """The model's seed-generator states: its variables that are not weights."""
    weights = {id(variable) for variable in model.weights}
    return [variable for variable in model.variables if id(variable) not in weights]


def save(
    directory: Path,
    epoch: int,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    counters: dict[str, float],
    *,
    keep: int = 2,
) -> Path:
    """Write checkpoint `ckpt-<epoch>` and keep the newest `keep` of them.

    Args:
        directory: The checkpoints directory; created if needed.
        epoch: The epochs done, which names the checkpoint.
        model: The model, built.
        optimizer: Its optimizer, built.
        counters: Numbers of the run to resume with (epoch, best epoch, ...).
        keep: How many checkpoints to keep, newest first.

    Returns:
        The checkpoint's directory.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"ckpt-{epoch}"
    partial = directory / f".{path.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    model.save_weights(partial / WEIGHTS)
    optimizer_store = {}
    optimizer.save_own_variables(optimizer_store)
    arrays = {f"optimizer.{key}": value for key, value in optimizer_store.items()}
    for index, variable in enumerate(seed_variables(model)):
        arrays[f"seed.{index}"] = keras.ops.convert_to_numpy(variable)
    state = random_state()
    if state is not None:
        arrays["random_state"] = state
    for key, value in counters.items():
        arrays[f"counter.{key}"] = np.asarray(value)
    with (partial / STATE).open("wb") as file:
        np.savez(file, **arrays)
        file.flush()
        os.fsync(file.fileno())
    if path.exists():  # a checkpoint of an epoch repeated after a resume
        shutil.rmtree(path)
    os.replace(partial, path)
    for old in checkpoints(directory)[keep:]:
        shutil.rmtree(old)
    return path


def checkpoints(directory: Path) -> list[Path]:
    """The checkpoints in `directory`, newest first."""
    found = [
        path
        for path in directory.glob("ckpt-*")
        if path.is_dir() and _NAME.fullmatch(path.name)
    ]
    return sorted(found, key=lambda path: -int(path.name.removeprefix("ckpt-")))


def restore(
    directory: Path, model: keras.Model, optimizer: keras.optimizers.Optimizer
) -> dict[str, float]:
    """Restore the newest checkpoint that reads back completely.

    Returns:
        Its counters, and under "random_state" the backend's global random
        state, which set_random_state sets when the next epoch starts.

    Raises:
        CheckpointError: No checkpoint reads back.
    """
    for path in checkpoints(directory):
        try:
            return read(path, model, optimizer)
        except CheckpointError as error:
            # Kept, out of the way of the epoch's new checkpoint, never deleted.
            aside = directory / "unreadable" / path.name
            aside.parent.mkdir(exist_ok=True)
            if aside.exists():
                aside = aside.with_name(f"{path.name}.{os.getpid()}")
            os.replace(path, aside)
            print(
                f"Skipped checkpoint {path} (it does not read back: {error}); "
                f"kept as {aside}"
            )
    raise CheckpointError(f"no checkpoint in {directory} reads back (skipped above)")


def read(
    path: Path, model: keras.Model, optimizer: keras.optimizers.Optimizer
) -> dict[str, float]:
    """Restore one checkpoint into the model and optimizer; return its counters."""
    try:
        with np.load(path / STATE) as state:
            arrays = {key: state[key] for key in state.files}
        model.load_weights(path / WEIGHTS)
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise CheckpointError(str(error)) from error
    optimizer.load_own_variables(
        {
            key.removeprefix("optimizer."): value
            for key, value in arrays.items()
            if key.startswith("optimizer.")
        }
    )
    seeds = seed_variables(model)
    if sum(key.startswith("seed.") for key in arrays) != len(seeds):
        raise CheckpointError("its seed generators are not the model's")
    for index, variable in enumerate(seeds):
        variable.assign(arrays[f"seed.{index}"])
    counters = {
        key.removeprefix("counter."): value.item()
        for key, value in arrays.items()
        if key.startswith("counter.")
    }
    if "random_state" in arrays:
        counters["random_state"] = arrays["random_state"]
    return counters


def random_state():
    """The backend's global random generator's state: PyTorch's; None elsewhere.

    On PyTorch, Keras's unseeded dropout and the data loader that fit and
    evaluate make draw from torch's global generator.
    """
    if keras.backend.backend() != "torch":
        return None
    import torch

    return torch.get_rng_state().numpy()


def set_random_state(state: np.ndarray) -> None:
    """Set the global generator's state that random_state returned."""
    if keras.backend.backend() == "torch":
        import torch

        torch.set_rng_state(torch.from_numpy(state))
