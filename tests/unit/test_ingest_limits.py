"""What a tracking file may hold (docs/limits.md, "Tracking files"): DynamoDB's own rules for an
item, checked before anything is written, and the reader's bounds on any file.

Sizes are worked out by hand from DynamoDB's "item sizes and formats" page: a string its
UTF-8 bytes, a number one byte plus one per pair of significant digits (paired from the
decimal point, plus one when negative), a boolean or null one byte, a list or map three
bytes plus, per element, one byte and the element's size (and key).
"""

from __future__ import annotations

import gzip
import zlib
from decimal import Decimal
from typing import Any

import pytest

from tracking_export_aws.aws.dynamo import (
    MAX_ITEM_BYTES,
    NESTED_RULE,
    UnstorableValueError,
    item_size,
    item_size_problem,
    serialize,
)
from tracking_export_aws.ingest.loader import RejectedRecord, parse_line
from tracking_export_aws.ingest.reader import (
    Gunzip,
    Refused,
    content_problem,
    numbered_lines,
    peek,
    read_range,
)

NUMBER = "holds a number DynamoDB cannot store"


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("abc", 3),
        ("é€😀", 2 + 3 + 4),
        (7, 2),
        (12, 2),  # one pair
        (123, 3),  # "01" "23"
        (Decimal("1.2"), 3),  # "01" "20": the pairs are aligned on the decimal point
        (Decimal("0.5"), 2),  # "50"
        (-7, 3),
        (10**40, 2),  # trailing zeros are not stored digits
        (0, 1),
        (True, 1),
        (None, 1),
        ([], 3),
        ([7, "ab"], 3 + (1 + 2) + (1 + 2)),
        ({"k": False}, 3 + 1 + 1 + 1),
    ],
)
def test_a_value_is_counted_as_dynamodb_counts_it(value: Any, size: int) -> None:
    assert item_size({"v": value}) == {"v": 1 + size}


def test_an_item_may_be_400_kb_and_not_a_byte_more() -> None:
    # pk "x": 2 + 1; the text attribute "v": 1 + its length.
    exactly = {"pk": "x", "v": "y" * (MAX_ITEM_BYTES - 3 - 1)}
    assert item_size_problem(exactly) is None
    over = {"pk": "x", "v": "y" * (MAX_ITEM_BYTES - 3)}
    assert item_size_problem(over) == (
        "v",
        "makes the item 409601 bytes; DynamoDB stores at most 409600 bytes (400 KB) an item",
    )


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (Decimal("1E+126"), f"{NUMBER}: its magnitude is above 9.9999999999999999999999999999999999999E+125"),
        (
            Decimal("-1E+126"),
            f"{NUMBER}: its magnitude is above 9.9999999999999999999999999999999999999E+125",
        ),
        (Decimal("1E-131"), f"{NUMBER}: its magnitude is below 1E-130"),
        (Decimal("-1E-131"), f"{NUMBER}: its magnitude is below 1E-130"),
        (1e200, f"{NUMBER}: its magnitude is above 9.9999999999999999999999999999999999999E+125"),
        (10**126, f"{NUMBER}: its magnitude is above 9.9999999999999999999999999999999999999E+125"),
        (
            Decimal("1.0000000000000000000000000000000000000001"),
            f"{NUMBER}: it has more than 38 significant digits",
        ),
        (123456789012345678901234567890123456789, f"{NUMBER}: it has more than 38 significant digits"),
        (Decimal("NaN"), f"{NUMBER}: it is not a finite number"),
        (float("inf"), f"{NUMBER}: it is not a finite number"),
    ],
)
def test_a_number_outside_dynamodbs_range_is_refused_in_both_directions(value: Any, rule: str) -> None:
    for measure in (serialize, item_size):
        with pytest.raises(UnstorableValueError) as info:
            measure({"ok": 1, "score": value})
        assert (info.value.field, info.value.rule) == ("score", rule)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("9.9999999999999999999999999999999999999E+125"),
        Decimal("-9.9999999999999999999999999999999999999E+125"),
        Decimal("1E-130"),
        Decimal("-1E-130"),
        Decimal("0"),
        10**38,  # one significant digit
        12345678901234567890123456789012345678,  # 38 digits
    ],
)
def test_numbers_within_dynamodbs_range_are_stored_as_written(value: Any) -> None:
    assert serialize({"score": value}) == {"score": {"N": str(value)}}


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_lists_and_maps_nest_32_deep_at_most() -> None:
    assert serialize({"deep": nested(32)})["deep"]["L"][0]["L"]
    assert item_size({"deep": nested(32)})
    for measure in (serialize, item_size):
        with pytest.raises(UnstorableValueError) as info:
            measure({"deep": {"a": nested(32)}})
        assert (info.value.field, info.value.rule) == ("deep", NESTED_RULE)


@pytest.mark.parametrize("record", [{"name": "\ud800"}, {"name": {"\udfff": 1}}, {"\ud800": 1}])
def test_text_utf8_cannot_encode_is_refused(record: dict[str, Any]) -> None:
    for measure in (serialize, item_size):
        with pytest.raises(UnstorableValueError, match="a lone surrogate"):
            measure(record)


