"""Read an export definition, XML or JSON, into one neutral tree of :class:`_Node`.

XML goes through defusedxml with DTDs forbidden: a DOCTYPE (and with it any entity
declaration or external entity) is refused before anything is expanded. Depth and
element counts are capped while reading (``Limits``), before any validation work.
Also :class:`_Report`, which collects every issue of one validation pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ErrorString

from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from tracking_export.errors import DefinitionError, DefinitionIssue
from tracking_export.limits import (
    DEFAULT_LIMITS,
    Limits,
    json_nesting_line,
)

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
        too_deep = json_nesting_line(text, report.limits.max_definition_depth)
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


def _is_json(data: bytes | str) -> bool:
    if isinstance(data, bytes):
        return data.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")
    return data.removeprefix("\ufeff").lstrip().startswith("{")
