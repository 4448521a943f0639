"""Option tables (spec §3 parameters, §4 actions and consolidators) and the structure of
a definition: where each part sits, whatever the form (:class:`_Parts`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, get_args

from tracking_export.definition.reader import _Node, _Report
from tracking_export.definition.values import (
    _INVALID,
    NodeParser,
    _date_pattern,
    _email,
    _file_name,
    _flag,
    _folder,
    _id,
    _list_of,
    _lookup,
    _one_of,
    _optional,
    _plain,
    _report_status,
    _templates,
    _text,
    _text_map,
    _whole,
    _yes_no,
)
from tracking_export.model import (
    DEFAULT_STATUS_TEXT,
    LOG_STATUSES,
    MODALITIES,
    TIME_FRAME_SCALES,
    TRAINING_STATUSES,
    FileExportAction,
    TimeFrameScaleMode,
    TimeGlobalFormat,
)

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
