"""DynamoDB items back to JSONL-like records, and the TTL rule for logs (docs/table-design.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tracking_export_aws.aws.dynamo import deserialize, expired, plain_item, serialize

RECORD: dict[str, Any] = {
    "type": "trackingLog",
    "logId": 9001,
    "progression": 37.5,
    "score": None,
    "big": 10**30,
    "negative": -4,
    "flag": False,
    "ids": [1, 2.5],
    "fields": {"cf-1": "Sales", "n": 3},
}


def test_a_stored_record_comes_back_as_it_was_written() -> None:
    item = serialize(RECORD)
    back = deserialize({**item, "pk": {"S": "T#acme#L#2020-02-10#1"}, "sk": {"S": "x"}})
    assert back == RECORD
    assert type(back["logId"]) is int and type(back["progression"]) is float
    assert back["big"] == 10**30  # exact, not through a float


def test_numbers_as_dynamodb_writes_them() -> None:
    # DynamoDB may answer "4.0" or "1E+2" for whole numbers: they are ints, as in JSON.
    got = plain_item({"a": {"N": "4.0"}, "b": {"N": "1E+2"}, "c": {"N": "-0.25"}, "d": {"NS": ["1", "1.5"]}})
    assert got == {"a": 4, "b": 100, "c": -0.25, "d": [1, 1.5]}
    assert type(got["a"]) is int


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("37.5", 37.5),
        ("-0.25", -0.25),
        ("12.50", 12.5),
        ("100.000", 100),  # a whole number, however written, is an int
        ("-0.0", 0),
        ("1.0000000000000000000000000001", 1.0),  # not whole: a float, though it rounds to 1.0
        ("0.1000000000000000055511151231257827", 0.1),
        ("123456789012345678901234567890.5", 1.2345678901234568e29),
        ("2.5E+1", 25.5 - 0.5),
    ],
)
def test_fractions_are_floats_and_whole_numbers_ints(text: str, expected: float) -> None:
    got = plain_item({"n": {"N": text}})["n"]
    assert got == expected
    # The rule written out: an int when the decimal value is whole, else the nearest float.
    number = Decimal(text)
    assert type(got) is (int if number == number.to_integral_value() else float)


def test_every_tag_plain_item_branches_on() -> None:
    # S and N are looked up first; everything else (and signed or fractional numbers) goes the long way.
    item = {
        "s": {"S": ""},
        "n": {"N": "007"},
        "neg": {"N": "-12"},
        "frac": {"N": "80.5"},
        "null": {"NULL": True},
        "no": {"BOOL": False},
        "m": {"M": {"k": {"N": "1"}}},
        "l": {"L": [{"S": "x"}, {"NULL": True}]},
    }
    got = plain_item(item)
    assert got == {
        "s": "",
        "n": 7,
        "neg": -12,
        "frac": 80.5,
        "null": None,
        "no": False,
        "m": {"k": 1},
        "l": ["x", None],
    }
    assert type(got["n"]) is int and type(got["neg"]) is int and type(got["frac"]) is float


def test_key_attributes_are_dropped_unless_asked() -> None:
    item = {"pk": {"S": "p"}, "gsi1sk": {"S": "g"}, "name": {"S": "n"}}
    assert plain_item(item) == {"name": "n"}
    assert plain_item(item, ()) == {"pk": "p", "gsi1sk": "g", "name": "n"}


@pytest.mark.parametrize(
    ("expires_at", "is_expired"),
    [
        (999, True),
        (1000, True),
        (1000.5, False),
        (999.9, True),
        (1001, False),
        (None, False),
        ("999", False),
        (True, False),
    ],
)
def test_a_log_expires_when_its_numeric_expires_at_is_not_after_now(
    expires_at: Any, is_expired: bool
) -> None:
    assert expired(expires_at, 1000.0) is is_expired
