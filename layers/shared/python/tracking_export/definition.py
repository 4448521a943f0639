"""Load an export definition (spec ``export-definition.md``) from XML or JSON.

Both forms are first reduced to one small tree of :class:`_Node` (name as written,
attributes, text, children, path, line). One validator then walks that tree with
tables of option specs, collects *every* problem in a single pass and either builds
:class:`~tracking_export.model.ExportDefinition` or raises
:class:`~tracking_export.errors.DefinitionError` listing them all.

XML goes through defusedxml with DTDs forbidden: a DOCTYPE (and with it any entity
declaration or external entity) is refused before anything is expanded.
The accepted shapes are described in ``docs/definition-format.md``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath
from typing import Any, get_args
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ErrorString

from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from tracking_export import datefmt, filename
from tracking_export.errors import DefinitionError, DefinitionIssue
from tracking_export.limits import (
    DEFAULT_LIMITS,
    Limits,
    cron_problem,
    email_problem,
    schedule_interval_problem,
    shown,
    zone_problem,
)
from tracking_export.model import (
    COLUMN_ALIASES,
    COLUMN_NAMES,
    DEFAULT_STATUS_TEXT,
    LOG_STATUSES,
    MODALITIES,
    TIME_FRAME_SCALES,
    TRAINING_STATUSES,
    Column,
    EmailReport,
    ExportDefinition,
    FileExportAction,
    GenerateEndFile,
    MoveToFolder,
    Parameters,
    Schedule,
    TimeFrameScaleMode,
    TimeGlobalFormat,
)

GUID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_WHOLE_RE = re.compile(r"[+-]?[0-9]+")
_CRON_RE = re.compile(r"^cron\((?P<body>[^()]*)\)$")
_RATE_RE = re.compile(r"^rate\((?P<n>[0-9]{1,6}) (?P<unit>minutes?|hours?|days?)\)$")
_AT_RE = re.compile(r"^at\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\)$")
_SCHEDULE_HINT = (
    "expected cron(minutes hours day-of-month month day-of-week year), "
    "rate(N minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss)"
)
# One token of a template text: an escaped brace, a placeholder, or a stray brace.
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([0-9]+)\}|[{}]")
_YES = frozenset({"yes", "y", "true", "1"})
_NO = frozenset({"no", "n", "false", "0"})
_YES_NO_HINT = "yes or no (also y/n, true/false, 1/0)"


class _Invalid:
    """Returned by a value parser that has already reported its problem."""


_INVALID = _Invalid()


# --------------------------------------------------------------------------- tree


@dataclass
class _Node:
    """An element (XML) or a key (JSON), reduced to what validation needs."""

    name: str  # as written
    path: str  # element path (XML) or JSON pointer
    line: int | None
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: list[_Node] = field(default_factory=list)
    is_json: bool = False

    def attr(self, name: str) -> _Node:
        """The attribute ``name`` as a leaf node, so it is validated like a child element."""
        path = f"{self.path}/{name}" if self.is_json else f"{self.path}/@{name}"
        return _Node(name, path, self.line, text=self.attrs[name], is_json=self.is_json)

    def value_nodes(self) -> list[_Node]:
        """Attributes then child elements: both may carry an option's value."""
        return [self.attr(a) for a in self.attrs] + self.children


# At most this many issues are listed (their count is exact); past it, no suggestions are
# computed either. Each path and message is cut to a readable length: names and values
# in a hostile definition can be a megabyte long.
MAX_LISTED_ISSUES = 100
_MAX_PATH, _MAX_MESSAGE = 300, 1000


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class _Report:
    """Collects issues and warnings during one validation pass, against one set of caps."""

    def __init__(self, source: str, limits: Limits = DEFAULT_LIMITS) -> None:
        self.source = source
        self.limits = limits
        self.issues: list[DefinitionIssue] = []
        self.warnings: list[str] = []

    def error(self, node: _Node, message: str) -> None:
        self.issues.append(_issue(node, message))

    def warn(self, node: _Node, message: str) -> None:
        if len(self.warnings) < MAX_LISTED_ISSUES:
            self.warnings.append(str(_issue(node, message)))

    @property
    def crowded(self) -> bool:
        """Enough issues are listed: skip optional work such as suggestions."""
        return len(self.issues) >= MAX_LISTED_ISSUES

    def fail_if_any(self) -> None:
        if self.issues:
            # Document order for XML; JSON issues (no line) keep the order they were found in.
            ordered = sorted(self.issues, key=lambda i: i.line or 0)
            if len(ordered) > MAX_LISTED_ISSUES:
                more = len(ordered) - MAX_LISTED_ISSUES
                ordered = ordered[:MAX_LISTED_ISSUES]
                ordered.append(DefinitionIssue("/", None, f"… and {more} more error(s) not listed"))
            raise DefinitionError(ordered, source=self.source)


def _issue(node: _Node, message: str) -> DefinitionIssue:
    return DefinitionIssue(_clip(node.path or "/", _MAX_PATH), node.line, _clip(message, _MAX_MESSAGE))


# --------------------------------------------------------------------- XML reading


class _TooDeep(Exception):
    """Raised from inside the XML parser: the nesting passed the cap, stop reading."""


class _TooMany(Exception):
    """Raised from inside the XML parser: the element count passed the cap, stop reading."""


