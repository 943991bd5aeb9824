"""Saving and loading: the native .keras file, weights, and a SavedModel export.

Keras finds custom classes by their registered names, such as
"example_functional_train_on_batch_text>Linear".
Importing this module registers them all. CUSTOM_OBJECTS lists them by those
names, for `keras.saving.load_model(path, custom_objects=CUSTOM_OBJECTS)` and
for readers who want to see what a saved model needs.
"""

import os
import zipfile
from pathlib import Path

import keras
import tensorflow as tf

from .config import ProjectError
from .layers import Linear, PositionEmbedding

CUSTOM_OBJECTS = {
    "example_functional_train_on_batch_text>Linear": Linear,
    "example_functional_train_on_batch_text>PositionEmbedding": PositionEmbedding,
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


def export_model(model: keras.Model, directory: str | Path) -> Path:
    """Export a SavedModel for serving (TF Serving, TFLite, tf.saved_model.load).
    Its `serve` signature takes a batch of raw strings and returns class
    probabilities. Load it with load_export, never with keras.saving.load_model.
    """
    signature = [tf.TensorSpec((None,), tf.string, name="text")]
    model.export(
        str(directory),
        format="tf_saved_model",
        input_signature=signature,
        verbose=False,
    )
    return Path(directory)


def load_export(directory: str | Path):
    """Load an exported SavedModel; call `.serve(inputs)` on the result to predict.

    Raises:
        ModelFileError: The directory holds no SavedModel.
    """
    if not tf.saved_model.contains_saved_model(str(directory)):
        raise ModelFileError(f"no SavedModel in {directory}")
    return tf.saved_model.load(str(directory))
