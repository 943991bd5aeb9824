"""templates/includes/reserved_names.jinja: generated, and current.

``python -m scaffold.reserved_names`` writes the fragment from the
``sys.stdlib_module_names`` recorded per Python version in
scaffold/stdlib_module_names.json; the validator of package_name imports it
(tests/test_questions.py checks what it refuses).
"""

from __future__ import annotations

import keyword
import sys

from scaffold.reserved_names import (
    FRAGMENT,
    STDLIB_FILE,
    interpreter_names,
    load_stdlib,
    main,
    render_fragment,
    shadowed_modules,
)

RERUN = "python -m scaffold.reserved_names"
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"


def test_fragment_is_what_the_script_writes():
    assert FRAGMENT.read_text(encoding="utf-8") == render_fragment(
        load_stdlib()
    ), f"{FRAGMENT.name} is out of date; rewrite it with: {RERUN}"


def test_running_interpreter_list_is_recorded():
    stdlib = load_stdlib()
    assert RUNNING in stdlib, f"Python {RUNNING} is not recorded; run: {RERUN}"
    assert stdlib[RUNNING]["names"] == sorted(
        sys.stdlib_module_names
    ), f"Python {RUNNING}'s standard library changed; run: {RERUN}"


def test_every_supported_version_is_recorded():
    # requires-python is >=3.11 here and in the generated projects.
    versions = sorted(load_stdlib(), key=lambda v: tuple(map(int, v.split("."))))
    minors = [int(version.split(".")[1]) for version in versions]
    assert versions[0] == "3.11"
    assert minors == list(range(11, minors[-1] + 1))
    assert minors[-1] >= max(14, sys.version_info[1])


def test_fragment_refuses_the_standard_library_of_every_version():
    shadowed = set(shadowed_modules(load_stdlib()))
    text = FRAGMENT.read_text(encoding="utf-8")
    # Only in 3.11 (asyncore), only from 3.14 (annotationlib, compression), and
    # the regression-test package that sys.stdlib_module_names leaves out.
    for name in ("asyncore", "annotationlib", "compression", "test", "json"):
        assert name in shadowed
        assert f'"{name}"' in text
    assert all(f'"{word}"' in text for word in keyword.kwlist)
    # Names no package_name can take are left out.
    assert "cProfile" not in shadowed
    assert not any(name.startswith("_") for name in shadowed)


def test_interpreter_reports_its_version_and_names():
    version, record = interpreter_names(sys.executable)
    assert version == RUNNING
    assert record["names"] == sorted(sys.stdlib_module_names)
    assert sys.version.split()[0] in record["source"]


def test_unusable_interpreter_fails_in_one_line_and_writes_nothing(tmp_path, capsys):
    before = (FRAGMENT.read_bytes(), STDLIB_FILE.read_bytes())
    assert main([str(tmp_path / "no-such-python")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: cannot run ")
    assert error.count("\n") == 1
    assert (FRAGMENT.read_bytes(), STDLIB_FILE.read_bytes()) == before