class _LineTreeBuilder:
    """ElementTree parser target that builds :class:`_Node` with each element's line.

    Parsing stops at the first element nested deeper than ``max_depth``: each node keeps
    its path, so an unbounded depth would cost memory quadratic in the file's size.
    """

    def __init__(self, max_depth: int, max_elements: int) -> None:
        self.expat: Any = None
        self.root: _Node | None = None
        self.stack: list[_Node] = []
        self.max_depth = max_depth
        self.elements_left = max_elements

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if len(self.stack) >= self.max_depth:
            raise _TooDeep
        self.elements_left -= 1 + len(attrib)  # attributes are validated like elements
        if self.elements_left < 0:
            raise _TooMany
        parent = self.stack[-1] if self.stack else None
        path = f"{parent.path if parent else ''}/{tag}"
        node = _Node(tag, path, self.expat.CurrentLineNumber, attrs=dict(attrib))
        if parent is None:
            self.root = node
        else:
            parent.children.append(node)
        self.stack.append(node)

    def data(self, text: str) -> None:
        if self.stack:
            self.stack[-1].text += text

    def end(self, tag: str) -> None:
        self.stack.pop()

    def close(self) -> None:
        return None


def _read_xml(data: bytes | str, report: _Report) -> _Node | None:
    builder = _LineTreeBuilder(report.limits.max_definition_depth, report.limits.max_definition_elements)
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.expat = parser.parser

    def here() -> _Node:
        where = builder.stack[-1].path if builder.stack else "/"
        return _Node("", where, builder.expat.CurrentLineNumber)

    try:
        parser.feed(data)
        parser.close()
    except DTDForbidden:
        report.error(
            here(),
            "a DOCTYPE/DTD is not allowed in an export definition; entity declarations "
            "and external entities are refused too",
        )
        return None
    except EntitiesForbidden:
        report.error(here(), "entity declarations are not allowed in an export definition")
        return None
    except ExternalReferenceForbidden:
        report.error(here(), "external entity references are not allowed in an export definition")
        return None
    except _TooMany:
        report.error(
            here(),
            f"the definition has more than {report.limits.max_definition_elements} elements and "
            "attributes (setting MAX_DEFINITION_ELEMENTS)",
        )
        return None
    except _TooDeep:
        report.error(
            here(),
            f"elements are nested more than {report.limits.max_definition_depth} deep here; "
            "a definition needs far fewer levels (setting MAX_DEFINITION_DEPTH)",
        )
        return None
    except ParseError as exc:
        line, column = exc.position
        at = here()
        report.error(
            _Node("", at.path, line),
            f"malformed XML: {ErrorString(exc.code)} (line {line}, column {column + 1})",
        )
        return None
    return builder.root


# -------------------------------------------------------------------- JSON reading


def _pointer(parent: str, key: str | int) -> str:
    return f"{parent}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def _json_value(name: str, value: Any, path: str, report: _Report) -> _Node | None:
    """A JSON value as a node: objects give children, lists give comma-separated text."""
    node = _Node(name, path, None, is_json=True)
    if isinstance(value, dict):
        for key, item in value.items():
            if item is not None:
                child = _json_value(key, item, _pointer(path, key), report)
                if child is not None:
                    node.children.append(child)
        return node
    if isinstance(value, list):
        texts = [_scalar_text(item) for item in value]
        if any(t is None for t in texts):
            report.error(node, "expected a list of strings or numbers")
            return None
        node.text = ", ".join(t for t in texts if t is not None)
        return node
    text = _scalar_text(value)
    if text is None:
        report.error(node, "expected a string, number, boolean, list or object")
        return None
    node.text = text
    return node


_JSON_COLUMN_KEYS = ("name", "label", "value", "templateId", "text")


def _json_columns(value: Any, report: _Report) -> _Node | None:
    node = _Node("columns", "/columns", None, is_json=True)
    if not isinstance(value, list):
        report.error(
            node, 'expected a list of columns: "candidateId" or {"name": "candidateId", "label": ...}'
        )
        return None
    for index, item in enumerate(value):
        path = _pointer(node.path, index)
        if isinstance(item, str):
            node.children.append(_Node(item, path, None, is_json=True))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            report.error(_Node("", path, None), 'a column is a name or an object with a "name" string')
            continue
        column = _Node(item["name"], path, None, is_json=True)
        for key, raw in item.items():
            text = _scalar_text(raw)
            if key == "name" or raw is None:
                continue
            if key not in _JSON_COLUMN_KEYS:
                report.error(
                    _Node(key, _pointer(path, key), None),
                    f"unknown column key {key!r}; allowed: {', '.join(_JSON_COLUMN_KEYS)}",
                )
            elif text is None or isinstance(raw, bool):
                report.error(_Node(key, _pointer(path, key), None), f"{key} must be a string")
            elif key == "text":
                column.text = text
            else:
                column.attrs[key] = text
        node.children.append(column)
    return node


