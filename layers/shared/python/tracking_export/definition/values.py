"""Value parsers: the text of one option (yes/no, lists, whole numbers, ids, date and
file name patterns, e-mail addresses, templates…) to a model value, or a clear issue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from tracking_export import datefmt, filename
from tracking_export.definition.reader import _Node, _Report
from tracking_export.limits import (
    Limits,
    email_problem,
    shown,
)
from tracking_export.model import (
    LOG_STATUSES,
)

_WHOLE_RE = re.compile(r"[+-]?[0-9]+")


# One token of a template text: an escaped brace, a placeholder, or a stray brace.
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([0-9]+)\}|[{}]")
_YES = frozenset({"yes", "y", "true", "1"})
_NO = frozenset({"no", "n", "false", "0"})
_YES_NO_HINT = "yes or no (also y/n, true/false, 1/0)"


class _Invalid:
    """Returned by a value parser that has already reported its problem."""


_INVALID = _Invalid()


# ------------------------------------------------------------------ value parsers

NodeParser = Callable[[_Node, _Report], Any]


class _Bad(ValueError):
    """A text value is wrong; the message says what is allowed."""


def _text(parse: Callable[[str], Any], *, strip: bool = True) -> NodeParser:
    """A node parser for a plain value (no attributes, no child elements)."""

    def parse_node(node: _Node, report: _Report) -> Any:
        if node.children or node.attrs:
            report.error(node, f"<{node.name}> takes a plain value, not attributes or child elements")
            return _INVALID
        try:
            return parse(node.text.strip() if strip else node.text)
        except _Bad as exc:
            report.error(node, str(exc))
            return _INVALID

    return parse_node


def _yes_no(text: str) -> bool:
    low = text.lower()
    if low in _YES:
        return True
    if low in _NO:
        return False
    raise _Bad(f"expected {_YES_NO_HINT}, got {shown(text)}")


def _flag(text: str) -> bool:
    """``non-empty`` parameters: any text means yes, except an explicit no word."""
    return bool(text) and text.lower() not in _NO


def _whole(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        # Eighteen digits are far beyond any cap and keep int() away from huge texts.
        if not _WHOLE_RE.fullmatch(text) or len(text) > 18 or int(text) < minimum:
            raise _Bad(f"expected a whole number ≥ {minimum}, got {shown(text)}")
        return int(text)

    return parse


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _lookup(table: dict[str, str], choices: str) -> Callable[[str], str]:
    """Case-insensitive lookup of ``text`` in ``table`` (lowercase key -> canonical value)."""

    def parse(text: str) -> str:
        found = table.get(text.lower())
        if found is None:
            raise _Bad(f"{shown(text)} is not allowed; expected {choices}")
        return found

    return parse


def _one_of(values: Iterable[str]) -> Callable[[str], str]:
    values = tuple(values)
    return _lookup({v.lower(): v for v in values}, "one of " + ", ".join(values))


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """Empty means "not set" (no filter)."""
    return lambda text: parse(text) if text else None


def _list_of(
    parse: Callable[[str], Any], kind: Callable[[Iterable[Any]], Any] = tuple
) -> Callable[[str], Any]:
    """A comma-separated list; the first ten bad items are named in one message, the rest
    counted. Empty -> None."""

    def parse_list(text: str) -> Any:
        values: list[Any] = []
        problems: list[str] = []
        bad = 0
        for item in _items(text):
            try:
                values.append(parse(item))
            except _Bad as exc:
                bad += 1
                if len(problems) < 10:
                    problems.append(str(exc))
        if problems:
            more = f"; and {bad - len(problems)} more bad item(s)" if bad > len(problems) else ""
            raise _Bad("; ".join(problems) + more)
        return kind(values) if values else None

    return parse_list


def _id(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise _Bad(f"{shown(text)} is not an id; ids are whole numbers (at most 18 digits)")
    return int(text)


def _plain(text: str) -> str:
    return text


def _date_pattern(text: str) -> str:
    problems = datefmt.pattern_problems(text)
    if problems:
        raise _Bad(f"bad date pattern {shown(text)}: " + "; ".join(problems))
    return text


def _file_name(text: str) -> str:
    problems = filename.pattern_problems(text)
    if problems:
        raise _Bad(f"bad file name pattern {shown(text)}: " + "; ".join(problems))
    return text


def _folder(text: str) -> str:
    problems = filename.folder_problems(text)
    if problems:
        raise _Bad(f"bad folderPath {shown(text)}: " + "; ".join(problems))
    return text


def _email(text: str) -> str:
    problem = email_problem(text)
    if problem is not None:
        raise _Bad(f"{shown(text)} is not an e-mail address (name@example.com): {problem}")
    return text


def _report_status(node: _Node, report: _Report) -> Any:
    """``<reportStatus><completed/>…`` (or a comma list) -> frozenset of log statuses; empty -> None."""
    ok = True
    statuses: set[str] = set()
    mentioned = False
    status = _lookup({s.lower(): s for s in LOG_STATUSES}, "one of " + ", ".join(LOG_STATUSES))
    if node.attrs:
        report.error(node, "<reportStatus> takes no attributes")
        ok = False
    try:
        listed = _list_of(status)(node.text.strip()) or ()
    except _Bad as exc:
        report.error(node, str(exc))
        listed, ok = (), False
    statuses.update(listed)
    mentioned = bool(listed)
    for child in node.children:
        if child.name not in LOG_STATUSES:
            report.error(child, f"unknown status <{child.name}>; allowed: {', '.join(LOG_STATUSES)}")
            ok = False
            continue
        mentioned = True
        included = _text(_optional(_yes_no))(child, report)
        if included is _INVALID:
            ok = False
        elif included is not False:
            statuses.add(child.name)
    if not ok:
        return _INVALID
    return frozenset(statuses) if mentioned else None


def _text_map(keys: dict[str, str], defaults: dict[str, str]) -> NodeParser:
    """Children ``<name>text</name>`` -> ``{keys[name]: text}`` merged over ``defaults``."""
    allowed = ", ".join(keys)

    def parse(node: _Node, report: _Report) -> Any:
        result = dict(defaults)
        seen: dict[str, _Node] = {}
        ok = True
        if node.text.strip():
            report.error(node, f"<{node.name}> takes child elements ({allowed}), not text")
            ok = False
        for child in node.value_nodes():
            key = keys.get(child.name)
            if key is None:
                report.error(child, f"unknown <{child.name}> in <{node.name}>; allowed: {allowed}")
                ok = False
            elif key in seen:
                report.error(child, f"<{child.name}> is given twice (first on line {seen[key].line})")
                ok = False
            else:
                seen[key] = child
                value = _text(_plain, strip=False)(child, report)
                if value is _INVALID:
                    ok = False
                else:
                    result[key] = value
        return result if ok else _INVALID

    return parse


def _templates(node: _Node, report: _Report) -> Any:
    """``<template id="1">text</template>`` children -> ``{"1": "text"}``."""
    # The valid templates are returned even when others are wrong, so that columns naming
    # them are not reported as well; any reported issue fails the whole definition anyway.
    result: dict[str, str] = {}
    lines: dict[str, int | None] = {}
    if node.text.strip() or node.attrs:
        report.error(node, '<templates> holds <template id="...">text</template> elements only')
    for child in node.children:
        if child.name != "template":
            report.error(child, f'unknown <{child.name}> in <templates>; allowed: <template id="...">')
            continue
        extra = [a for a in child.attrs if a != "id"]
        template_id = child.attrs.get("id", "").strip()
        if extra or child.children:
            report.error(
                child, '<template> takes only an id attribute and text: <template id="1">…</template>'
            )
        elif not template_id:
            report.error(child, '<template> needs a non-empty id attribute: <template id="1">…</template>')
        elif template_id in result:
            report.error(
                child, f"template id {template_id!r} is given twice (first on line {lines[template_id]})"
            )
        else:
            result[template_id] = child.text
            lines[template_id] = child.line
    return result


def _template_problems(text: str, column_count: int, limits: Limits) -> list[str]:
    if len(text) > limits.max_text_length:
        return [_too_long("the template", limits.max_text_length)]
    problems = []
    placeholders = 0
    for match in _TEMPLATE_TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            problems.append(
                f"stray {token!r} at position {match.start() + 1}; write {{{{ or }}}} for a brace, "
                "{n} for the text of column n"
            )
        elif (placeholders := placeholders + 1) > limits.max_template_placeholders:
            return [
                f"the template has more than {limits.max_template_placeholders} placeholders "
                "(setting MAX_TEMPLATE_PLACEHOLDERS)"
            ]
        elif len(match.group(1)) > 6 or int(match.group(1)) >= column_count:
            allowed = f"{{0}}..{{{column_count - 1}}}" if column_count else "none"
            problems.append(
                f"placeholder {token} is out of range: the definition has {column_count} column(s), "
                f"counted from 0 in document order (allowed: {allowed})"
            )
    return problems


def _too_long(what: str, limit: int) -> str:
    return f"{what} is longer than {limit} characters (setting MAX_TEXT_LENGTH)"
