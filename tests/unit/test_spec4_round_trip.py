"""Spec export-definition.md §4, as properties: any cells, written in any encoding with
any delimiter, read back with Python's csv module, give back exactly those cells —
or, with formulaEscape, the cell with a leading ``'`` exactly when the spec asks for it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from typing import Literal

from hypothesis import given, settings
from hypothesis import strategies as st

from tracking_export.model import FileExportAction
from tracking_export.writer import FileWriter

# Spec §4 encoding -> the codec that reads it back and its byte-order mark.
READ_BACK = {
    "UTF-8": ("utf-8", b""),
    "UTF-8-BOM": ("utf-8", codecs.BOM_UTF8),
    "ISO-8859-1": ("latin-1", b""),
    "WINDOWS-1252": ("cp1252", b""),
    "UTF-16LE": ("utf-16-le", codecs.BOM_UTF16_LE),
}
Delimiter = Literal["comma", "pipe", "semicolon", "tabulation"]
DELIMITERS: dict[Delimiter, str] = {"comma": ",", "pipe": "|", "semicolon": ";", "tabulation": "\t"}


def is_number(text: str) -> bool:
    """Spec §4 "entirely a number", leading spaces aside: a sign, digits, at most one '.' or ','."""
    text = text.lstrip(" ")
    body = text[1:] if text[:1] in ("+", "-") else text
    separators = body.count(".") + body.count(",")
    digits = body.replace(".", "").replace(",", "")
    return separators <= 1 and digits != "" and all(c in "0123456789" for c in digits)


def needs_escape(text: str) -> bool:
    """Spec §4: the first character other than a space (U+0020) is a trigger, and not a number."""
    first = text.lstrip(" ")[:1]
    return first != "" and first in "=+-@\t\r" and not is_number(text)


def expected_escape(text: str) -> str:
    return "'" + text if needs_escape(text) else text


@st.composite
def files(draw: st.DrawFn) -> tuple[FileExportAction, list[str], list[list[str]]]:
    action = FileExportAction(
        encoding=draw(st.sampled_from(sorted(READ_BACK))),
        delimiter=draw(st.sampled_from(sorted(DELIMITERS))),
        show_headers=draw(st.booleans()),
        compression=draw(st.sampled_from(["none", "gzip"])),
        formula_escape=draw(st.booleans()),
    )
    codec = READ_BACK[action.encoding][0]
    # Only characters the encoding can hold (UTF-8 and UTF-16 exclude lone surrogates).
    cells = st.text(st.characters(codec=codec, exclude_categories=["Cs"]), max_size=12)
    # Formula triggers and number-like cells often, so the escape rule is exercised.
    tricky = st.sampled_from(
        [
            "",
            "-1.5",
            "-2,25",
            "+3",
            "=A1",
            "-",
            "@x",
            "\tx",
            "\rx",
            '"',
            "a;b|c,d",
            " =A1",
            "  -1.5",
            " @x",
            "  ",
        ]
    )
    cell = st.one_of(cells, tricky)
    width = draw(st.integers(min_value=1, max_value=5))
    headers = draw(st.lists(cell, min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(cell, min_size=width, max_size=width), max_size=8))
    return action, headers, rows


def write(action: FileExportAction, headers: list[str], rows: list[list[str]], buffer_rows: int) -> bytes:
    out = io.BytesIO()
    writer = FileWriter(out, action, headers, buffer_rows=buffer_rows)
    for row in rows:
        writer.write_row(row)
    writer.close()
    assert writer.rows == len(rows)
    return out.getvalue()


def read_back(action: FileExportAction, data: bytes) -> list[list[str]]:
    if action.compression == "gzip":
        data = gzip.decompress(data)
    codec, bom = READ_BACK[action.encoding]
    assert data.startswith(bom)
    text = data[len(bom) :].decode(codec)
    assert text == "" or text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[action.delimiter]))


def as_read(row: list[str]) -> list[str]:
    """csv.reader gives [] for a record that is one empty cell (an empty line)."""
    return [] if row == [""] else row


@settings(max_examples=400, deadline=None)
@given(files(), st.integers(min_value=1, max_value=3))
def test_cells_read_back_exactly(
    file: tuple[FileExportAction, list[str], list[list[str]]], buffer: int
) -> None:
    action, headers, rows = file
    escape = expected_escape if action.formula_escape else (lambda text: text)
    expected = [as_read(headers)] if action.show_headers else []  # headers are never escaped
    expected += [as_read([escape(cell) for cell in row]) for row in rows]
    assert read_back(action, write(action, headers, rows, buffer)) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(), min_size=2, max_size=4), max_size=6))
def test_any_text_round_trips_in_utf8_with_escape_off(rows: list[list[str]]) -> None:
    for delimiter in DELIMITERS:
        action = FileExportAction(delimiter=delimiter, formula_escape=False, show_headers=False)
        assert read_back(action, write(action, [], rows, 2000)) == rows


# Any text, and text made of the characters the rule looks at (spaces, triggers, number parts).
_RULE_TEXT = st.one_of(st.text(), st.text(alphabet=" =+-@\t\r1.,ax", max_size=6))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_RULE_TEXT, min_size=2, max_size=4), max_size=6))
def test_formula_escape_adds_a_quote_exactly_when_asked(rows: list[list[str]]) -> None:
    action = FileExportAction(formula_escape=True, show_headers=False)
    back = read_back(action, write(action, [], rows, 2000))
    for written, original in zip(back, rows, strict=True):
        for got, cell in zip(written, original, strict=True):
            assert got == cell or got == "'" + cell
            assert (got != cell) == needs_escape(cell)