def _json_schedule(value: Any, report: _Report) -> _Node | None:
    node = _Node("schedule", "/schedule", None, is_json=True)
    if isinstance(value, str):
        node.text = value
        return node
    if not isinstance(value, dict):
        report.error(node, 'expected {"expression": "cron(...)", "timezone": "Europe/Paris"} or a string')
        return None
    for key, raw in value.items():
        if key == "expression" and isinstance(raw, str):
            node.text = raw
        elif key == "timezone" and isinstance(raw, str):
            node.attrs["timezone"] = raw
        elif key == "flexibleWindowMinutes" and type(raw) is int:
            node.attrs["flexibleWindowMinutes"] = str(raw)
        elif key == "flexibleWindowMinutes":
            report.error(_Node(key, _pointer(node.path, key), None), f"{key} must be an integer")
        elif key in ("expression", "timezone"):
            report.error(_Node(key, _pointer(node.path, key), None), f"{key} must be a string")
        else:
            report.error(
                _Node(key, _pointer(node.path, key), None),
                f"unknown schedule key {key!r}; allowed: expression, timezone, flexibleWindowMinutes",
            )
    return node


def _json_templates(node: _Node) -> None:
    """``"templates": {"1": "text"}`` becomes ``<template id="1">text</template>`` children."""
    for child in node.children:
        child.attrs = {"id": child.name}
        child.name = "template"


# What the nesting pre-scan looks at: an escape pair (so an escaped quote is skipped),
# a quote, or a bracket. One token at a time keeps the scan linear.
_JSON_NESTING_TOKEN = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def _json_too_deep(text: str, max_depth: int) -> int | None:
    """The line where ``text`` nests arrays/objects deeper than ``max_depth``; None if it
    does not. Checked before parsing, whose recursion a deep document would exhaust."""
    depth = 0
    in_string = False
    for match in _JSON_NESTING_TOKEN.finditer(text):
        token = match.group(0)
        if token == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return text.count("\n", 0, match.start()) + 1
        elif token in ("]", "}"):
            depth -= 1
    return None


def _json_size(value: Any) -> int:
    """Keys and list items in a parsed document (its depth is already bounded)."""
    if isinstance(value, dict):
        return len(value) + sum(_json_size(v) for v in value.values())
    if isinstance(value, list):
        return len(value) + sum(_json_size(v) for v in value)
    return 0


def _read_json(data: bytes | str, report: _Report) -> _Node | None:
    root = _Node("", "", None, is_json=True)
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        too_deep = _json_too_deep(text, report.limits.max_definition_depth)
        if too_deep is not None:
            report.error(
                _Node("", "/", too_deep),
                f"objects and lists are nested more than {report.limits.max_definition_depth} deep "
                "here; a definition needs far fewer levels (setting MAX_DEFINITION_DEPTH)",
            )
            return None
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as exc:
        report.error(root, f"a JSON definition must be UTF-8: {exc.reason} at byte {exc.start}")
        return None
    except json.JSONDecodeError as exc:
        report.error(
            _Node("", "/", exc.lineno), f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        )
        return None
    except ValueError as exc:
        report.error(root, f"malformed JSON: {exc}")
        return None
    if not isinstance(document, dict):
        report.error(root, 'a JSON definition is an object: {"guid": ..., "columns": [...], ...}')
        return None
    if _json_size(document) > report.limits.max_definition_elements:
        report.error(
            _Node("", "/", None),
            f"the definition has more than {report.limits.max_definition_elements} keys and list items "
            "(setting MAX_DEFINITION_ELEMENTS)",
        )
        return None
    for key, value in document.items():
        path = _pointer("", key)
        child: _Node | None
        if value is None:
            continue
        if key == "guid":
            if isinstance(value, str):
                root.attrs["guid"] = value
            else:
                report.error(_Node(key, path, None), "guid must be a string")
            continue
        if key == "columns":
            child = _json_columns(value, report)
        elif key == "schedule":
            child = _json_schedule(value, report)
        else:
            child = _json_value(key, value, path, report)
            if child is not None and key == "parameters":
                for param in child.children:
                    if param.name == "templates":
                        _json_templates(param)
        if child is not None:
            root.children.append(child)
    return root


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


def _check_fixed_row_text(
    columns: list[tuple[Column, _Node]], templates: dict[str, str], where: _Node, report: _Report
) -> None:
    """Refuse a definition whose constants and templates alone print too much per row."""
    constant = [
        len(c.value if c.value is not None else c.text) if c.name == "constantValue" else 0
        for c, _ in columns
    ]
    total = sum(constant)
    for column, _ in columns:
        if column.name != "templatedValue":
            continue
        for match in _TEMPLATE_TOKEN.finditer(templates.get(column.template_id or "", "")):
            index = match.group(1)
            if index is not None and len(index) <= 6 and int(index) < len(constant):
                total += constant[int(index)]
        total += len(_TEMPLATE_TOKEN.sub("", templates.get(column.template_id or "", "")))
    if total > report.limits.max_fixed_row_text:
        report.error(
            where,
            f"constants and templates print {total} characters on every row, whatever the data; "
            f"at most {report.limits.max_fixed_row_text} are allowed (setting MAX_FIXED_ROW_TEXT)",
        )


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


# ---------------------------------------------------------------- option tables


@dataclass(frozen=True)
class _Opt:
    """One option (a parameter, or an action's setting): element name, aliases, model field."""

    name: str
    target: str  # the model field
    parse: NodeParser
    aliases: tuple[str, ...] = ()


def _literal_values(model: type[Any], name: str) -> tuple[str, ...]:
    return get_args(model.model_fields[name].annotation)


_TRAINING_STATUS_CODE = _lookup(
    {key.lower(): code for code, name in TRAINING_STATUSES.items() for key in (code, name)},
    "C, P, A (or underConstruction, published, archived)",
)

