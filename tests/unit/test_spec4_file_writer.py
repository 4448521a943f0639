"""Spec export-definition.md §4 (actions): how the file looks, byte for byte.

Every expected byte string is worked out by hand from the spec's rules (CRLF record
ends, RFC 4180 minimal quoting, formulaEscape, encodings and their byte-order marks,
onUnencodable, gzip) and docs/file-format.md.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Sequence
from typing import Any

import pytest

from tracking_export.definition import load_definition
from tracking_export.errors import UnencodableCellError
from tracking_export.model import FileExportAction
from tracking_export.writer import WRITE_CHUNK, CellEncoder, FileWriter

MiB = 1 << 20


class RecordingSink:
    """An ``out`` that keeps each ``write`` call separately."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.writes.append(bytes(data))
        return len(data)

    def value(self) -> bytes:
        return b"".join(self.writes)


def render(
    rows: Sequence[Sequence[str]],
    headers: Sequence[str] = (),
    *,
    buffer_rows: int = 2000,
    **action: Any,
) -> bytes:
    """The file's bytes; without ``headers`` the header line is switched off."""
    action.setdefault("show_headers", bool(headers))
    out = io.BytesIO()
    writer = FileWriter(out, FileExportAction(**action), list(headers), buffer_rows=buffer_rows)
    for row in rows:
        writer.write_row(row)
    writer.close()
    return out.getvalue()


# --- records and quoting -----------------------------------------------------------


def test_quotes_only_cells_with_delimiter_or_quote_and_doubles_quotes() -> None:
    assert render([["a", "b;c", 'd"e']]) == b'a;"b;c";"d""e"\r\n'


def test_quotes_cells_with_cr_or_lf() -> None:
    assert render([["a\rb", "c\nd", "e\r\nf"]]) == b'"a\rb";"c\nd";"e\r\nf"\r\n'


def test_quote_anywhere_in_cell_quotes_whole_cell() -> None:
    assert render([['say "hi"', '"', "plain"]]) == b'"say ""hi""";"""";plain\r\n'


def test_every_record_ends_with_crlf_the_last_one_included() -> None:
    assert render([["1", "2"], ["3", "4"]], headers=["x", "y"]) == b"x;y\r\n1;2\r\n3;4\r\n"


def test_empty_cells_are_not_quoted() -> None:
    assert render([["", "", ""]]) == b";;\r\n"


@pytest.mark.parametrize(
    ("delimiter", "expected"),
    [
        ("comma", b'"a,b",c|d,e;f,g\th\r\n'),
        ("pipe", b'a,b|"c|d"|e;f|g\th\r\n'),
        ("semicolon", b'a,b;c|d;"e;f";g\th\r\n'),
        ("tabulation", b'a,b\tc|d\te;f\t"g\th"\r\n'),
    ],
)
def test_each_delimiter_separates_and_only_its_own_character_forces_quotes(
    delimiter: str, expected: bytes
) -> None:
    assert render([["a,b", "c|d", "e;f", "g\th"]], delimiter=delimiter) == expected


def test_tsv_without_delimiter_defaults_to_tabulation() -> None:
    definition = load_definition(
        '{"guid": "g", "columns": ["reportId", "score"], "fileExportAction": {"format": "TSV"}}',
        name="tsv.json",
    )
    out = io.BytesIO()
    writer = FileWriter(out, definition.file_action, ["reportId", "score"])
    writer.write_row(["1", "a;b"])
    writer.close()
    assert out.getvalue() == b"reportId\tscore\r\n1\ta;b\r\n"


# --- formulaEscape -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=SUM(A1:A3)", b"'=SUM(A1:A3)\r\n"),
        ("+33 6 12", b"'+33 6 12\r\n"),
        ("-x", b"'-x\r\n"),
        ("@cmd", b"'@cmd\r\n"),
        ("\tx", b"'\tx\r\n"),  # a tab is not the delimiter here: no quotes
        ("\rx", b'"\'\rx"\r\n'),  # a CR always forces quotes; the escape comes first
        ("=a;b", b'"\'=a;b"\r\n'),
        ('=1"2', b'"\'=1""2"\r\n'),
        ("-", b"'-\r\n"),
        ("+", b"'+\r\n"),
        ("- 1", b"'- 1\r\n"),
        ("-1.5.3", b"'-1.5.3\r\n"),
        ("-1,5.3", b"'-1,5.3\r\n"),
        ("-1e5", b"'-1e5\r\n"),
        ("=1", b"'=1\r\n"),  # only + and - make a number sign
        ("a=b", b"a=b\r\n"),  # only the first character counts
        # Leading spaces (U+0020 only) are set aside: an import that trims them would run the rest.
        (" =1+1", b"' =1+1\r\n"),
        ("   @x", b"'   @x\r\n"),
        (" +x", b"' +x\r\n"),
        (" -x", b"' -x\r\n"),
        (" \tx", b"' \tx\r\n"),
        (" \rx", b'"\' \rx"\r\n'),
        (" -1.5 ", b"' -1.5 \r\n"),  # trailing spaces are not set aside: not a number
        ("   ", b"   \r\n"),  # nothing but spaces: no trigger
        (" a=b", b" a=b\r\n"),
    ],
)
def test_formula_escape_prefixes_a_quote(cell: str, expected: bytes) -> None:
    assert render([[cell]], formula_escape=True) == expected


