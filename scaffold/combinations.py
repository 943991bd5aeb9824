"""The three generation-time axes and the 18 projects they span."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from scaffold.errors import ScaffoldError

__all__ = ["API_STYLES", "COMBINATIONS", "TASKS", "TRAINING_LOOPS", "Combination"]

#: How the model is written (``api_style`` in copier.yml).
API_STYLES: tuple[str, ...] = ("sequential", "functional", "subclassing")
#: How the model is trained (``training_loop`` in copier.yml).
TRAINING_LOOPS: tuple[str, ...] = ("fit", "train_on_batch", "custom")
#: What the model learns (``task`` in copier.yml).
TASKS: tuple[str, ...] = ("image", "text")

#: Each axis by its question name, in question order.
CHOICES: dict[str, tuple[str, ...]] = {
    "api_style": API_STYLES,
    "training_loop": TRAINING_LOOPS,
    "task": TASKS,
}


@dataclass(frozen=True)
class Combination:
    """One supported product: an API style, a training loop and a task."""

    api_style: str
    training_loop: str
    task: str

    def __post_init__(self) -> None:
        for option in CHOICES:
            check_choice(option, getattr(self, option))

    @property
    def slug(self) -> str:
        """A name for paths and test ids, e.g. ``"functional-fit-image"``."""
        return f"{self.api_style}-{self.training_loop}-{self.task}"

    def answers(self) -> dict[str, str]:
        """The Copier answers that select this combination."""
        return {
            "api_style": self.api_style,
            "training_loop": self.training_loop,
            "task": self.task,
        }


def check_choice(option: str, value: object) -> None:
    """Raise ScaffoldError unless ``value`` is one of ``option``'s choices.

    Args:
        option: A question name: ``api_style``, ``training_loop`` or ``task``.
        value: The value to check.
    """
    allowed = CHOICES[option]
    if value not in allowed:
        raise ScaffoldError(
            f"{option} must be one of {', '.join(allowed)}; got {value!r}"
        )


#: All 18 combinations, API style varying slowest.
COMBINATIONS: tuple[Combination, ...] = tuple(
    Combination(api_style, training_loop, task)
    for api_style, training_loop, task in itertools.product(
        API_STYLES, TRAINING_LOOPS, TASKS
    )
)
