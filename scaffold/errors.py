"""The package's own error class."""

from __future__ import annotations

__all__ = ["ScaffoldError"]


class ScaffoldError(Exception):
    """A request the scaffolder cannot carry out, with a one-line reason.

    The command line turns it into ``error: <message>`` and exit status 1.
    """
