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
from pathlib import PurePath
from typing import Any, get_args
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ErrorString
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from defusedxml.common import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

from tracking_export import datefmt, filename
from tracking_export.errors import DefinitionError, DefinitionIssue
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
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_WHOLE_RE = re.compile(r"[+-]?[0-9]+")
_CRON_RE = re.compile(r"^cron\((?P<body>[^()]*)\)$")
_RATE_RE = re.compile(r"^rate\((?P<n>[0-9]+) (?P<unit>minutes?|hours?|days?)\)$")
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


class _Report:
    """Collects issues and warnings during one validation pass."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[DefinitionIssue] = []
        self.warnings: list[str] = []

    def error(self, node: _Node, message: str) -> None:
        self.issues.append(DefinitionIssue(node.path or "/", node.line, message))

    def warn(self, node: _Node, message: str) -> None:
        self.warnings.append(str(DefinitionIssue(node.path or "/", node.line, message)))

    def fail_if_any(self) -> None:
        if self.issues:
            # Document order for XML; JSON issues (no line) keep the order they were found in.
            ordered = sorted(self.issues, key=lambda i: i.line or 0)
            raise DefinitionError(ordered, source=self.source)


# --------------------------------------------------------------------- XML reading


class _LineTreeBuilder:
    """ElementTree parser target that builds :class:`_Node` with each element's line."""

    def __init__(self) -> None:
        self.expat: Any = None
        self.root: _Node | None = None
        self.stack: list[_Node] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
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
    builder = _LineTreeBuilder()
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


def _read_json(data: bytes | str, report: _Report) -> _Node | None:
    root = _Node("", "", None, is_json=True)
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
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
    raise _Bad(f"expected {_YES_NO_HINT}, got {text!r}")


def _flag(text: str) -> bool:
    """``non-empty`` parameters: any text means yes, except an explicit no word."""
    return bool(text) and text.lower() not in _NO