# Spec §3, in its order. Aliases are the seed's names where they differ.
PARAMETERS: tuple[_Opt, ...] = (
    _Opt("dateFormat", "date_format", _text(_date_pattern)),
    _Opt("dateTimeFormat", "date_time_format", _text(_date_pattern)),
    _Opt("entityIds", "entity_ids", _text(_list_of(_id))),
    _Opt("modality", "modality", _text(_optional(_one_of(MODALITIES)))),
    _Opt("onlyFromImportedRegistrations", "only_from_imported_registrations", _text(_yes_no)),
    _Opt("onlyFromImportedSessions", "only_from_imported_sessions", _text(_yes_no)),
    _Opt("onlyFromImportedTraining", "only_from_imported_training", _text(_yes_no)),
    _Opt("preferredLocales", "preferred_locales", _text(_list_of(_plain)), ("contentPreferredLocales",)),
    _Opt("publishers", "publishers", _text(_list_of(_plain))),
    _Opt("reportStatus", "report_status", _report_status, ("contentReportStatus",)),
    _Opt("statusFormat", "status_format", _text_map({s: s for s in LOG_STATUSES}, DEFAULT_STATUS_TEXT)),
    _Opt("timeFrames", "time_frames", _text(_whole(0)), ("contentTimeFrames",)),
    _Opt(
        "timeFramesScale", "time_frames_scale", _text(_one_of(TIME_FRAME_SCALES)), ("contentTimeFramesScale",)
    ),
    _Opt(
        "timeFrameScaleMode",
        "time_frame_scale_mode",
        _text(_one_of(get_args(TimeFrameScaleMode))),
        ("contentTimeFrameScaleMode",),
    ),
    _Opt(
        "timeGlobalFormat",
        "time_global_format",
        _text(_one_of(get_args(TimeGlobalFormat))),
        ("contentTimeGlobalFormat",),
    ),
    _Opt("trainingGuid", "training_guid", _text(_optional(_plain))),
    _Opt("trainingPathCode", "training_path_code", _text(_optional(_plain))),
    _Opt("trainingStatus", "training_status", _text(_list_of(_TRAINING_STATUS_CODE, frozenset))),
    _Opt("trainingPublishers", "training_publishers", _text(_list_of(_plain))),
    _Opt(
        "trainingStatusFormat",
        "training_status_format",
        _text_map(
            {**{name: code for code, name in TRAINING_STATUSES.items()}, **{c: c for c in TRAINING_STATUSES}},
            TRAINING_STATUSES,
        ),
    ),
    _Opt("trainingModalityFormat", "training_modality_format", _text(_list_of(_one_of(MODALITIES)))),
    _Opt("sessionTitle", "session_title", _text(_optional(_plain)), ("completeSessionTitle",)),
    _Opt("sessionGuid", "session_guid", _text(_optional(_plain))),
    _Opt("withoutLaunchTime", "without_launch_time", _text(_yes_no)),
    _Opt("deltaMode", "delta_mode", _text(_yes_no)),
    _Opt("ancestorsWithCurrent", "ancestors_with_current", _text(_yes_no)),
    _Opt("learnersSmartGroups", "learners_smart_groups", _text(_list_of(_id))),
    _Opt("catalogVisibility", "catalog_visibility", _text(_yes_no)),
    _Opt("templates", "templates", _templates),
    _Opt("onlyHrisSelectedItems", "only_hris_selected_items", _text(_flag)),
    _Opt("stripHTML", "strip_html", _text(_flag)),
    _Opt("maxLength", "max_length", _text(_whole(1))),
)


def _file_choice(name: str, fld: str) -> _Opt:
    return _Opt(name, fld, _text(_one_of(_literal_values(FileExportAction, fld))))


FILE_EXPORT_OPTIONS: tuple[_Opt, ...] = (
    _file_choice("format", "format"),
    _file_choice("encoding", "encoding"),
    _file_choice("delimiter", "delimiter"),
    _Opt("showHeaders", "show_headers", _text(_yes_no)),
    _file_choice("decimal", "decimal"),
    _file_choice("compression", "compression"),
    _Opt("formulaEscape", "formula_escape", _text(_yes_no)),
    _file_choice("onUnencodable", "on_unencodable"),
)
MOVE_TO_FOLDER_OPTIONS: tuple[_Opt, ...] = (
    _Opt("fileName", "file_name", _text(_file_name)),
    _Opt("folderPath", "folder_path", _text(_folder)),
    _Opt("deleteEmptyFiles", "delete_empty_files", _text(_yes_no)),
)
EMAIL_REPORT_OPTIONS: tuple[_Opt, ...] = (
    _Opt("targetEmail", "target_emails", _text(_list_of(_email))),
    _Opt("includeDownloadLink", "include_download_link", _text(_yes_no)),
)
END_FILE_OPTIONS: tuple[_Opt, ...] = (
    _Opt("fileName", "file_name", _text(_file_name)),
    _Opt("fileContent", "file_content", _text(_plain, strip=False)),
)
CLEAN_FOLDER_OPTIONS: tuple[_Opt, ...] = (_Opt("cleanOlderThan", "clean_older_than_days", _text(_whole(1))),)


