"""Saving and loading: the native .keras file, weights, and exports for serving.

Keras finds custom classes by their registered names, such as
"example_sequential_fit_image>Linear".
Importing this module registers them all. CUSTOM_OBJECTS lists them by those
names, for `keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS)` and
for readers who want to see what a saved model needs.
"""

import contextlib
import importlib.util
import os
import shutil
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .blocks import BasicBlock, BottleneckBlock
from .config import ProjectError
from .layers import Linear
from .optim import LabelSmoothingLoss

CUSTOM_OBJECTS = {
    "example_sequential_fit_image>Linear": Linear,
    "example_sequential_fit_image>BasicBlock": BasicBlock,
    "example_sequential_fit_image>BottleneckBlock": BottleneckBlock,
    # The loss a model trained with label_smoothing was compiled with.
    "example_sequential_fit_image>LabelSmoothingLoss": LabelSmoothingLoss,
}


class ModelFileError(ProjectError, ValueError):
    """A model file or export directory is missing or is not what it claims."""


def save_model(model: keras.Model, path: str | Path) -> Path:
    """Save architecture, weights and optimizer state to a .keras file.

    The file is written beside its final name and then renamed, so an
    interrupted save never leaves a broken file where a good one was.

    Args:
        model: The model.
        path: Target file; must end in ".keras".

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"a model file must end in .keras, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial.keras")
    model.save(partial)
    os.replace(partial, path)
    return path


def load_model(path: str | Path, *, compile: bool = True) -> keras.Model:
    """Load a model saved by save_model, custom layers included.

    Args:
        path: A .keras file.
        compile: Restore the optimizer and loss too (needed to keep training).

    Returns:
        The model, predicting exactly as the saved one did.

    Raises:
        ModelFileError: The file is missing or is not a Keras model.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is not a .keras model file")
    try:
        return keras.saving.load_model(
            path, custom_objects=CUSTOM_OBJECTS, compile=compile
        )
    except (ValueError, KeyError, OSError, TypeError) as error:
        raise ModelFileError(f"cannot load a model from {path}: {error}") from error


def save_weights(model: keras.Model, path: str | Path) -> Path:
    """Save the weights only; the file name must end in ".weights.h5"."""
    if not str(path).endswith(".weights.h5"):
        raise ModelFileError(f"a weights file must end in .weights.h5, got {path}")
    model.save_weights(path)
    return Path(path)


def load_weights(model: keras.Model, path: str | Path) -> keras.Model:
    """Load weights saved by save_weights into a model of the same architecture."""
    if not Path(path).is_file():
        raise ModelFileError(f"no weights file at {path}")
    model.load_weights(path)
    return model


def image_shape(model: keras.Model) -> tuple[int, int, int]:
    """The (image_size, image_size, channels) of the images a model takes."""
    return tuple(model.input_shape[1:])


# The file each export format other than the SavedModel writes, and the packages
# it needs beyond TensorFlow: its converter, and the runtime that checks the file.
EXPORT_FILES = {"onnx": "model.onnx", "litert": "model.tflite"}
EXPORT_PACKAGES = {"onnx": ("tf2onnx", "onnxruntime"), "litert": ("ai_edge_litert",)}


class ExportError(ProjectError):
    """An export format whose packages are not installed, or a target in the way."""


def export_target(directory: str | Path, format: str, overwrite: bool) -> Path:
    """Where an export goes, checked before any work: nothing replaced unasked.

    A SavedModel is the directory itself; onnx and litert write one file into
    it. An export already there is replaced only with overwrite; anything else
    in the way (a file, a directory of other things) never is.

    Returns:
        The path export_model writes: the directory, or the file in it.

    Raises:
        ExportError: The target exists and may not be replaced.
    """
    directory = Path(directory)
    target = directory if format == "saved_model" else directory / EXPORT_FILES[format]
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} is a file, not a directory to export to")
    if format == "saved_model":
        occupied = directory.is_dir() and any(directory.iterdir())
        is_export = tf.saved_model.contains_saved_model(str(directory))
    else:
        occupied = target.exists() or target.is_symlink()
        is_export = target.is_file()
    if occupied and not is_export:
        raise ExportError(
            f"{target} already holds something other than a {format} export; "
            "choose another directory"
        )
    if occupied and not overwrite:
        raise ExportError(
            f"{target} already holds a {format} export; add --overwrite to replace it"
        )
    return target