@pytest.mark.parametrize(
    "cell", ["-1.5", "-2,25", "+3", "-42", "+0.5", "-.5", "-7.", "12", "-0", " -1.5", "   -2,25", " +3"]
)
def test_formula_escape_leaves_numbers_alone(cell: str) -> None:
    assert render([[cell]], formula_escape=True) == cell.encode() + b"\r\n"


def test_number_with_comma_is_quoted_in_a_comma_file_but_not_escaped() -> None:
    assert render([["-2,25", "x"]], delimiter="comma") == b'"-2,25",x\r\n'


def test_tab_starting_cell_in_a_tsv_is_escaped_then_quoted() -> None:
    assert render([["\tx", "y"]], delimiter="tabulation", formula_escape=True) == b'"\'\tx"\ty\r\n'


def test_formula_escape_off_writes_cells_as_they_are() -> None:
    assert render([["=SUM(A1)", "@x", "-y"]], formula_escape=False) == b"=SUM(A1);@x;-y\r\n"


def test_header_cells_are_quoted_but_never_formula_escaped() -> None:
    got = render([], headers=["=h", "-x", "a;b", "@"], formula_escape=True)
    assert got == b'=h;-x;"a;b";@\r\n'


@pytest.mark.parametrize(
    ("max_length", "cell", "expected"),
    [
        (3, "@us", "'@u"),  # spec §3 row 32's example: the escape counts
        (2, " =1", "' "),
        (4, "-1.5x", "'-1."),
        (3, " -1.5", " -1"),  # a number is not escaped, just cut
        (3, "a|bcd", '"a|b"'),  # cut before quoting: quotes are not counted
        (2, 'a"b', '"a"""'),
        (5, "=x", "'=x"),
        (None, "=" * 20, "'" + "=" * 20),
    ],
)
def test_data_cell_within_cuts_after_the_escape_and_before_quoting(
    max_length: int | None, cell: str, expected: str
) -> None:
    encoder = CellEncoder(FileExportAction(delimiter="pipe"))
    assert encoder.data_cell_within(max_length)(cell) == expected


def test_data_cell_within_without_escape_cuts_the_cell_itself() -> None:
    encoder = CellEncoder(FileExportAction(delimiter="pipe", formula_escape=False))
    assert encoder.data_cell_within(3)("@us") == "@us"
    assert encoder.data_cell_within(2)(" =1") == " ="


def test_cell_encoder_api() -> None:
    encoder = CellEncoder(FileExportAction(delimiter="pipe"))
    assert encoder.data_cell("=x|y") == '"\'=x|y"'
    assert encoder.header_cell("=x|y") == '"=x|y"'
    assert encoder.data_cell("plain") == "plain"
    assert encoder.data_cell("") == ""


def test_write_encoded_takes_cells_already_through_data_cell() -> None:
    out = io.BytesIO()
    writer = FileWriter(out, FileExportAction(show_headers=False), ["a", "b"])
    writer.write_encoded([writer.encoder.data_cell("=1;2"), writer.encoder.data_cell("x")])
    writer.close()
    assert out.getvalue() == b'"\'=1;2";x\r\n'


