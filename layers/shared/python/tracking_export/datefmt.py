"""Date patterns of spec §3: ``YYYY YY MM DD hh ii ss``, every other character as is.

A pattern is compiled once into a ``%`` template, so formatting a cell costs one
``%`` operation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from operator import attrgetter
from typing import Any

# Token -> (%-format spec, datetime field); YY is the year modulo 100.
_SPECS: dict[str, str] = {
    "YYYY": "%04d",
    "YY": "%02d",
    "MM": "%02d",
    "DD": "%02d",
    "hh": "%02d",
    "ii": "%02d",
    "ss": "%02d",
}
_FIELDS: dict[str, str] = {
    "YYYY": "year",
    "YY": "year",
    "MM": "month",
    "DD": "day",
    "hh": "hour",
    "ii": "minute",
    "ss": "second",
}
_ORDER = ("YYYY", "YY", "MM", "DD", "hh", "ii", "ss")
# Letters that only make sense as part of a token: left over, they are a typo
# ("YYY", "M") that would otherwise print silently wrong dates.
_TOKEN_LETTERS = frozenset("YMDhis")
# Other conventions' tokens (yyyy, dd, mm, HH, SS) are refused for the same reason.
_FOREIGN_RUNS = ("yy", "dd", "mm", "HH", "SS")


def _tokenize(pattern: str) -> tuple[list[tuple[bool, str]], list[str]]:
    parts: list[tuple[bool, str]] = []
    problems: list[str] = []
    i = 0
    while i < len(pattern):
        for token in _ORDER:
            if pattern.startswith(token, i):
                parts.append((True, token))
                i += len(token)
                break
        else:
            ch = pattern[i]
            if ch in _TOKEN_LETTERS:
                problems.append(f"stray {ch!r} at position {i + 1} (tokens are YYYY YY MM DD hh ii ss)")
            parts.append((False, ch))
            i += 1
    for run in _FOREIGN_RUNS:
        if run in pattern:
            problems.append(f"{run!r} is not a token (tokens are YYYY YY MM DD hh ii ss)")
    if not any(is_token for is_token, _ in parts):
        problems.append("the pattern has no token (YYYY YY MM DD hh ii ss)")
    return parts, problems


def pattern_problems(pattern: str) -> list[str]:
    """What is wrong with a date pattern; empty when it is valid."""
    if not pattern:
        return ["the pattern is empty"]
    return _tokenize(pattern)[1]


def pattern_shape(pattern: str) -> tuple[bool, str]:
    """Whether ``pattern`` starts with a token (its text then starts with a digit), and its
    literal characters: every other character of the text it renders is a digit."""
    parts, _ = _tokenize(pattern)
    return bool(parts) and parts[0][0], "".join(text for is_token, text in parts if not is_token)


def datetime_template(pattern: str) -> tuple[str, Callable[[datetime], Any]] | None:
    """``(template, fields)`` with ``template % fields(value)`` equal to ``compile_pattern(
    pattern)(value)`` for a datetime, for code that inlines the formatting; None for a
    pattern with ``YY`` (or no token), which needs :func:`compile_pattern`."""
    parts, _ = _tokenize(pattern)
    tokens = [text for is_token, text in parts if is_token]
    if not tokens or "YY" in tokens:
        return None
    template = "".join(_SPECS[text] if is_token else text.replace("%", "%%") for is_token, text in parts)
    return template, attrgetter(*(_FIELDS[token] for token in tokens))


def compile_pattern(pattern: str) -> Callable[[datetime | date], str]:
    """A function that renders a date or datetime with ``pattern``.

    One ``%`` formatting of the value's fields (read by one ``attrgetter`` call): several
    times cheaper than ``str.format`` or ``strftime``, and dates are formatted per row.
    """
    parts, _ = _tokenize(pattern)
    template = "".join(_SPECS[text] if is_token else text.replace("%", "%%") for is_token, text in parts)
    tokens = [text for is_token, text in parts if is_token]
    if not tokens:  # refused by pattern_problems; kept total for direct callers
        constant = template % ()
        return lambda _: constant
    short_years = [i for i, token in enumerate(tokens) if token == "YY"]
    fields = attrgetter(*(_FIELDS[token] for token in tokens))
    single = len(tokens) == 1

    def render(value: datetime | date) -> str:
        values: Any = fields(value if isinstance(value, datetime) else _midnight(value))
        if single:
            values = (values,)
        if short_years:
            values = list(values)
            for i in short_years:
                values[i] %= 100
            values = tuple(values)
        return template % values

    return render


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)
