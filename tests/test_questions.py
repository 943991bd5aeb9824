"""The questions in copier.yml: validators, choices and computed defaults.

Copier runs validators while it asks, before it writes anything. The questions
are tested apart from the template tree, on a copy of copier.yml (and the
includes it imports) with an empty tree: answers with a pretend run, which
renders nothing, and failures through ``scaffold.create_project``, to see the
message users get and that no folder is left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from conftest import DEFAULT_ANSWERS, REPO_ROOT, render_project

from scaffold import ScaffoldError

QUESTIONS = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))


@pytest.fixture
def resolve_answers(tmp_path: Path, questions_template: Path) -> Callable[..., dict]:
    """Answer the questions as Copier would, defaults for the rest; write nothing.

    The returned function takes ``omit``, questions of DEFAULT_ANSWERS to leave to
    their defaults, and answers over DEFAULT_ANSWERS; it returns every answer.
    """

    def resolve(*, omit: tuple[str, ...] = (), **answers: Any) -> dict[str, Any]:
        data = {**DEFAULT_ANSWERS, **answers}
        for question in omit:
            del data[question]
        worker = copier.run_copy(
            str(questions_template),
            tmp_path / "pretend",
            data=data,
            defaults=True,
            pretend=True,
            quiet=True,
            unsafe=False,
        )
        assert not (tmp_path / "pretend").exists()
        return dict(worker.answers.combined)

    return resolve


@pytest.fixture
def assert_rejected(tmp_path: Path, questions_template: Path) -> Callable[..., None]:
    """Check that rendering fails naming a question, and writes nothing.

    The returned function takes the question, fragments its message must hold, and
    the answers over DEFAULT_ANSWERS.
    """

    def check(question: str, *fragments: str, **answers: Any) -> None:
        dest = tmp_path / "out" / "project"
        with pytest.raises(ScaffoldError) as caught:
            render_project(dest, template=questions_template, vcs_ref=None, **answers)
        message = str(caught.value)
        assert question in message
        for fragment in fragments:
            assert fragment in message
        assert "\n" not in message
        assert not (tmp_path / "out").exists()

    return check


def test_validated_questions_are_the_free_text_ones():
    validated = {
        name
        for name, spec in QUESTIONS.items()
        if isinstance(spec, dict) and "validator" in spec
    }
    # A new validator needs its cases below.
    assert validated == {"project_name", "package_name", "author_name", "description"}


# ------------------------------------------------------------------ package_name


@pytest.mark.parametrize(
    ("package_name", "reason"),
    [
        ("my-pkg", "lowercase Python identifier"),
        ("my pkg", "lowercase Python identifier"),
        ("3net", "lowercase Python identifier"),
        ("MyPkg", "lowercase Python identifier"),
        ("", "lowercase Python identifier"),
        ("_", "starting with a letter"),
        ("__future__", "starting with a letter"),
        ("a" * 41, "at most 40 characters"),
        ("class", "keyword"),
        ("lambda", "keyword"),
        ("json", "shadow"),
        ("typing", "shadow"),
        ("test", "shadow"),  # left out of sys.stdlib_module_names
        ("asyncore", "shadow"),  # Python 3.11 only
        ("annotationlib", "shadow"),  # Python 3.14 on
        ("keras", "shadow"),
        ("tensorflow", "shadow"),
        ("numpy", "shadow"),
        ("tests", "shadow"),
        ("google", "shadow"),
        ("h5py", "shadow"),
    ],
)
def test_package_name_rejected(assert_rejected, package_name, reason):
    assert_rejected(
        "package_name",
        reason,
        f"'{package_name}'",
        package_name=package_name,
    )


@pytest.mark.parametrize("package_name", ["my_pkg", "net2", "resnet_v2"])
def test_package_name_accepted(resolve_answers, package_name):
    answers = resolve_answers(package_name=package_name)
    assert answers["package_name"] == package_name


@pytest.mark.parametrize(
    ("project_name", "package_name"),
    [
        ("My Cool Net!", "my_cool_net"),
        ("3D Net", "p_3d_net"),
        ("  Keras Project  ", "keras_project"),
        ("--ResNet-50--", "resnet_50"),
        ("net", "net"),
    ],
)
def test_package_name_derived_from_project_name(
    resolve_answers, project_name, package_name
):
    answers = resolve_answers(project_name=project_name)
    assert answers["package_name"] == package_name


def test_package_name_derived_default_is_validated(assert_rejected):
    # "JSON" derives "json", which would shadow the standard library.
    assert_rejected("package_name", "shadow", project_name="JSON")


# ------------------------------------------------------------ project_name, author


@pytest.mark.parametrize("project_name", ["", "   "])
def test_project_name_must_not_be_empty(assert_rejected, project_name):
    assert_rejected("project_name", "empty", project_name=project_name)


@pytest.mark.parametrize("author_name", ["", " \t "])
def test_author_name_must_not_be_empty(assert_rejected, author_name):
    assert_rejected("author_name", "empty", author_name=author_name)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("a" * 81, "at most 80 characters"),
        ("Two\nlines", "one line"),
        ("C:\\x", "one line"),
    ],
)
def test_project_name_rejected(assert_rejected, answer, reason):
    assert_rejected("project_name", reason, project_name=answer)


@pytest.mark.parametrize("answer", ['Say """hi"""', "Two\nlines", "a \\d+ regex"])
def test_description_rejected(assert_rejected, answer):
    assert_rejected("description", "one line without", description=answer)


def test_description_may_be_empty(resolve_answers):
    assert resolve_answers(description="")["description"] == ""


# ------------------------------------------------------------------ choices


@pytest.mark.parametrize(
    ("question", "value"),
    [
        ("api_style", "Functional"),
        ("api_style", "keras"),
        ("training_loop", "train-on-batch"),
        ("training_loop", "gradient_tape"),
        ("task", "audio"),
    ],
)
def test_invalid_choice_rejected_by_scaffold(assert_rejected, question, value):
    allowed = ", ".join(QUESTIONS[question]["choices"].values())
    assert_rejected(question, allowed, repr(value), **{question: value})


@pytest.mark.parametrize(
    ("question", "value"),
    [("api_style", "keras"), ("training_loop", "loop"), ("task", "audio")],
)
def test_invalid_choice_rejected_by_copier(resolve_answers, question, value):
    # copier.yml's own choices, without the scaffold's check in front.
    with pytest.raises(ValueError, match=f"Invalid choice for '{question}'"):
        resolve_answers(**{question: value})


@pytest.mark.parametrize(
    ("question", "default"),
    [("api_style", "functional"), ("training_loop", "fit"), ("task", "image")],
)
def test_choice_defaults(resolve_answers, question, default):
    answers = resolve_answers(omit=(question,))
    assert QUESTIONS[question]["default"] == default
    assert answers[question] == default
