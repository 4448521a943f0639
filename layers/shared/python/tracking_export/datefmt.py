"""Date patterns of spec §3: ``YYYY YY MM DD hh ii ss``, every other character as is.

A pattern is compiled once into a :meth:`str.format` template, so formatting a
cell costs one ``format`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

_TOKENS: dict[str, str] = {
    "YYYY": "{0:04d}",
    "YY": "{1:02d}",
    "MM": "{2:02d}",
    "DD": "{3:02d}",
    "hh": "{4:02d}",
    "ii": "{5:02d}",
    "ss": "{6:02d}",
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


def compile_pattern(pattern: str) -> Callable[[datetime | date], str]:
    """A function that renders a date or datetime with ``pattern``."""
    parts, _ = _tokenize(pattern)
    template = "".join(
        _TOKENS[text] if is_token else text.replace("{", "{{").replace("}", "}}") for is_token, text in parts
    )
    fmt = template.format

    def render(value: datetime | date) -> str:
        if isinstance(value, datetime):
            return fmt(
                value.year, value.year % 100, value.month, value.day, value.hour, value.minute, value.second
            )
        return fmt(value.year, value.year % 100, value.month, value.day, 0, 0, 0)

    return render