# --- encodings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "cell", "expected"),
    [
        ("UTF-8", "€", b"\xc3\xa9;x\r\n\xe2\x82\xac;1\r\n"),
        ("UTF-8-BOM", "€", b"\xef\xbb\xbf\xc3\xa9;x\r\n\xe2\x82\xac;1\r\n"),
        ("ISO-8859-1", "ÿ", b"\xe9;x\r\n\xff;1\r\n"),
        ("WINDOWS-1252", "€", b"\xe9;x\r\n\x80;1\r\n"),
        (
            "UTF-16LE",
            "€",
            b"\xff\xfe" + b"\xe9\x00;\x00x\x00\r\x00\n\x00" + b"\xac\x20;\x001\x00\r\x00\n\x00",
        ),
    ],
)
def test_each_encoding_with_its_byte_order_mark(encoding: str, cell: str, expected: bytes) -> None:
    assert render([[cell, "1"]], headers=["é", "x"], encoding=encoding) == expected


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("UTF-8", b""),
        ("UTF-8-BOM", b"\xef\xbb\xbf"),
        ("ISO-8859-1", b""),
        ("WINDOWS-1252", b""),
        ("UTF-16LE", b"\xff\xfe"),
    ],
)
def test_no_headers_and_no_rows_leaves_only_the_byte_order_mark(encoding: str, expected: bytes) -> None:
    assert render([], encoding=encoding) == expected


def test_no_rows_with_headers_is_the_header_line() -> None:
    assert render([], headers=["a", "b"], encoding="UTF-8-BOM") == b"\xef\xbb\xbfa;b\r\n"


# --- onUnencodable -------------------------------------------------------------------


def test_unencodable_cell_fails_naming_row_column_header_and_character() -> None:
    out = io.BytesIO()
    writer = FileWriter(out, FileExportAction(encoding="ISO-8859-1"), ["id", "name", "city"])
    writer.write_row(["1", "Zoë", "Paris"])
    writer.write_row(["2", "Ann", "Łódź"])
    with pytest.raises(UnencodableCellError) as caught:
        writer.close()
    error = caught.value
    assert (error.row, error.column, error.header, error.char, error.encoding) == (
        2,
        2,
        "city",
        "Ł",
        "ISO-8859-1",
    )
    assert str(error).startswith("row 2, column 3 ('city'): character 'Ł' (U+0141)")
    assert out.getvalue() == b""


@pytest.mark.parametrize(("bad_row", "buffer_rows"), [(4, 2), (5, 2), (1, 1), (7, 3)])
def test_row_number_counts_data_rows_across_chunks(bad_row: int, buffer_rows: int) -> None:
    rows = [[str(n), "ok"] for n in range(1, 8)]
    rows[bad_row - 1] = [str(bad_row), "☃"]
    writer = FileWriter(
        io.BytesIO(), FileExportAction(encoding="WINDOWS-1252"), ["n", "v"], buffer_rows=buffer_rows
    )
    with pytest.raises(UnencodableCellError) as caught:
        for row in rows:
            writer.write_row(row)
        writer.close()
    assert (caught.value.row, caught.value.column, caught.value.header) == (bad_row, 1, "v")


def test_nothing_of_the_failing_chunk_is_written() -> None:
    # Each chunk of two 600 KiB rows passes 1 MiB, so the first chunk is written at once.
    big = 600 * 1024
    rows = [["a" * big], ["b" * big], ["c" * big], ["d☃"]]
    sink = RecordingSink()
    action = FileExportAction(encoding="ISO-8859-1", show_headers=False)
    writer = FileWriter(sink, action, ["v"], buffer_rows=2)
    with pytest.raises(UnencodableCellError) as caught:
        for row in rows:
            writer.write_row(row)
    assert caught.value.row == 4
    written = sink.value()
    assert written == b"a" * big + b"\r\n" + b"b" * (WRITE_CHUNK - big - 2)
    assert b"c" not in written
    # The failure sticks: the file can never be completed.
    with pytest.raises(UnencodableCellError):
        writer.close()
    assert sink.value() == written


def test_unencodable_header_fails_as_row_zero() -> None:
    with pytest.raises(UnencodableCellError) as caught:
        FileWriter(io.BytesIO(), FileExportAction(encoding="WINDOWS-1252"), ["id", "Ville ☃"])
    assert (caught.value.row, caught.value.column, caught.value.header, caught.value.char) == (
        0,
        1,
        "Ville ☃",
        "☃",
    )


def test_unencodable_header_is_not_written_without_header_line() -> None:
    got = render([["1", "x"]], encoding="WINDOWS-1252", show_headers=False)
    assert got == b"1;x\r\n"


def test_lone_surrogate_is_unencodable_in_utf8() -> None:
    writer = FileWriter(io.BytesIO(), FileExportAction(show_headers=False), ["a"])
    writer.write_row(["x\ud800"])
    with pytest.raises(UnencodableCellError) as caught:
        writer.close()
    assert (caught.value.row, caught.value.column, caught.value.char) == (1, 0, "\ud800")