@contextlib.contextmanager
def staged_export(directory: str | Path):
    """A fresh directory beside `directory` to write and check an export in.

    install_export moves what it holds into place; whatever is left (an export
    that failed its check) is removed on the way out, and so is what an
    export killed midway left.
    """
    directory = Path(directory)
    for stale in directory.parent.glob(f".{directory.name}.partial-*"):
        if not _running(stale.name.rsplit("-", 1)[1]):
            shutil.rmtree(stale, ignore_errors=True)
    partial = directory.with_name(f".{directory.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        yield partial
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _running(pid: str) -> bool:
    """Whether the process `pid` (from a staged export's name) still runs."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # another user's
    return True


def install_export(partial: Path, directory: str | Path, format: str) -> Path:
    """Move a checked export from staged_export's directory into place.

    A SavedModel replaces the one at `directory` in one step where Linux
    allows (renameat2 RENAME_EXCHANGE); elsewhere the old one is renamed aside
    first, so that a kill between the two renames leaves it whole beside the
    target. A model file is renamed over the old one, after the files written
    beside it.

    Returns:
        The SavedModel directory, or the model file, now in place.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    if format == "saved_model":
        if not directory.is_dir():
            os.replace(partial, directory)
        elif _exchange(partial, directory):
            shutil.rmtree(partial)  # now the old export
        else:
            old = directory.with_name(f".{directory.name}.replaced")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(partial, directory)
            shutil.rmtree(old)
        return directory
    directory.mkdir(exist_ok=True)
    model_file = EXPORT_FILES[format]
    for path in sorted(partial.iterdir(), key=lambda path: path.name == model_file):
        os.replace(path, directory / path.name)
    return directory / model_file


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where unavailable."""
    if sys.platform != "linux":
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except AttributeError:
        return False
    at_fdcwd, rename_exchange = -100, 2
    status = renameat2(
        at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange
    )
    return status == 0


def export_model(
    model: keras.Model, directory: str | Path, *, format: str = "saved_model"
) -> Path:
    """Export the model for serving, through `keras.Model.export`.
    "saved_model" writes a SavedModel whose `serve` signature takes a batch
    of raw images (pixels 0-255, of the model's image_shape) and returns class
    probabilities; load it with load_export, never with keras.saving.load_model.
    "onnx" and "litert" write directory/model.onnx or directory/model.tflite,
    which take and return the same; run them with run_export.

    Args:
        model: The model, as load_model returns it.
        directory: Where to write; created if needed.
        format: "saved_model", "onnx" or "litert".

    Returns:
        The SavedModel directory, or the model file written into it.

    Raises:
        ExportError: The packages the format needs are not installed.
    """
    if format != "saved_model" and format not in EXPORT_FILES:
        raise ValueError(
            f"format must be 'saved_model' or one of {list(EXPORT_FILES)}. "
            f"Received: format={format!r}"
        )
    signature = [tf.TensorSpec((None, *image_shape(model)), tf.float32, name="image")]
    if format == "saved_model":
        model.export(
            str(directory),
            format="tf_saved_model",
            input_signature=signature,
            verbose=False,
        )
        return Path(directory)
    _require_packages(format)
    path = Path(directory) / EXPORT_FILES[format]
    path.parent.mkdir(parents=True, exist_ok=True)
    model.export(str(path), format=format, input_signature=signature, verbose=False)
    return path


def load_export(directory: str | Path):
    """Load an exported SavedModel; call `.serve(inputs)` on the result to predict.

    Raises:
        ModelFileError: The directory holds no SavedModel.
    """
    if not tf.saved_model.contains_saved_model(str(directory)):
        raise ModelFileError(f"no SavedModel in {directory}")
    return tf.saved_model.load(str(directory))


def run_export(path: str | Path, inputs: np.ndarray) -> np.ndarray:
    """Predict with an exported model.onnx or model.tflite in its own runtime.

    Args:
        path: The file export_model wrote: onnxruntime runs a .onnx file,
            LiteRT's interpreter a .tflite file.
        inputs: A batch of raw images (float32).

    Returns:
        The class probabilities the runtime computed.
    """
    path = Path(path)
    if path.suffix == ".onnx":
        _require_packages("onnx")
        import onnxruntime

        session = onnxruntime.InferenceSession(
            str(path), providers=["CPUExecutionProvider"]
        )
        (feed,) = session.get_inputs()
        return session.run(None, {feed.name: inputs})[0]
    _require_packages("litert")
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    (feed,) = interpreter.get_input_details()
    # The file takes batches of one; resize it to take the whole batch.
    interpreter.resize_tensor_input(feed["index"], inputs.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(feed["index"], inputs)
    interpreter.invoke()
    (output,) = interpreter.get_output_details()
    return interpreter.get_tensor(output["index"])


def _require_packages(format: str) -> None:
    """Raise ExportError naming the extra if a package of `format` is missing."""
    missing = [name for name in EXPORT_PACKAGES[format] if not _installed(name)]
    if missing:
        extra = 'pip install -e ".[export]"'
        raise ExportError(f"{format} export needs {', '.join(missing)}: {extra}")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
