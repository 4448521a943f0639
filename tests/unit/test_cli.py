"""The `tracking-export` command line: validate and render (issue: export engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracking_export.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "tests" / "fixtures" / "seed-example.xml"

# Laurie's two logs (data-contract.md, last section) and what they need.
RECORDS = [
    {"type": "learner", "tenantId": "acme", "learnerId": 1, "name": "Martin", "firstname": "Laurie"},
    {"type": "training", "tenantId": "acme", "trainingId": 10, "title": "First steps"},
    {"type": "session", "tenantId": "acme", "sessionId": 100, "title": "Session 01", "trainingId": 10},
    {"type": "content", "tenantId": "acme", "contentGuid": "C-1", "title": "Welcome to our team"},
    {
        "type": "tracking", "tenantId": "acme", "trackingId": 501,
        "learnerId": 1, "sessionId": 100, "contentGuid": "C-1",
    },
    {
        "type": "trackingLog", "tenantId": "acme", "trackingId": 501, "logId": 9001,
        "startedAt": "2020-02-10T09:30:00Z", "lastAccessAt": "2020-02-10T09:33:00Z", "completedAt": None,
        "progression": 40, "score": None, "status": "incomplete", "timeSpentSeconds": 180,
    },
    {
        "type": "trackingLog", "tenantId": "acme", "trackingId": 501, "logId": 9002,
        "startedAt": "2020-02-10T17:00:00Z", "lastAccessAt": "2020-02-10T17:01:00Z",
        "completedAt": "2020-02-10T17:01:00Z", "progression": 100, "score": 4, "status": "completed",
        "timeSpentSeconds": 60,
    },
]  # fmt: skip

DEFINITION = """<providers><trackingLogProvider><columns>
<candidateFirstname/><firstLaunchDate/><learningObjectRealCompletionTime/><score/><timeGlobal/>
</columns></trackingLogProvider></providers>"""


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    lines = [json.dumps(r) for r in RECORDS]
    path.write_text("\n".join([*lines, "this line is not JSON"]) + "\n", encoding="utf-8")
    return path


def test_validate_a_valid_definition_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SEED)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # The seed's custom-field column names no GUID: a warning, not an error.
    assert "warning" in lines[0] and "candidateCustomFieldGuid" in lines[0]
    assert "valid" in lines[-1] and "39 columns" in lines[-1]


def test_validate_lists_every_error_one_per_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(
        "<providers><trackingLogProvider>\n<columns><candidateFoo/></columns>\n"
        "<parameters><dateFormat>yyyy-mm-dd</dateFormat><deltaMode>perhaps</deltaMode></parameters>\n"
        "</trackingLogProvider></providers>\n",
        encoding="utf-8",
    )
    assert main(["validate", str(bad)]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    assert any("candidateFoo" in line and "line 2" in line for line in lines)
    assert any("dateFormat" in line and "line 3" in line for line in lines)
    assert any("deltaMode" in line and "line 3" in line for line in lines)


def test_render_writes_the_file_and_a_one_line_summary(
    tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = tmp_path / "laurie.xml"
    definition.write_text(DEFINITION, encoding="utf-8")
    out = tmp_path / "out.csv"
    argv = ["render", "--definition", str(definition), "--dataset", str(dataset), "--tenant", "acme"]
    argv += ["--timezone", "Europe/Paris", "--now", "2020-02-11T02:00:00Z", "--output", str(out)]
    assert main(argv) == 0
    # Checked by hand: Paris is UTC+1 in February; the real completion time is the start of
    # the log whose progression is 100; score empty when null; timeGlobal in raw seconds.
    assert out.read_bytes() == (
        b"candidateFirstname;firstLaunchDate;learningObjectRealCompletionTime;score;timeGlobal\r\n"
        b"Laurie;2020-02-10 10:30:00;;;180\r\n"
        b"Laurie;2020-02-10 18:00:00;2020-02-10 18:00:00;4;60\r\n"
    )
    summary = capsys.readouterr().err.strip().splitlines()
    assert len(summary) == 1
    assert "rows=2" in summary[0] and "skipped=1" in summary[0]  # the line that is not JSON
    assert f"bytes={out.stat().st_size}" in summary[0]


def test_render_to_standard_output(
    tmp_path: Path, dataset: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    definition = tmp_path / "laurie.xml"
    definition.write_text(DEFINITION, encoding="utf-8")
    argv = ["render", "--definition", str(definition), "--dataset", str(dataset), "--tenant", "acme"]
    assert main([*argv, "--timezone", "UTC", "--now", "2020-02-11T02:00:00Z", "--output", "-"]) == 0
    assert capsysbinary.readouterr().out.splitlines()[1] == b"Laurie;2020-02-10 09:30:00;;;180"


def test_render_of_an_invalid_definition_exits_2_and_writes_nothing(
    tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = tmp_path / "bad.xml"
    definition.write_text("<providers><trackingLogProvider><columns/></trackingLogProvider></providers>")
    out = tmp_path / "out.csv"
    argv = ["render", "--definition", str(definition), "--dataset", str(dataset), "--tenant", "acme"]
    assert main([*argv, "--output", str(out)]) == 2
    assert not out.exists()
    assert "columns" in capsys.readouterr().err


def test_render_with_delete_empty_files_and_no_rows_writes_no_file(tmp_path: Path, dataset: Path) -> None:
    definition = tmp_path / "empty.xml"
    definition.write_text(
        '<export-config><export guid="empty"><providers><trackingLogProvider><columns><candidateId/>'
        "</columns></trackingLogProvider></providers><consolidators><moveToFolder>"
        "<deleteEmptyFiles>yes</deleteEmptyFiles></moveToFolder></consolidators></export></export-config>"
    )
    out = tmp_path / "out.csv"
    argv = ["render", "--definition", str(definition), "--dataset", str(dataset), "--tenant", "globex"]
    assert main([*argv, "--output", str(out)]) == 0
    assert not out.exists()
    assert not list(tmp_path.glob(".tracking-export-*"))  # no temporary file left behind


def test_other_tenants_records_never_appear(tmp_path: Path, dataset: Path) -> None:
    definition = tmp_path / "laurie.xml"
    definition.write_text(DEFINITION, encoding="utf-8")
    out = tmp_path / "out.csv"
    argv = ["render", "--definition", str(definition), "--dataset", str(dataset), "--tenant", "globex"]
    assert main([*argv, "--output", str(out)]) == 0
    assert (
        out.read_bytes()
        == b"candidateFirstname;firstLaunchDate;learningObjectRealCompletionTime;score;timeGlobal\r\n"
    )


@pytest.mark.parametrize("now", [["--now", "2020-02-11T02:00:00Z"], []])
def test_render_refuses_a_previous_run_start_later_than_now(
    tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str], now: list[str]
) -> None:
    """Spec §5: the previous successful run is one whose time is before this run's."""
    definition = tmp_path / "laurie.xml"
    definition.write_text(DEFINITION, encoding="utf-8")
    out = tmp_path / "out.csv"
    argv = ["render", "--definition", str(definition), "--dataset", str(dataset), "--tenant", "acme"]
    # Without --now the run's time is the clock: a start in 2099 is later than it.
    previous = "2020-02-11T02:00:01Z" if now else "2099-01-01T00:00:00Z"
    assert main([*argv, *now, "--previous-run-start", previous, "--output", str(out)]) == 2
    assert not out.exists()
    assert not list(tmp_path.glob(".tracking-export-*"))
    err = capsys.readouterr().err
    assert "--previous-run-start" in err and "later than --now" in err


def test_render_accepts_a_previous_run_start_at_or_before_now(tmp_path: Path, dataset: Path) -> None:
    definition = tmp_path / "laurie.xml"
    definition.write_text(DEFINITION, encoding="utf-8")
    argv = ["render", "--definition", str(definition), "--dataset", str(dataset), "--tenant", "acme"]
    for previous in ("2020-02-11T02:00:00Z", "2020-02-10T02:00:00Z"):
        out = tmp_path / "out.csv"
        now = ["--now", "2020-02-11T02:00:00Z", "--previous-run-start", previous]
        assert main([*argv, "--timezone", "UTC", *now, "--output", str(out)]) == 0
        assert out.exists()