def _suggest(name: str, candidates: Iterable[str], report: _Report) -> str:
    # difflib's cost grows with the name's length: long names get no suggestion.
    if len(name) > 64 or report.crowded:
        return ""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse_options(
    container: _Node, specs: Sequence[_Opt], report: _Report, *, what: str, allowed: str | None = None
) -> dict[str, tuple[Any, _Node]]:
    """Parse a container's option children (or attributes): model field -> (value, node).

    Unknown and repeated options are reported; an invalid value is reported by its parser
    and kept as ``_INVALID``, so that cross-checks still see that the option was written.
    """
    by_name = {name: spec for spec in specs for name in (spec.name, *spec.aliases)}
    allowed = allowed or ", ".join(spec.name for spec in specs)
    if container.text.strip():
        report.error(container, f"<{container.name}> takes child elements ({allowed}), not text")
    found: dict[str, tuple[Any, _Node]] = {}
    seen: dict[str, _Node] = {}
    for node in container.value_nodes():
        spec = by_name.get(node.name)
        if spec is None:
            hint = _suggest(node.name, by_name, report)
            report.error(node, f"unknown {what} {node.name!r}{hint}; allowed: {allowed}")
            continue
        if spec.target in seen:
            first = seen[spec.target]
            report.error(node, f"{spec.name} is given twice (first as {first.name!r} on line {first.line})")
            continue
        seen[spec.target] = node
        found[spec.target] = (spec.parse(node, report), node)
    return found


def _values(found: dict[str, tuple[Any, _Node]]) -> dict[str, Any]:
    """The valid, set values, as model keyword arguments."""
    return {fld: value for fld, (value, _) in found.items() if value is not None and value is not _INVALID}


# ------------------------------------------------------------------ structure


def _pick(
    parent: _Node,
    allowed: Sequence[str],
    report: _Report,
    *,
    required: Sequence[str] = (),
    attrs: Sequence[str] = (),
) -> dict[str, _Node]:
    """Children of a container element, each at most once; unknown ones are reported."""
    picked: dict[str, _Node] = {}
    kind = "key" if parent.is_json else "element"
    for attr in parent.attrs:
        if attr not in attrs:
            shown = ", ".join(attrs) if attrs else "none"
            report.error(
                parent.attr(attr), f"unknown attribute {attr!r} on <{parent.name}>; allowed: {shown}"
            )
    if parent.text.strip():
        report.error(parent, f"{_tag(parent)} takes child {kind}s ({', '.join(allowed)}), not text")
    for child in parent.children:
        if child.name not in allowed:
            hint = _suggest(child.name, allowed, report)
            report.error(child, f"unknown {kind} {_tag(child)}{hint}; allowed here: {', '.join(allowed)}")
        elif child.name in picked:
            first = picked[child.name]
            report.error(
                child, f"<{child.name}> appears twice (first on line {first.line}); only one is allowed"
            )
        else:
            picked[child.name] = child
    for name in required:
        if name not in picked:
            needed = f'"{name}"' if parent.is_json else f"a <{name}> element"
            report.error(parent, f"{_tag(parent)} needs {needed}")
    return picked


def _tag(node: _Node) -> str:
    """How a node is named in messages: ``<name>`` in XML, ``"name"`` in JSON."""
    if not node.is_json:
        return f"<{node.name}>"
    return f'"{node.name}"' if node.name else "the definition"


@dataclass
class _Parts:
    """Where each part of a definition sits, whatever the form."""

    guid: str | None = None  # None: not given
    guid_node: _Node | None = None
    guid_is_file_name: bool = False
    schedule: _Node | None = None
    columns: _Node | None = None
    parameters: _Node | None = None
    sections: dict[str, _Node] = field(default_factory=dict)  # fileExportAction, moveToFolder, …


_CONSOLIDATORS = ("moveToFolder", "emailReport", "generateEndFile", "archive", "cleanFolder")
_JSON_KEYS = ("guid", "schedule", "columns", "parameters", "fileExportAction", *_CONSOLIDATORS)


def _provider_parts(providers: _Node, parts: _Parts, report: _Report) -> None:
    provider = _pick(providers, ("trackingLogProvider",), report, required=("trackingLogProvider",))
    if "trackingLogProvider" in provider:
        inner = _pick(
            provider["trackingLogProvider"], ("columns", "parameters"), report, required=("columns",)
        )
        parts.columns = inner.get("columns")
        parts.parameters = inner.get("parameters")


def _xml_parts(root: _Node, name: str, report: _Report) -> _Parts:
    parts = _Parts()
    if root.name == "providers":
        parts.guid, parts.guid_node, parts.guid_is_file_name = PurePath(name).stem, root, True
        _provider_parts(root, parts, report)
        return parts
    if root.name != "export-config":
        report.error(root, f"unknown root element <{root.name}>; expected <export-config> or <providers>")
        return parts
    exports = _pick(root, ("export",), report, required=("export",))
    if "export" not in exports:
        return parts
    export = exports["export"]
    children = _pick(
        export,
        ("schedule", "providers", "actions", "consolidators"),
        report,
        required=("providers",),
        attrs=("guid",),
    )
    if "guid" in export.attrs:
        parts.guid, parts.guid_node = export.attrs["guid"], export.attr("guid")
    parts.schedule = children.get("schedule")
    if "providers" in children:
        _provider_parts(children["providers"], parts, report)
    if "actions" in children:
        parts.sections.update(_pick(children["actions"], ("fileExportAction",), report))
    if "consolidators" in children:
        parts.sections.update(_pick(children["consolidators"], _CONSOLIDATORS, report))
    return parts


