"""Where the Copier template lives, installed or in a checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

from scaffold.errors import ScaffoldError

__all__ = ["TEMPLATE_ROOT", "copy_template", "find_template_root", "is_template_root"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def is_template_root(path: Path) -> bool:
    """Whether ``path`` holds a Copier template: ``copier.yml`` and ``templates/``."""
    return (path / "copier.yml").is_file() and (path / "templates").is_dir()


def find_template_root() -> Path:
    """Find the template this package renders.

    A wheel carries it as ``scaffold/_template/`` (copier.yml and templates/); a
    checkout or an editable install has it at the repository root, one level above
    the package. The checkout is a git repository, which is what lets Copier
    version a project and later update it.

    Returns:
        The directory that holds ``copier.yml``.
    """
    candidates = (_PACKAGE_DIR / "_template", _PACKAGE_DIR.parent)
    for candidate in candidates:
        if is_template_root(candidate):
            return candidate
    searched = ", ".join(str(candidate) for candidate in candidates)
    raise ScaffoldError(f"no template (copier.yml and templates/) found in {searched}")


def copy_template(source: Path, dest: Path) -> Path:
    """Copy the template at ``source`` (copier.yml and templates/) into a new ``dest``.

    As it is on disk, uncommitted edits included, without Python's byte-code
    caches; not a git repository, so Copier renders it in place.

    Returns:
        ``dest``.
    """
    dest.mkdir(parents=True)
    shutil.copy2(source / "copier.yml", dest / "copier.yml")
    shutil.copytree(
        source / "templates",
        dest / "templates",
        ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"),
    )
    return dest


#: The template rendered when no other is given. ``None`` only in a broken install.
try:
    TEMPLATE_ROOT: Path | None = find_template_root()
except ScaffoldError:  # pragma: no cover - a broken install; create_project says so
    TEMPLATE_ROOT = None
