"""Validation of the parts read: columns, parameters, schedule, actions and
consolidators to the model, with the rules that tie fields together (deltaMode and
time frames, templates and columns, the end file's name) and the caps of ``Limits``.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import PurePath
from typing import Any

from tracking_export import filename
from tracking_export.definition.options import (
    CLEAN_FOLDER_OPTIONS,
    EMAIL_REPORT_OPTIONS,
    END_FILE_OPTIONS,
    FILE_EXPORT_OPTIONS,
    MOVE_TO_FOLDER_OPTIONS,
    PARAMETERS,
    _parse_options,
    _Parts,
    _suggest,
    _values,
)
from tracking_export.definition.reader import _Node, _Report
from tracking_export.definition.values import (
    _TEMPLATE_TOKEN,
    _Invalid,
    _optional,
    _template_problems,
    _text,
    _too_long,
    _yes_no,
)
from tracking_export.limits import (
    cron_problem,
    schedule_interval_problem,
    shown,
    zone_problem,
)
from tracking_export.model import (
    COLUMN_ALIASES,
    COLUMN_NAMES,
    TIME_FRAME_SCALES,
    Column,
    EmailReport,
    ExportDefinition,
    FileExportAction,
    GenerateEndFile,
    MoveToFolder,
    Parameters,
    Schedule,
)

GUID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


_CRON_RE = re.compile(r"^cron\((?P<body>[^()]*)\)$")
_RATE_RE = re.compile(r"^rate\((?P<n>[0-9]{1,6}) (?P<unit>minutes?|hours?|days?)\)$")
_AT_RE = re.compile(r"^at\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\)$")
_SCHEDULE_HINT = (
    "expected cron(minutes hours day-of-month month day-of-week year), "
    "rate(N minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss)"
)


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