def _json_parts(root: _Node, report: _Report) -> _Parts:
    parts = _Parts()
    children = _pick(root, _JSON_KEYS, report, required=("columns",), attrs=("guid",))
    if "guid" in root.attrs:
        parts.guid, parts.guid_node = root.attrs["guid"], root.attr("guid")
    parts.schedule = children.pop("schedule", None)
    parts.columns = children.pop("columns", None)
    parts.parameters = children.pop("parameters", None)
    parts.sections = children
    return parts


# ---------------------------------------------------------------- validation


def _columns(node: _Node, report: _Report) -> list[tuple[Column, _Node]]:
    """The valid columns, in document order, each with its node (for later messages)."""
    columns: list[tuple[Column, _Node]] = []
    if node.attrs or node.text.strip():
        report.error(node, "<columns> holds one element per column, nothing else")
    if not node.children:
        report.error(node, "the definition has no columns; add at least one column (spec §2)")
    limits = report.limits
    if len(node.children) > limits.max_columns:
        report.error(
            node,
            f"the definition has {len(node.children)} columns; at most {limits.max_columns} are allowed "
            "(setting MAX_COLUMNS)",
        )
    for child in node.children:
        for text_name, text_node in (("label", "label"), ("value", "value")):
            if len(child.attrs.get(text_node, "")) > limits.max_text_length:
                report.error(child.attr(text_node), _too_long(f"the {text_name}", limits.max_text_length))
        if len(child.text) > limits.max_text_length:
            report.error(child, _too_long(f"the text of <{child.name}>", limits.max_text_length))
        name = child.name if child.name in COLUMN_NAMES else COLUMN_ALIASES.get(child.name)
        if name is None:
            hint = _suggest(child.name, (*COLUMN_NAMES, *COLUMN_ALIASES), report)
            report.error(
                child,
                f"unknown column <{child.name}>{hint}; allowed: the column names of spec §2 "
                "(reportId, candidateId, trainingTitle, status, timeGlobal, constantValue, …)",
            )
            continue
        allowed_attrs = ["label"]
        if name == "constantValue":
            allowed_attrs.append("value")
        if name == "templatedValue":
            allowed_attrs.append("templateId")
        for attr in child.attrs:
            if attr not in allowed_attrs:
                shown = ", ".join(allowed_attrs)
                report.error(
                    child.attr(attr), f"attribute {attr!r} is not allowed on <{child.name}>; allowed: {shown}"
                )
        if child.children:
            report.error(child.children[0], f"a column takes no child elements (in <{child.name}>)")
        text = child.text
        if name == "candidateCustomFieldGuid":
            text = text.strip()
            if not text:
                report.warn(
                    child, "candidateCustomFieldGuid names no custom field GUID; its cells will be empty"
                )
        elif name != "constantValue":
            if text.strip():
                report.error(
                    child,
                    f"<{child.name}> takes no text (only constantValue and candidateCustomFieldGuid do)",
                )
            text = ""
        template_id = child.attrs.get("templateId")
        if name == "templatedValue" and not (template_id or "").strip():
            report.error(
                child, 'templatedValue needs a templateId attribute naming a template: templateId="1"'
            )
        label = child.attrs.get("label")
        column = Column(
            name=name,
            label=label,
            header=label if label is not None else child.name,
            text=text,
            value=child.attrs.get("value"),
            template_id=template_id.strip() if template_id is not None else None,
            line=child.line,
        )
        columns.append((column, child))
    return columns


def _too_long(what: str, limit: int) -> str:
    return f"{what} is longer than {limit} characters (setting MAX_TEXT_LENGTH)"


def _parameters(
    node: _Node | None, parts: _Parts, columns: list[tuple[Column, _Node]], column_count: int, report: _Report
) -> Parameters:
    found = (
        _parse_options(node, PARAMETERS, report, what="parameter", allowed="the parameters of spec §3")
        if node is not None
        else {}
    )
    values = _values(found)

    def given(fld: str) -> _Node | None:
        return found[fld][1] if fld in found and found[fld][0] is not None else None

    delta, frames, scale = given("delta_mode"), given("time_frames"), given("time_frames_scale")
    if delta is not None and values.get("delta_mode"):
        if frames is not None or scale is not None:
            other = scale or frames
            assert other is not None
            report.error(
                delta,
                f"deltaMode yes cannot be combined with a time frame ({other.name} on line {other.line}): "
                "deltaMode already chooses the days to export; remove one of them",
            )
        if parts.guid is None:
            report.error(
                delta,
                'deltaMode yes needs the export\'s guid attribute (<export guid="...">, or "guid" in JSON): '
                "the run history that moves the delta window is kept per export guid",
            )
    if frames is not None and scale is None:
        report.error(frames, f"timeFrames needs timeFramesScale (one of {', '.join(TIME_FRAME_SCALES)})")
    n, scale_name = values.get("time_frames"), values.get("time_frames_scale")
    if frames is not None and n is not None and scale_name is not None:
        largest, setting = report.limits.time_frame_max(scale_name)
        if n > largest:
            report.error(
                frames, f"timeFrames {n} is out of range for {scale_name}: 0..{largest} (setting {setting})"
            )
    if scale is not None and frames is None:
        report.error(scale, "timeFramesScale needs timeFrames (a whole number ≥ 0)")

    templates: dict[str, str] = values.get("templates", {})
    templates_node = given("templates")
    for child in templates_node.children if templates_node is not None else ():
        problems = _template_problems(child.text, column_count, report.limits)
        if problems:
            report.error(child, "; ".join(problems))
    if parts.columns is not None:
        _check_fixed_row_text(columns, templates, parts.columns, report)
    for column, column_node in columns:
        if column.template_id and column.template_id not in templates:
            known = ", ".join(repr(t) for t in templates) or "none defined"
            report.error(
                column_node,
                f"templateId {column.template_id!r} names no template in <templates> (known: {known})",
            )
    return Parameters(**values)


