"""keras-scaffold: generate a runnable Keras 3 project from a Copier template.

The library API, which the ``keras-scaffold`` command maps its flags onto::

    from scaffold import create_project

    create_project("my-net", api_style="functional", training_loop="fit", task="image")
"""

from __future__ import annotations

from scaffold.api import (
    ANSWERS_FILE,
    create_project,
    find_conflicts,
    read_answers,
    update_project,
)
from scaffold.combinations import (
    API_STYLES,
    COMBINATIONS,
    TASKS,
    TRAINING_LOOPS,
    Combination,
)
from scaffold.errors import ScaffoldError
from scaffold.template import TEMPLATE_ROOT

__version__ = "0.2.0"

__all__ = [
    "ANSWERS_FILE",
    "API_STYLES",
    "COMBINATIONS",
    "TASKS",
    "TEMPLATE_ROOT",
    "TRAINING_LOOPS",
    "Combination",
    "ScaffoldError",
    "__version__",
    "create_project",
    "find_conflicts",
    "read_answers",
    "update_project",
]
