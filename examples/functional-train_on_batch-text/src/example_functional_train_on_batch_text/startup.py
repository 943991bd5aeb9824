"""Start-up: the Keras backend, and TensorFlow's start-up notices only when asked for.

``use_backend(name)`` sets KERAS_BACKEND before Keras is first imported (Keras
reads it once, on import).

As it loads, TensorFlow prints notices to the process's standard error (oneDNN,
CUDA drivers, CPU instructions) from C++, some before its logging reads
TF_CPP_MIN_LOG_LEVEL. ``quiet_tensorflow()`` arranges for the standard error to
be held back while TensorFlow is imported and finds its devices, then written
back without those notices; it sets TF_CPP_MIN_LOG_LEVEL=1 for what TensorFlow
logs later, so that warnings and errors still show. Nothing here imports
TensorFlow: the command line checks its settings first.
"""

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from contextlib import contextmanager

from .config import ProjectError

# An INFO line of TensorFlow's C++ logging, in absl's format or TensorFlow's own.
_INFO = re.compile(r"(I\d{4} [\d:.]+ +\d+ |\d{4}-\d\d-\d\d [\d:.]+: I )\S+:\d+\] ")
# Other lines that only say the same start-up things.
_NOTICES = (
    "All log messages before absl::InitializeLog() is called",
    "To enable the following instructions:",  # the CPU notice's second line
    "Attempting to register factory for plugin",  # CUDA libraries loaded twice
)
# cuInit fails where there is no CUDA driver: a notice only when TensorFlow also
# said that it found none; otherwise the error a GPU user needs to see.
_NO_DRIVER = "Could not find cuda drivers on your machine"
_NO_CUDA = "failed call to cuInit"


def use_backend(name: str) -> None:
    """Make `name` ("tensorflow", "jax" or "torch") the backend Keras imports.

    Raises:
        ProjectError: Keras is already imported with another backend.
    """
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise ProjectError(
                f"backend {name!r} was asked for, but Keras already runs on "
                f"{keras.backend.backend()!r}"
            )
        return
    os.environ["KERAS_BACKEND"] = name


def quiet_tensorflow() -> None:
    """Hold back TensorFlow's start-up notices when it is first imported.

    Does nothing where the user set TF_CPP_MIN_LOG_LEVEL=0 (they asked to see
    everything) or TensorFlow is already imported. A level of 1 to 3 hides the
    notices too (TensorFlow prints some of them whatever the level), and is
    kept for what TensorFlow logs later.
    """
    everything = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0"
    if everything or "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


def without_notices(text: str) -> str:
    """``text`` (what TensorFlow printed as it started) without its notices."""
    lines = text.splitlines(keepends=True)
    no_driver = any(_NO_DRIVER in line for line in lines)
    return "".join(
        line
        for line in lines
        if not (
            _INFO.match(line)
            or any(notice in line for notice in _NOTICES)
            or (no_driver and _NO_CUDA in line)
        )
    )


@contextmanager
def _notices_held_back():
    """Hold the standard error back; write it back without the notices."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            sys.stderr.write(without_notices(held.read().decode(errors="replace")))
            sys.stderr.flush()


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds TensorFlow as usual, for a loader that holds its notices back."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with the standard error held back."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
        with _notices_held_back():
            self.loader.exec_module(module)
            module.config.list_physical_devices()  # CUDA's notices come here

    def __getattr__(self, name):
        return getattr(self.loader, name)