def _guid(parts: _Parts, name: str, report: _Report) -> tuple[str, bool]:
    if parts.guid is not None:
        if not GUID_RE.fullmatch(parts.guid):
            where = parts.guid_node or _Node("", "/", None)
            source = "the file name without extension" if parts.guid_is_file_name else "the guid"
            report.error(
                where,
                f"the export's id ({source}) is {shown(parts.guid)}; it must match {GUID_RE.pattern} "
                "(letters, digits, '.', '_', '-', at most 128, starting with a letter or digit)",
            )
        return parts.guid, True
    # No guid given: a stable id derived from the file name (never used for deltaMode).
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "-", PurePath(name).stem).lstrip("._-")[:128]
    return fallback or "export", False


MAX_FLEXIBLE_WINDOW_MINUTES = 1440  # EventBridge Scheduler's limit


def _schedule(node: _Node, report: _Report) -> Schedule | None:
    for attr in node.attrs:
        if attr not in ("timezone", "flexibleWindowMinutes"):
            report.error(
                node.attr(attr),
                f"unknown attribute {attr!r} on <schedule>; allowed: timezone, flexibleWindowMinutes",
            )
    if node.children:
        report.error(node.children[0], "<schedule> takes an expression as text, not child elements")
    expression = node.text.strip()
    ok = _schedule_ok(expression)
    if not ok:
        report.error(node, f"bad schedule {shown(expression)}: {_SCHEDULE_HINT}")
    elif problem := cron_problem(expression):
        report.error(node, f"bad schedule {shown(expression)}: {problem}")
        ok = False
    elif problem := schedule_interval_problem(expression, report.limits.min_schedule_interval_minutes):
        report.error(node, f"schedule {shown(expression)} {problem} (setting MIN_SCHEDULE_INTERVAL_MINUTES)")
        ok = False
    timezone = node.attrs.get("timezone")
    if timezone is not None:
        timezone = timezone.strip()
        if problem := zone_problem(timezone):
            report.error(node.attr("timezone"), f"unknown time zone {shown(timezone)}; {problem}")
    window = _flexible_window(node, report)
    if not ok:
        return None
    return Schedule(expression=expression, timezone=timezone or None, flexible_window_minutes=window)


def _flexible_window(node: _Node, report: _Report) -> int | None:
    """``flexibleWindowMinutes``: 0 (off) to 1440; absent -> the tenant's default."""
    raw = node.attrs.get("flexibleWindowMinutes")
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 4 or int(text) > MAX_FLEXIBLE_WINDOW_MINUTES:
        report.error(
            node.attr("flexibleWindowMinutes"),
            f"flexibleWindowMinutes must be a whole number of minutes from 0 (off) to "
            f"{MAX_FLEXIBLE_WINDOW_MINUTES}, got {shown(raw)}",
        )
        return None
    return int(text)


def _schedule_ok(expression: str) -> bool:
    if cron := _CRON_RE.fullmatch(expression):
        return len(cron["body"].split()) == 6
    if rate := _RATE_RE.fullmatch(expression):
        return int(rate["n"]) > 0 and (rate["unit"].endswith("s") != (rate["n"] == "1"))
    if not _AT_RE.fullmatch(expression):
        return False
    try:
        datetime.fromisoformat(expression[3:-1])
    except ValueError:
        return False
    return True


