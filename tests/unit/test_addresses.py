"""tracking_export.addresses: the check of notification addresses (issue 11).

Limits from RFC 5321 §4.5.3.1: local part ≤ 64, domain ≤ 255, whole address ≤ 254
characters; at most 50 addresses (one SES message). Expected reasons are the ones
docs/email.md lists.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tracking_export.addresses import (
    MAX_ADDRESSES,
    AddressError,
    address_problem,
    validate_address,
    validate_addresses,
)


@pytest.mark.parametrize(
    "address",
    [
        "ops@acme.example",
        "first.last+exports@mail.acme.example",
        "o'brien@acme.example",
        "a!#$%&'*+/=?^_`{|}~-z@acme.example",
        "x@xn--bcher-kva.example",  # an internationalised domain in its ASCII form
        "x@a-b.c0",
        "a" * 64 + "@example.com",
        "x@" + ".".join(["a" * 63] * 3) + "." + "b" * 60,  # 254 characters in all
    ],
)
def test_valid_addresses(address: str) -> None:
    assert address_problem(address) is None
    assert validate_address(address) == address


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("", "empty address"),
        ("ops.acme.example", "no '@'"),
        ("a@b@acme.example", "more than one '@'"),
        ("@acme.example", "local part: empty"),
        ("a" * 65 + "@example.com", "local part: longer than 64 characters (65)"),
        (".ops@acme.example", "local part: a dot must stand between other characters"),
        ("ops.@acme.example", "local part: a dot must stand between other characters"),
        ("o..ps@acme.example", "local part: a dot must stand between other characters"),
        ('"o p"@acme.example', "local part: character '\"' is not allowed"),
        ("o p@acme.example", "local part: character ' ' is not allowed"),
        ("opé@acme.example", "local part: character 'é' is not allowed"),
        ("ops@", "domain: empty"),
        ("ops@localhost", "domain: 'localhost' has a single label (name@example.com)"),
        ("ops@acme..example", "domain: empty label (two dots, or a dot at an end)"),
        ("ops@acme.example.", "domain: empty label (two dots, or a dot at an end)"),
        ("ops@-acme.example", "domain: label '-acme' starts or ends with '-'"),
        ("ops@acme-.example", "domain: label 'acme-' starts or ends with '-'"),
        ("ops@" + "a" * 64 + ".example", "domain: label longer than 63 characters"),
        (
            "ops@bücher.example",
            "domain: character 'ü' is not allowed (internationalised names in their xn-- form)",
        ),
        (
            "ops@[192.0.2.1]",
            "domain: character '[' is not allowed (internationalised names in their xn-- form)",
        ),
        ("ops@192.0.2.1", "domain: top-level label '1' is all digits"),
        # A header injection attempt: the CR is the first character that is not allowed.
        (
            "ops@acme.example\r\nBcc:evil",
            "domain: character '\\r' is not allowed (internationalised names in their xn-- form)",
        ),
        ("x@" + ".".join(["a" * 63] * 3) + "." + "b" * 61, "longer than 254 characters (255)"),
    ],
)
def test_invalid_addresses_say_why(address: str, reason: str) -> None:
    assert address_problem(address) == reason
    with pytest.raises(AddressError, match="is not an e-mail address: "):
        validate_address(address)


def test_validate_address_trims_blanks_and_shows_a_short_value() -> None:
    assert validate_address("  ops@acme.example\t") == "ops@acme.example"
    with pytest.raises(AddressError) as raised:
        validate_address("x" * 10_000)
    message = str(raised.value)
    assert len(message) < 200 and "longer than 254 characters (10000)" in message


def test_validate_addresses_dedupes_case_insensitively_and_names_the_position() -> None:
    assert validate_addresses(["A@acme.example", "b@acme.example", "a@ACME.example"]) == [
        "A@acme.example",
        "b@acme.example",
    ]
    with pytest.raises(AddressError, match=r"^address 3: 'nope' is not an e-mail address: no '@'$"):
        validate_addresses(["a@acme.example", "b@acme.example", "nope"])


def test_more_addresses_than_the_cap_is_an_error() -> None:
    fifty = [f"u{n}@acme.example" for n in range(MAX_ADDRESSES)]
    assert len(validate_addresses(fifty)) == 50
    assert len(validate_addresses([*fifty, "U0@acme.example"])) == 50  # a duplicate is not one more
    with pytest.raises(AddressError, match="more than 50 addresses"):
        validate_addresses([*fifty, "extra@acme.example"])
    with pytest.raises(AddressError, match="more than 2 addresses"):
        validate_addresses(["a@x.example", "b@x.example", "c@x.example"], max_count=2)


def test_an_endless_list_stops_at_the_first_address_past_the_cap() -> None:
    read = 0

    def endless() -> Iterator[str]:
        nonlocal read
        while True:
            read += 1
            yield f"u{read}@acme.example"

    with pytest.raises(AddressError):
        validate_addresses(endless(), max_count=5)
    assert read == 6


def test_a_huge_value_is_refused_on_its_length_before_any_scan() -> None:
    # Shapes that make backtracking patterns explode: the length check answers first.
    for text in ["a" * 1_000_000 + "@", "a." * 500_000 + "@x", "@" + "a-" * 500_000, "a@" + "a." * 500_000]:
        assert address_problem(text) == f"longer than 254 characters ({len(text)})"
