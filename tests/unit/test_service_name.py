"""One service name and one metrics namespace everywhere (issue 8): the template's.

Powertools tags every log line with ``POWERTOOLS_SERVICE_NAME`` and puts every metric in
``POWERTOOLS_METRICS_NAMESPACE``; the dashboard searches that namespace. A test or a local
run under another name would log and count under a service the stack never shows. The
values are read from the text of each file, wherever it sets them (``NAME: value``,
``"NAME": "value"``, ``setenv("NAME", "value")``, ``NAME=value`` in the docs), so a file
that moves or a new one that sets them is still checked.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = ("POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE")
SUFFIXES = {".py", ".json", ".md", ".yaml", ".yml", ".toml"}
SKIPPED_DIRS = {
    ".venv",
    ".venv313",
    ".git",
    ".local",
    ".aws-sam",
    "node_modules",
    ".hypothesis",
    "__pycache__",
}
# The template's own values, written out here so that a change of name is a deliberate one.
EXPECTED = {"POWERTOOLS_SERVICE_NAME": "tracking-export", "POWERTOOLS_METRICS_NAMESPACE": "TrackingExport"}


def _setting(variable: str) -> re.Pattern[str]:
    # The name, an optional closing quote, then `:`, `=` or `,` and the value (quoted or not).
    return re.compile(rf"{variable}[\"']?\s*[:=,]\s*[\"'`]?([A-Za-z0-9_.-]+)")


def _settings(variable: str) -> dict[str, set[str]]:
    """Relative path -> the values the file gives ``variable``."""
    found: dict[str, set[str]] = {}
    pattern = _setting(variable)
    for directory, subdirectories, files in os.walk(ROOT):
        subdirectories[:] = [d for d in subdirectories if d not in SKIPPED_DIRS]
        for file in files:
            path = Path(directory, file)
            if path.suffix not in SUFFIXES or path.name == Path(__file__).name:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            # An upper-case "value" is the next name in a list of names, not a setting.
            values = {value for value in pattern.findall(text) if not value.isupper()}
            if values:
                found[path.relative_to(ROOT).as_posix()] = values
    return found


@pytest.mark.parametrize("variable", VARIABLES)
def test_the_template_sets_the_expected_value(variable: str) -> None:
    assert _settings(variable)["template.yaml"] == {EXPECTED[variable]}


@pytest.mark.parametrize("variable", VARIABLES)
def test_tests_local_run_and_docs_use_the_templates_value(variable: str) -> None:
    found = _settings(variable)
    # The places known to set it: without them this test would pass on an empty search (the
    # integration tests' functions take theirs from the template itself).
    assert {"tests/integration/test_built_layers.py", "docs/infrastructure.md"} <= set(found)
    assert any(path.endswith("local_run.py") for path in found)
    different = {path: values for path, values in found.items() if values != {EXPECTED[variable]}}
    assert different == {}


def test_the_search_finds_each_way_of_writing_a_setting() -> None:
    pattern = _setting("POWERTOOLS_SERVICE_NAME")
    written = (
        "POWERTOOLS_SERVICE_NAME: a-1",
        '"POWERTOOLS_SERVICE_NAME": "a-1"',
        'monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "a-1")',
        "`POWERTOOLS_SERVICE_NAME=a-1`",
    )
    assert [pattern.findall(text) for text in written] == [["a-1"]] * 4


def test_a_file_with_another_name_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "template.yaml").write_text("POWERTOOLS_SERVICE_NAME: tracking-export\n")
    (tmp_path / "run.py").write_text('ENV = {"POWERTOOLS_SERVICE_NAME": "tracking-log-export"}\n')
    (tmp_path / "names.py").write_text('NAMES = {"POWERTOOLS_SERVICE_NAME", "LOG_LEVEL"}\n')
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _settings("POWERTOOLS_SERVICE_NAME") == {
        "template.yaml": {"tracking-export"},
        "run.py": {"tracking-log-export"},
    }