def test_a_line_keeps_its_numbers_exact_and_names_what_it_cannot_read() -> None:
    assert parse_line(1, b'{"type":"entity","score":1e-400,"p":37.50}') == {
        "type": "entity",
        "score": Decimal("1e-400"),  # a float would be 0.0: stored silently as 0
        "p": Decimal("37.50"),
    }
    assert parse_line(2, b'{"type":"entity","score":NaN}')["score"].is_nan()  # type: ignore[index]
    deep = b'{"type":"entity","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert parse_line(3, deep) == RejectedRecord(3, None, None, None, NESTED_RULE)
    assert parse_line(4, b'{"type":"entity","x":' + b"9" * 5000 + b"}") == RejectedRecord(
        4, None, None, None, "is not JSON this service reads (an integer of more than 4300 digits)"
    )


# --- the reader -----------------------------------------------------------------------------


def pieces(data: bytes, size: int = 3) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_range_is_whole_lines_within_its_budget_and_always_its_first_line() -> None:
    data = b"aaaa\nbb\ncccccc\nd"
    first = read_range(pieces(data), budget=8, max_line=100)
    assert (first.data, first.lines, first.consumed, first.done) == (b"aaaa\nbb\n", 2, 8, False)
    second = read_range(pieces(data[8:]), budget=3, max_line=100)  # one line over the budget: taken
    assert (second.data, second.lines, second.consumed, second.done) == (b"cccccc\n", 1, 7, False)
    last = read_range(pieces(data[15:]), budget=3, max_line=100)  # no newline at the end
    assert (last.data, last.lines, last.consumed, last.done) == (b"d\n", 1, 1, True)


def test_a_line_over_the_cap_is_read_past_never_held() -> None:
    data = b"ok\n" + b"x" * 50 + b"\nok\n"
    chunk = read_range(pieces(data, 7), budget=1000, max_line=10)
    assert (chunk.data, chunk.lines, chunk.too_long, chunk.consumed) == (b"ok\n\nok\n", 3, [2], len(data))
    assert list(numbered_lines(chunk.data, 10, {12})) == [(11, b"ok"), (12, b""), (13, b"ok")]


def test_gzip_members_are_read_one_after_the_other_and_zero_padding_is_allowed() -> None:
    data = gzip.compress(b"a\nb\n") + gzip.compress(b"c\n") + b"\x00" * 8
    chunk = read_range(Gunzip(10**9, 200).chunks(pieces(data, 5)), budget=100, max_line=10)
    assert (chunk.data, chunk.done, chunk.refused) == (b"a\nb\nc\n", True, None)


def damaged(reason_start: str, data: bytes, lines: bytes) -> None:
    chunk = read_range(Gunzip(10**9, 200).chunks(pieces(data, 5)), budget=1000, max_line=100)
    assert chunk.data == lines
    assert chunk.refused is not None and chunk.refused.startswith(reason_start), chunk.refused


def test_damaged_gzip_keeps_the_lines_before_the_damage() -> None:
    good = gzip.compress(b"a\nb\n")
    damaged(
        "the gzip data ends before its end (a truncated upload?) after line 2", good + good[:12], b"a\nb\n"
    )
    broken = bytearray(gzip.compress(b"c\nd\n"))
    broken[10] = 0x07  # a reserved deflate block type
    damaged("the gzip data is corrupt (invalid block type) after line 2", good + bytes(broken), b"a\nb\n")
    damaged("the gzip data is followed by bytes that are not gzip after line 2", good + b"junk", b"a\nb\n")


def test_gzip_is_capped_by_its_decompressed_size_and_its_ratio() -> None:
    data = gzip.compress(b"line\n" * 100)
    capped = read_range(Gunzip(12, 200).chunks([data]), budget=1000, max_line=100)
    assert (capped.data, capped.lines) == (b"line\nline\n", 2)
    assert capped.refused is not None
    cap = "the gzip data is over 12 bytes once decompressed (setting INGEST_MAX_DECOMPRESSED_BYTES)"
    assert capped.refused.startswith(f"{cap} after line 2")
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    packed = bomb.compress(bytes(8 * 1024 * 1024)) + bomb.flush()
    refused = read_range(Gunzip(10**12, 200).chunks([packed]), budget=10**9, max_line=1024)
    assert refused.refused is not None
    assert refused.refused.startswith(
        "the gzip data expands more than 200 times (setting INGEST_MAX_COMPRESSION_RATIO)"
    )


@pytest.mark.parametrize(
    ("start", "problem"),
    [
        (b"\xff\xfe{\x00", "the file is UTF-16 text; tracking files are UTF-8"),
        (b"\xfe\xff\x00{", "the file is UTF-16 text; tracking files are UTF-8"),
        (b"\xff\xfe\x00\x00", "the file is UTF-32 text; tracking files are UTF-8"),
        (b"PK\x03\x04", "the file is a zip archive; tracking files are JSONL, plain or gzip-compressed"),
        (b"BZh9", "the file is bzip2 data; tracking files are JSONL, plain or gzip-compressed"),
        (b'{"ty', None),
        (b"\xef\xbb\xbf{", None),
    ],
)
def test_files_that_are_not_utf8_jsonl_are_named(start: bytes, problem: str | None) -> None:
    assert content_problem(start) == problem


def test_peek_gives_the_first_bytes_and_the_whole_stream_back() -> None:
    head, stream = peek(iter([b"ab", b"cd", b"ef"]), 3)
    assert (head, b"".join(stream)) == (b"abc", b"abcdef")


def test_a_refusal_says_why_without_content() -> None:
    assert str(Refused("the file is UTF-16 text")) == "the file is UTF-16 text"
