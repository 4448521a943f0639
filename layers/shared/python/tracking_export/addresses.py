"""E-mail addresses of notification recipients: one check, linear in the input, no AWS.

What is accepted is the common, deliverable subset of RFC 5321/5322 that Amazon SES
sends to: ``local@domain`` with

- a dot-atom local part (letters, digits and ``!#$%&'*+/=?^_`{|}~-``, dots only between
  other characters), at most 64 characters (RFC 5321 §4.5.3.1.1);
- a domain name of at least two labels, each 1–63 letters, digits or hyphens and not
  starting or ending with a hyphen, the last one not all digits, at most 255 characters
  (§4.5.3.1.2); internationalised domains in their ASCII (``xn--``) form;
- at most 254 characters in all (the longest address a ``Path`` of 256 can carry).

Quoted local parts, address literals (``user@[192.0.2.1]``), comments, display names and
non-ASCII characters are refused: they are legal in some RFC but SES or common mail
servers refuse or mangle them, and a notification address is typed by an operator who
can always write the plain form. Every check walks the text a fixed number of times:
no regular expression with backtracking, so a hostile 10 MB "address" costs 10 MB of
scanning, never more.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
MAX_ADDRESS = 254
MAX_LABEL = 63
# Amazon SES takes at most 50 recipients per message; one message goes to all of them.
MAX_ADDRESSES = 50

_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-.")
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


class AddressError(ValueError):
    """An address, or a list of them, that cannot be used; the message says what is wrong."""


def address_problem(text: str) -> str | None:
    """Why ``text`` is not a usable e-mail address, or None if it is one."""
    if not isinstance(text, str):
        return f"expected text, got {type(text).__name__}"
    if text == "":
        return "empty address"
    if len(text) > MAX_ADDRESS:
        return f"longer than {MAX_ADDRESS} characters ({len(text)})"
    at = text.find("@")
    if at < 0:
        return "no '@'"
    if text.find("@", at + 1) >= 0:
        return "more than one '@'"
    local, domain = text[:at], text[at + 1 :]
    problem = _local_problem(local)
    if problem is not None:
        return f"local part: {problem}"
    problem = _domain_problem(domain)
    if problem is not None:
        return f"domain: {problem}"
    return None


def _local_problem(local: str) -> str | None:
    if local == "":
        return "empty"
    if len(local) > MAX_LOCAL_PART:
        return f"longer than {MAX_LOCAL_PART} characters ({len(local)})"
    bad = next((c for c in local if c not in _LOCAL_CHARS), None)
    if bad is not None:
        return f"character {bad!r} is not allowed"
    if local[0] == "." or local[-1] == "." or ".." in local:
        return "a dot must stand between other characters"
    return None


def _domain_problem(domain: str) -> str | None:
    if domain == "":
        return "empty"
    if len(domain) > MAX_DOMAIN:
        return f"longer than {MAX_DOMAIN} characters ({len(domain)})"
    labels = domain.split(".")
    if len(labels) < 2:
        return f"{domain!r} has a single label (name@example.com)"
    for label in labels:
        if label == "":
            return "empty label (two dots, or a dot at an end)"
        if len(label) > MAX_LABEL:
            return f"label longer than {MAX_LABEL} characters"
        bad = next((c for c in label if c not in _LABEL_CHARS), None)
        if bad is not None:
            return f"character {bad!r} is not allowed (internationalised names in their xn-- form)"
        if label[0] == "-" or label[-1] == "-":
            return f"label {label!r} starts or ends with '-'"
    if labels[-1].isdigit():
        return f"top-level label {labels[-1]!r} is all digits"
    return None


def validate_address(text: str) -> str:
    """``text`` with surrounding blanks removed, if it is a usable address; else AddressError."""
    candidate = text.strip() if isinstance(text, str) else text
    problem = address_problem(candidate)
    if problem is not None:
        raise AddressError(f"{_shown(text)} is not an e-mail address: {problem}")
    return candidate


def validate_addresses(items: Iterable[str], *, max_count: int = MAX_ADDRESSES) -> list[str]:
    """Each address checked, duplicates dropped (compared case-insensitively), order kept.

    Raises AddressError naming the position (from 1) and the reason of the first bad
    address, or the count when there are more than ``max_count`` distinct addresses. The
    input is read at most up to the first address past the cap, so an endless list stops.
    """
    seen: set[str] = set()
    result: list[str] = []
    for position, item in enumerate(items, start=1):
        try:
            address = validate_address(item)
        except AddressError as exc:
            raise AddressError(f"address {position}: {exc}") from None
        key = address.lower()
        if key in seen:
            continue
        if len(result) == max_count:
            raise AddressError(f"more than {max_count} addresses (the limit of one e-mail)")
        seen.add(key)
        result.append(address)
    return result


def _shown(text: object) -> str:
    """The start of a bad value, for an error message that stays short."""
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."