def _sections(parts: _Parts, report: _Report) -> dict[str, Any]:
    """The actions and consolidators, as ExportDefinition keyword arguments."""
    sections = parts.sections
    result: dict[str, Any] = {}
    if "fileExportAction" in sections:
        found = _parse_options(sections["fileExportAction"], FILE_EXPORT_OPTIONS, report, what="option")
        values = _values(found)
        # The delimiter follows the format unless given (spec §4: tabulation for TSV).
        values.setdefault("delimiter", "tabulation" if values.get("format") == "TSV" else "semicolon")
        result["file_action"] = FileExportAction(**values)
    limits = report.limits
    if "moveToFolder" in sections:
        found = _parse_options(sections["moveToFolder"], MOVE_TO_FOLDER_OPTIONS, report, what="option")
        _check_length(found, "file_name", limits.max_file_name_length, "MAX_FILE_NAME_LENGTH", report)
        _check_length(found, "folder_path", limits.max_folder_path_length, "MAX_FOLDER_PATH_LENGTH", report)
        result["move_to_folder"] = MoveToFolder(**_values(found), file_name_given="file_name" in found)
    if "emailReport" in sections:
        found = _parse_options(sections["emailReport"], EMAIL_REPORT_OPTIONS, report, what="option")
        emails, emails_node = found.get("target_emails", (None, None))
        if emails_node is not None and isinstance(emails, tuple) and len(emails) > limits.max_recipients:
            report.error(
                emails_node,
                f"targetEmail lists {len(emails)} addresses; at most {limits.max_recipients} are allowed "
                "(setting MAX_RECIPIENTS)",
            )
        result["email_report"] = EmailReport(**_values(found))
    if "generateEndFile" in sections:
        node = sections["generateEndFile"]
        values = _values(found := _parse_options(node, END_FILE_OPTIONS, report, what="option"))
        _check_length(found, "file_name", limits.max_file_name_length, "MAX_FILE_NAME_LENGTH", report)
        content, content_node = found.get("file_content", (None, None))
        if isinstance(content, str) and content_node is not None:
            size = len(content.encode("utf-8", "surrogatepass"))
            if size > limits.max_end_file_bytes:
                report.error(
                    content_node,
                    f"fileContent is {size} bytes; an end file holds at most {limits.max_end_file_bytes} "
                    "(setting MAX_END_FILE_BYTES)",
                )
        if "file_name" in values:
            result["generate_end_file"] = GenerateEndFile(**values)
        elif "file_name" not in found:
            report.error(node, "<generateEndFile> needs a <fileName> (a file name pattern, spec §4)")
    if "archive" in sections:
        archive = _text(_optional(_yes_no))(sections["archive"], report)
        if not isinstance(archive, _Invalid):
            result["archive"] = archive is not False
    if "cleanFolder" in sections:
        node = sections["cleanFolder"]
        values = _values(found := _parse_options(node, CLEAN_FOLDER_OPTIONS, report, what="option"))
        if "clean_older_than_days" in values:
            result["clean_older_than_days"] = values["clean_older_than_days"]
        elif "clean_older_than_days" not in found:
            report.error(node, "<cleanFolder> needs <cleanOlderThan> (days, a whole number ≥ 1)")
    return result


def _check_length(
    found: dict[str, tuple[Any, _Node]], fld: str, limit: int, setting: str, report: _Report
) -> None:
    value, node = found.get(fld, (None, None))
    if isinstance(value, str) and node is not None and len(value) > limit:
        report.error(node, f"{node.name} is longer than {limit} characters (setting {setting})")


# Two run times and numbers that differ in every token: a pattern that renders like the
# export's own name at both always does.
_SAMPLE_RUNS = ((datetime(2026, 1, 2, 3, 4, 5), 1), (datetime(2037, 11, 12, 13, 14, 15), 22))


def _check_end_file_name(sections: dict[str, Any], parts: _Parts, guid: str, report: _Report) -> None:
    """The end file may not take the export file's name: it would replace the export."""
    end: GenerateEndFile | None = sections.get("generate_end_file")
    if end is None:
        return
    move = sections.get("move_to_folder", MoveToFolder())
    action = sections.get("file_action", FileExportAction())
    same = all(
        filename.render_end_file_name(end, t, n, guid) == filename.render_file_name(move, action, t, n, guid)
        for t, n in _SAMPLE_RUNS
    )
    if same:
        node = parts.sections["generateEndFile"]
        where = next((c for c in node.value_nodes() if c.name == "fileName"), node)
        report.error(
            where,
            "the end file's name is the export file's own name; the end file would replace the export "
            "(choose another fileName, such as the export's name with .done)",
        )


def _validate(parts: _Parts, name: str, report: _Report) -> ExportDefinition:
    guid, guid_given = _guid(parts, name, report)
    schedule = _schedule(parts.schedule, report) if parts.schedule is not None else None
    columns = _columns(parts.columns, report) if parts.columns is not None else []
    # Placeholders count every column element, known or not: indexes follow document order.
    column_count = len(parts.columns.children) if parts.columns is not None else 0
    parameters = _parameters(parts.parameters, parts, columns, column_count, report)
    sections = _sections(parts, report)
    _check_end_file_name(sections, parts, guid, report)
    report.fail_if_any()
    return ExportDefinition(
        guid=guid,
        guid_given=guid_given,
        schedule=schedule,
        columns=tuple(column for column, _ in columns),
        parameters=parameters,
        warnings=tuple(report.warnings),
        **sections,
    )


def _is_json(data: bytes | str) -> bool:
    if isinstance(data, bytes):
        return data.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")
    return data.removeprefix("\ufeff").lstrip().startswith("{")


def load_definition(
    data: bytes | str, *, name: str = "definition.xml", limits: Limits = DEFAULT_LIMITS
) -> ExportDefinition:
    """Parse and validate an export definition, XML or JSON (first non-blank character ``{``).

    ``name`` is the file name: in the bare ``<providers>`` form its stem is the export's
    guid, and it names the source in error messages. ``limits`` are the caps it must keep
    to (docs/limits.md). Raises :class:`~tracking_export.errors.DefinitionError` listing
    every problem found.
    """
    report = _Report(name, limits)
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > limits.max_definition_bytes:
        report.error(
            _Node("", "/", None),
            f"the definition is {size} bytes; at most {limits.max_definition_bytes} are allowed "
            "(setting MAX_DEFINITION_BYTES)",
        )
        report.fail_if_any()
    if _is_json(data):
        root = _read_json(data, report)
        parts = _json_parts(root, report) if root is not None else None
    else:
        xml_root = _read_xml(data, report)
        parts = _xml_parts(xml_root, name, report) if xml_root is not None else None
    if parts is None:
        report.fail_if_any()
        raise AssertionError("a definition that cannot be read always has an issue")  # pragma: no cover
    return _validate(parts, name, report)