@pytest.mark.parametrize(
    ("encoding", "cell", "expected"),
    [
        ("WINDOWS-1252", "a☃b", b"a?b\r\n"),
        ("ISO-8859-1", "€☃", b"??\r\n"),
        ("UTF-8", "x\ud800y", b"x?y\r\n"),
        ("UTF-8-BOM", "\udc80", b"\xef\xbb\xbf?\r\n"),
        ("UTF-16LE", "x\udc80", b"\xff\xfex\x00?\x00\r\x00\n\x00"),
    ],
)
def test_replace_writes_a_question_mark_per_unencodable_character(
    encoding: str, cell: str, expected: bytes
) -> None:
    assert render([[cell]], encoding=encoding, on_unencodable="replace") == expected


def test_replace_applies_to_headers_too() -> None:
    got = render([["1"]], headers=["☃x"], encoding="WINDOWS-1252", on_unencodable="replace")
    assert got == b"?x\r\n1\r\n"


# --- gzip ----------------------------------------------------------------------------


def test_gzip_decompresses_to_exactly_the_uncompressed_bytes() -> None:
    got = render([["1", "é"], ["2", "=x"]], headers=["a", "b"], compression="gzip", encoding="UTF-8-BOM")
    assert got[:3] == b"\x1f\x8b\x08"  # gzip magic, deflate
    assert got[4:8] == b"\x00\x00\x00\x00"  # mtime 0
    assert gzip.decompress(got) == b"\xef\xbb\xbfa;b\r\n1;\xc3\xa9\r\n2;'=x\r\n"


def test_gzip_of_an_empty_file_is_a_valid_empty_gzip() -> None:
    got = render([], compression="gzip")
    assert gzip.decompress(got) == b""


def test_gzip_is_deterministic_and_round_trips_many_chunks() -> None:
    rows = [[f"row {n}", f"value {n * 7919 % 10007}", "x" * (n % 50)] for n in range(60_000)]
    first = render(rows, headers=["a", "b", "c"], compression="gzip", buffer_rows=700)
    second = render(rows, headers=["a", "b", "c"], compression="gzip")
    assert first == second
    plain = render(rows, headers=["a", "b", "c"])
    assert gzip.decompress(first) == plain
    expected_start = b"a;b;c\r\nrow 0;value 0;\r\nrow 1;value 7919;x\r\n"
    assert plain.startswith(expected_start)


# --- streaming, counters, close ------------------------------------------------------


def test_writes_reach_out_in_one_mib_pieces() -> None:
    sink = RecordingSink()
    writer = FileWriter(sink, FileExportAction(show_headers=False), ["v"], buffer_rows=10)
    line = "z" * 1022  # 1024 bytes with CRLF
    for _ in range(3584):  # 3.5 MiB
        writer.write_row([line])
    assert [len(w) for w in sink.writes] == [MiB, MiB, MiB]  # the half MiB tail is held back
    writer.close()
    assert [len(w) for w in sink.writes] == [MiB, MiB, MiB, MiB // 2]
    assert sink.value() == (line.encode() + b"\r\n") * 3584
    assert writer.bytes_written == 3584 * 1024
    assert writer.rows == 3584


def test_rows_excludes_header_and_bytes_written_counts_what_out_received() -> None:
    for compression in ("none", "gzip"):
        sink = RecordingSink()
        writer = FileWriter(sink, FileExportAction(compression=compression), ["h"])
        for n in range(3):
            writer.write_row([str(n)])
        writer.close()
        assert writer.rows == 3
        assert writer.bytes_written == len(sink.value())


def test_close_is_idempotent_and_later_writes_are_refused() -> None:
    sink = RecordingSink()
    writer = FileWriter(sink, FileExportAction(compression="gzip"), ["h"])
    writer.write_row(["1"])
    writer.close()
    before = sink.value()
    writer.close()
    assert sink.value() == before
    assert gzip.decompress(before) == b"h\r\n1\r\n"
    with pytest.raises(ValueError):
        writer.write_row(["2"])


def test_buffer_size_does_not_change_the_bytes() -> None:
    rows = [[str(n), f"=n{n}", "a;b"] for n in range(25)]
    assert render(rows, headers=["a", "b", "c"], buffer_rows=1) == render(rows, headers=["a", "b", "c"])
