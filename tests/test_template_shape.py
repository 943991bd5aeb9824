"""The template reads like the code it makes: few branches per file (CONTRIBUTING.md).

Counts each template file's ``{% if %}`` and ``{% elif %}`` tags and the questions
they test (directly, or through a name set from a question in the same file).
``python tests/test_template_shape.py`` prints the table for every file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jinja2
import pytest
import yaml
from jinja2 import meta

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
QUESTIONS = ("api_style", "training_loop", "task")
#: The generated code: the project's modules and every variant's code.
CODE = sorted(
    [
        *(TEMPLATES / "project" / "src").rglob("*.jinja"),
        *(
            path
            for path in (TEMPLATES / "variants").rglob("*.jinja")
            if not path.name.startswith(("test_", "README"))
        ),
    ]
)
MOST_BRANCHES = 8
MOST_BRANCHES_ON_TWO_QUESTIONS = 4

_BRANCH = re.compile(r"\{%-?\s*(?:if|elif)\b(.*?)-?%\}", re.S)
_SET = re.compile(r"\{%-?\s*set\s+(\w+)\s*=\s*(.*?)-?%\}", re.S)


def branches(text: str) -> tuple[int, set[str]]:
    """The number of if/elif tags in a template and the questions they test."""
    aliases = {
        name: {question for question in QUESTIONS if question in expression}
        for name, expression in _SET.findall(text)
    }
    tested: set[str] = set()
    tags = _BRANCH.findall(text)
    for condition in tags:
        tested |= {question for question in QUESTIONS if question in condition}
        for name, questions in aliases.items():
            if re.search(rf"\b{name}\b", condition):
                tested |= questions
    return len(tags), tested


def test_the_counter_sees_branches_and_aliases():
    text = (
        '{%- set text = task == "text" -%}\n'
        "{% if text %}a{% endif %}\n"
        '{%- if training_loop == "fit" %}b{%- elif api_style %}c{% endif %}\n'
    )
    assert branches(text) == (3, {"task", "training_loop", "api_style"})


@pytest.mark.parametrize(
    "path", CODE, ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_a_code_template_branches_little(path):
    count, questions = branches(path.read_text(encoding="utf-8"))
    assert count <= MOST_BRANCHES, f"{count} branches: split the file by variant"
    if len(questions) > 1:
        assert (
            count <= MOST_BRANCHES_ON_TWO_QUESTIONS
        ), f"{count} branches on {sorted(questions)}: one question per file"
    assert len(questions) <= 2, f"branches on {sorted(questions)}"


#: What copier.yml asks or computes: the names a project template may read.
ANSWERS = {
    name
    for name in yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    if not name.startswith("_")
}
#: The files Copier renders (the variants are included from them, in their context).
RENDERED = sorted(
    path
    for path in (TEMPLATES / "project").rglob("*.jinja")
    if "_copier_" not in path.name
)


@pytest.mark.parametrize(
    "path", RENDERED, ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_a_rendered_template_reads_only_answers_and_its_own_names(path):
    """A name nobody set renders as false and empty: a branch silently lost."""
    text = path.read_text(encoding="utf-8")
    used = meta.find_undeclared_variables(jinja2.Environment().parse(text))
    own = {name for name, _ in _SET.findall(text)}
    assert used <= ANSWERS | own, f"not set here: {sorted(used - ANSWERS - own)}"


if __name__ == "__main__":
    for path in sorted(TEMPLATES.rglob("*.jinja")):
        count, questions = branches(path.read_text(encoding="utf-8"))
        lines = len(path.read_text(encoding="utf-8").splitlines())
        name = path.relative_to(TEMPLATES)
        print(f"{count:3d} {lines:5d}  {', '.join(sorted(questions)):30s} {name}")
    sys.exit(0)