def _whole(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not _WHOLE_RE.fullmatch(text) or int(text) < minimum:
            raise _Bad(f"expected a whole number ≥ {minimum}, got {text!r}")
        return int(text)

    return parse


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _lookup(table: dict[str, str], shown: str) -> Callable[[str], str]:
    """Case-insensitive lookup of ``text`` in ``table`` (lowercase key -> canonical value)."""

    def parse(text: str) -> str:
        found = table.get(text.lower())
        if found is None:
            raise _Bad(f"{text!r} is not allowed; expected {shown}")
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
    """A comma-separated list; every bad item is named in one message. Empty -> None."""

    def parse_list(text: str) -> Any:
        values, problems = [], []
        for item in _items(text):
            try:
                values.append(parse(item))
            except _Bad as exc:
                problems.append(str(exc))
        if problems:
            raise _Bad("; ".join(problems))
        return kind(values) if values else None

    return parse_list


def _id(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise _Bad(f"{text!r} is not an id; ids are whole numbers")
    return int(text)


def _plain(text: str) -> str:
    return text


def _date_pattern(text: str) -> str:
    problems = datefmt.pattern_problems(text)
    if problems:
        raise _Bad(f"bad date pattern {text!r}: " + "; ".join(problems))
    return text


def _file_name(text: str) -> str:
    problems = filename.pattern_problems(text)
    if problems:
        raise _Bad(f"bad file name pattern {text!r}: " + "; ".join(problems))
    return text


def _folder(text: str) -> str:
    problems = filename.folder_problems(text)
    if problems:
        raise _Bad(f"bad folderPath {text!r}: " + "; ".join(problems))
    return text


def _email(text: str) -> str:
    if not _EMAIL_RE.fullmatch(text):
        raise _Bad(f"{text!r} is not an e-mail address (name@example.com)")
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


def _template_problems(text: str, column_count: int) -> list[str]:
    problems = []
    for match in _TEMPLATE_TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            problems.append(
                f"stray {token!r} at position {match.start() + 1}; write {{{{ or }}}} for a brace, "
                "{n} for the text of column n"
            )
        elif int(match.group(1)) >= column_count:
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


def _suggest(name: str, candidates: Iterable[str]) -> str:
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
            hint = _suggest(node.name, by_name)
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
            hint = _suggest(child.name, allowed)
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
    for child in node.children:
        name = child.name if child.name in COLUMN_NAMES else COLUMN_ALIASES.get(child.name)
        if name is None:
            hint = _suggest(child.name, (*COLUMN_NAMES, *COLUMN_ALIASES))
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
    if scale is not None and frames is None:
        report.error(scale, "timeFramesScale needs timeFrames (a whole number ≥ 0)")

    templates: dict[str, str] = values.get("templates", {})
    templates_node = given("templates")
    for child in templates_node.children if templates_node is not None else ():
        problems = _template_problems(child.text, column_count)
        if problems:
            report.error(child, "; ".join(problems))
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
                f"the export's id ({source}) is {parts.guid!r}; it must match {GUID_RE.pattern} "
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
        report.error(node, f"bad schedule {expression!r}: {_SCHEDULE_HINT}")
    timezone = node.attrs.get("timezone")
    if timezone is not None:
        timezone = timezone.strip()
        if not _zone_ok(timezone):
            report.error(
                node.attr("timezone"),
                f"unknown time zone {timezone!r}; expected an IANA name such as Europe/Paris",
            )
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
    if not text.isdigit() or int(text) > MAX_FLEXIBLE_WINDOW_MINUTES:
        report.error(
            node.attr("flexibleWindowMinutes"),
            f"flexibleWindowMinutes must be a whole number of minutes from 0 (off) to "
            f"{MAX_FLEXIBLE_WINDOW_MINUTES}, got {raw!r}",
        )
        return None
    return int(text)


def _schedule_ok(expression: str) -> bool:
    if cron := _CRON_RE.fullmatch(expression):
        return len(cron["body"].split()) == 6
    if rate := _RATE_RE.fullmatch(expression):
        return int(rate["n"]) > 0 and (rate["unit"].endswith("s") != (rate["n"] == "1"))
    return bool(_AT_RE.fullmatch(expression))


def _zone_ok(name: str) -> bool:
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
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
    if "moveToFolder" in sections:
        found = _parse_options(sections["moveToFolder"], MOVE_TO_FOLDER_OPTIONS, report, what="option")
        result["move_to_folder"] = MoveToFolder(**_values(found), file_name_given="file_name" in found)
    if "emailReport" in sections:
        found = _parse_options(sections["emailReport"], EMAIL_REPORT_OPTIONS, report, what="option")
        result["email_report"] = EmailReport(**_values(found))
    if "generateEndFile" in sections:
        node = sections["generateEndFile"]
        values = _values(found := _parse_options(node, END_FILE_OPTIONS, report, what="option"))
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


def _validate(parts: _Parts, name: str, report: _Report) -> ExportDefinition:
    guid, guid_given = _guid(parts, name, report)
    schedule = _schedule(parts.schedule, report) if parts.schedule is not None else None
    columns = _columns(parts.columns, report) if parts.columns is not None else []
    # Placeholders count every column element, known or not: indexes follow document order.
    column_count = len(parts.columns.children) if parts.columns is not None else 0
    parameters = _parameters(parts.parameters, parts, columns, column_count, report)
    sections = _sections(parts, report)
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


def load_definition(data: bytes | str, *, name: str = "definition.xml") -> ExportDefinition:
    """Parse and validate an export definition, XML or JSON (first non-blank character ``{``).

    ``name`` is the file name: in the bare ``<providers>`` form its stem is the export's
    guid, and it names the source in error messages. Raises
    :class:`~tracking_export.errors.DefinitionError` listing every problem found.
    """
    report = _Report(name)
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
