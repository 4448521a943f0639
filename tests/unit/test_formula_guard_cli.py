"""Spec export-definition.md §4 formulaEscape and §3 row 32 maxLength, through
`tracking-export render` (issue 10 and issue 6 item 9).

A cell whose first character other than a space is `=`, `+`, `-`, `@`, tab or CR gets a
leading `'`, so a spreadsheet import that trims spaces does not run it; a cell that is
entirely a number, leading spaces aside, is left alone. maxLength bounds the cell as
written: the `'` counts, the cut comes after the escape and before CSV quoting.

Each test cell is the title of one content; the contents' GUIDs sort in the order of the
cells, so the file's records come in that order (one learner, one session, one day).
Every expected line is worked out by hand from the spec (semicolon delimiter, CRLF).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tracking_export.cli import main


def records(titles: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"type": "learner", "tenantId": "acme", "learnerId": 1, "name": "Martin", "firstname": "Laurie"},
        {"type": "training", "tenantId": "acme", "trainingId": 10, "title": "First steps"},
        {"type": "session", "tenantId": "acme", "sessionId": 100, "title": "S", "trainingId": 10},
    ]
    for index, title in enumerate(titles):
        guid = f"C-{index:02d}"
        tracking = 500 + index
        out += [
            {"type": "content", "tenantId": "acme", "contentGuid": guid, "title": title},
            {
                "type": "tracking", "tenantId": "acme", "trackingId": tracking,
                "learnerId": 1, "sessionId": 100, "contentGuid": guid,
            },
            {
                "type": "trackingLog", "tenantId": "acme", "trackingId": tracking, "logId": 9000 + index,
                "startedAt": "2020-02-10T09:30:00Z", "progression": 40, "status": "incomplete",
                "timeSpentSeconds": 60,
            },
        ]  # fmt: skip
    return out


def render(tmp_path: Path, titles: list[str], parameters: str = "", action: str = "") -> bytes:
    """The bytes `tracking-export render` writes for a contentTitle-only export of ``titles``."""
    dataset = tmp_path / "data.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in records(titles)), encoding="utf-8")
    definition = tmp_path / "titles.xml"
    definition.write_text(
        '<export-config><export guid="titles"><providers><trackingLogProvider>'
        f"<columns><contentTitle/></columns><parameters>{parameters}</parameters>"
        "</trackingLogProvider></providers>"
        f"<actions><fileExportAction>{action}</fileExportAction></actions>"
        "</export></export-config>",
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    argv = ["render", "--definition", str(definition), "--dataset", str(dataset), "--tenant", "acme"]
    argv += ["--timezone", "UTC", "--now", "2020-02-11T02:00:00Z", "--output", str(out)]
    assert main(argv) == 0
    data = out.read_bytes()
    header = b"contentTitle\r\n"
    assert data.startswith(header)
    return data[len(header) :]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        (" =1+1", b"' =1+1"),  # the spec's own example
        ("  +33 6 12", b"'  +33 6 12"),
        (" -x", b"' -x"),
        ("   @SUM(A1)", b"'   @SUM(A1)"),
        (" \tcmd", b"' \tcmd"),  # a tab is not the delimiter here: no quotes
        (" \rcmd", b'"\' \rcmd"'),  # a CR forces quotes; the escape comes first, inside them
        ("=1+1", b"'=1+1"),  # no space: as before
        (" - 1", b"' - 1"),  # a sign, a space, a digit: not a number
        (" -1.5 ", b"' -1.5 "),  # only leading spaces are set aside
        (" -1e5", b"' -1e5"),
        (" =a;b", b'"\' =a;b"'),
    ],
)
def test_leading_spaces_before_a_trigger_are_escaped(tmp_path: Path, cell: str, written: bytes) -> None:
    assert render(tmp_path, [cell]) == written + b"\r\n"


@pytest.mark.parametrize("cell", [" -1.5", "  -2,25", " +3", "    -.5", " 12", "-1.5", "-2,25"])
def test_spaces_before_a_number_leave_it_alone(tmp_path: Path, cell: str) -> None:
    assert render(tmp_path, [cell]) == cell.encode() + b"\r\n"


@pytest.mark.parametrize("cell", ["   ", " a=b", " 'x", "a =b", "\u00a0=1"])
def test_cells_without_a_trigger_after_their_spaces_are_left_alone(tmp_path: Path, cell: str) -> None:
    # Only U+0020 is set aside: a no-break space is an ordinary first character.
    assert render(tmp_path, [cell]) == cell.encode() + b"\r\n"


def test_every_trigger_in_one_file(tmp_path: Path) -> None:
    cells = [" =a", " +a", " -a", " @a", " \ta", " \ra", " -1.5", " a"]
    assert render(tmp_path, cells) == (
        b"' =a\r\n' +a\r\n' -a\r\n' @a\r\n' \ta\r\n\"' \ra\"\r\n -1.5\r\n a\r\n"
    )


def test_formula_escape_off_writes_spaced_triggers_as_they_are(tmp_path: Path) -> None:
    got = render(tmp_path, [" =1+1", " @x"], action="<formulaEscape>no</formulaEscape>")
    assert got == b" =1+1\r\n @x\r\n"


def test_max_length_counts_the_escape_and_cuts_after_it(tmp_path: Path) -> None:
    cells = ["@us", " =1+1", "=", " -1.5", "-1.5", "abcdef", "a;bcd", 'x"yz', " \rab"]
    got = render(tmp_path, cells, parameters="<maxLength>3</maxLength>")
    assert got == (
        b"'@u\r\n"  # the spec's example: "'@us" cut to 3
        b"' =\r\n"  # "' =1+1" cut to 3
        b"'=\r\n"  # "'=" is within the limit
        b" -1\r\n"  # a number is not escaped: " -1.5" cut to 3
        b"-1.\r\n"
        b"abc\r\n"
        b'"a;b"\r\n'  # cut before quoting: the quotes do not count
        b'"x""y"\r\n'  # nor does the doubled quote
        b'"\' \r"\r\n'  # "' \rab" cut to 3 keeps the CR, which forces quotes
    )


def test_max_length_one_keeps_only_the_escape(tmp_path: Path) -> None:
    assert render(tmp_path, ["=1", "ab"], parameters="<maxLength>1</maxLength>") == b"'\r\na\r\n"


def test_max_length_with_escape_off_cuts_the_cell_itself(tmp_path: Path) -> None:
    got = render(
        tmp_path,
        ["@us", " =1+1"],
        parameters="<maxLength>3</maxLength>",
        action="<formulaEscape>no</formulaEscape>",
    )
    assert got == b"@us\r\n =1\r\n"
