"""Row rendering: the column table of spec §2 and the cell formats of spec §3.

Columns are data: :data:`COLUMNS` maps each column to its scope and to how its
text is obtained. *Tracking-scope* columns (learner, session, training, content…)
are the same for every log of a tracking, so their cells are rendered and encoded
once per tracking and reused; only *log-scope* cells are computed per row.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tracking_export.catalogue import TrackingContext
from tracking_export.datefmt import compile_pattern
from tracking_export.model import Column, ExportDefinition
from tracking_export.records import TrackingLog
from tracking_export.writer import CellEncoder

# Per-tracking cell caches are dropped past this many trackings, so memory stays
# bounded however many trackings a window touches.
TRACKING_CACHE_LIMIT = 50_000

_TAG = re.compile(r"<[^>]*>")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def format_decimal(value: int | float | None, decimal_char: str) -> str:
    """``100``, ``37.5``: no trailing zeros beyond what the value has."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer():
            text = str(int(value))
        else:
            text = repr(value)
            if "e" in text or "E" in text:
                text = format(Decimal(text), "f")
    else:
        text = str(value)
    return text.replace(".", decimal_char) if decimal_char != "." else text


def format_time_global(seconds: int, fmt: str, decimal_char: str) -> str:
    """Spec §3 row 15: 5115 s -> 5115, 85.25, PT1H25M15S, 001:25, 01:25."""
    if fmt == "rawSeconds":
        return str(seconds)
    if fmt == "rawMinutes":
        text = f"{seconds / 60:.2f}"
        return text.replace(".", decimal_char) if decimal_char != "." else text
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if fmt == "iso-8601":
        if seconds == 0:
            return "PT0S"
        parts = [f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v]
        return "PT" + "".join(parts)
    if fmt == "padded":
        return f"{hours:03d}:{minutes:02d}"
    if fmt == "paddedhh":
        return f"{hours:02d}:{minutes:02d}"
    raise ValueError(f"unknown timeGlobalFormat {fmt!r}")


def compile_template(text: str) -> list[str | int]:
    """A ``templates`` text as literal parts and column indexes; ``{{``/``}}`` are braces."""
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text.startswith(ch * 2, i):
            literal.append(ch)
            i += 2
        elif ch == "{":
            end = text.index("}", i)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(int(text[i + 1 : end]))
            i = end + 1
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


@dataclass(frozen=True, slots=True)
class LogFacts:
    """What a row knows beyond its tracking: the log (None for a never-launched tracking)."""

    log: TrackingLog | None
    time_global_seconds: int


TrackingGetter = Callable[[TrackingContext, Column], str]
LogGetter = Callable[[LogFacts], str]


class RowRenderer:
    """Renders rows of one definition as lists of encoded cells for the file writer."""

    def __init__(self, definition: ExportDefinition, tz: ZoneInfo, encoder: CellEncoder) -> None:
        p = definition.parameters
        self._definition = definition
        self._encoder = encoder
        self._tz = tz
        decimal_char = definition.file_action.decimal_char
        date_fmt = compile_pattern(p.date_format)
        datetime_fmt = compile_pattern(p.date_time_format)

        def day(value: date | None) -> str:
            return "" if value is None else date_fmt(value)

        def instant(value: datetime | None) -> str:
            return "" if value is None else datetime_fmt(value.astimezone(tz))

        status_text = p.status_format
        tg_format = p.time_global_format

        def yn(value: bool | None) -> str:
            return "" if value is None else ("Y" if value else "N")

        def ancestors(ctx: TrackingContext, _: Column) -> str:
            chain = (
                ctx.entity_chain if p.ancestors_with_current or ctx.entity is None else ctx.entity_chain[:-1]
            )
            return " -> ".join(e.name or "" for e in chain)

        tracking_columns: dict[str, TrackingGetter] = {
            "reportId": lambda c, _: str(c.tracking.tracking_id),
            "reportGuid": lambda c, _: _text(c.tracking.guid),
            "candidateId": lambda c, _: str(c.learner.learner_id),
            "candidateGuid": lambda c, _: _text(c.learner.guid),
            "candidateName": lambda c, _: _text(c.learner.name),
            "candidateFirstname": lambda c, _: _text(c.learner.firstname),
            "candidateLogin": lambda c, _: _text(c.learner.login),
            "candidateEmail": lambda c, _: _text(c.learner.email),
            "candidateRefNumber": lambda c, _: _text(c.learner.ref_number),
            "candidateCustomFieldGuid": lambda c, col: c.learner.custom_fields.get(col.text.strip(), ""),
            "candidateTimeZone": lambda c, _: _text(c.learner.timezone),
            "candidateSmartgroups": lambda c, _: ";".join(c.smartgroup_names),
            "candidateEntityAncestors": ancestors,
            "candidateEntityName": lambda c, _: _text(c.entity.name) if c.entity else "",
            "candidatePresentation": lambda c, _: _text(c.learner.presentation),
            "trainingId": lambda c, _: str(c.training.training_id),
            "trainingGuid": lambda c, _: _text(c.training.guid),
            "trainingTitle": lambda c, _: _text(c.training.title),
            "trainingPathCode": lambda c, _: _text(c.training.path_code),
            "trainingModality": lambda c, _: _text(c.training.modality),
            "trainingPublisher": lambda c, _: _text(c.training.publisher),
            "sessionId": lambda c, _: str(c.session.session_id),
            "sessionGuid": lambda c, _: _text(c.session.guid),
            "sessionTitle": lambda c, _: _text(c.session.title),
            "sessionStartDate": lambda c, _: day(c.session.start_date),
            "sessionEndDate": lambda c, _: day(c.session.end_date),
            "registrationGuid": lambda c, _: _text(c.tracking.registration_guid),
            "learningObjectGuid": lambda c, _: _text(c.content.learning_object_guid),
            "contentGuid": lambda c, _: c.content.content_guid,
            "contentTitle": lambda c, _: _text(c.content.title),
            "contentRefNumber": lambda c, _: _text(c.content.ref_number),
            "contentLocale": lambda c, _: _text(c.content.locale),
            "learningObjectPublisher": lambda c, _: _text(c.content.publisher_name),
            "trainingContentFolder": lambda c, _: (
                _text(c.training_content.folder) if c.training_content else ""
            ),
            "trainingContentMandatory": lambda c, _: (
                yn(c.training_content.mandatory) if c.training_content else ""
            ),
            "constantValue": lambda _, col: col.value if col.value is not None else col.text,
        }

        def when_logged(get: Callable[[TrackingLog], str]) -> LogGetter:
            return lambda f: "" if f.log is None else get(f.log)

        log_columns: dict[str, LogGetter] = {
            "learningObjectRealCompletionTime": when_logged(
                lambda log: instant(log.started_at) if log.progression == 100 else ""
            ),
            "firstLaunchDate": when_logged(lambda log: instant(log.started_at)),
            "completionTime": when_logged(lambda log: instant(log.last_access_at)),
            "firstCompletionDate": when_logged(lambda log: instant(log.completed_at)),
            "progression": lambda f: (
                "0" if f.log is None else format_decimal(f.log.progression, decimal_char)
            ),
            "score": when_logged(lambda log: format_decimal(log.score, decimal_char)),
            "status": lambda f: status_text["notAttempted" if f.log is None else f.log.status],
            "timeGlobal": lambda f: format_time_global(f.time_global_seconds, tg_format, decimal_char),
            "logDate": when_logged(lambda log: date_fmt(log.started_at.astimezone(tz).date())),
        }

        post = self._post_processor()
        encode = encoder.data_cell
        self._columns = definition.columns
        self._tracking_cols: list[tuple[int, Column, TrackingGetter]] = []
        self._log_cols: list[tuple[int, LogGetter]] = []
        self._templated: list[tuple[int, list[str | int]]] = []
        for index, column in enumerate(definition.columns):
            if column.name in tracking_columns:
                self._tracking_cols.append((index, column, tracking_columns[column.name]))
            elif column.name in log_columns:
                self._log_cols.append((index, log_columns[column.name]))
            elif column.name == "templatedValue":
                template = p.templates.get(column.template_id or "", "")
                self._templated.append((index, compile_template(template)))
            else:  # the loader only lets known columns through
                raise ValueError(f"column {column.name!r} has no renderer")
        self._post = post
        self._encode = encode
        self._cache: dict[int, tuple[list[str], list[str]]] = {}

    def _post_processor(self) -> Callable[[str], str] | None:
        p = self._definition.parameters
        strip, limit = p.strip_html, p.max_length
        if not strip and limit is None:
            return None

        def post(text: str) -> str:
            if strip:
                text = html.unescape(_TAG.sub("", text))
            if limit is not None:
                text = text[:limit]
            return text

        return post

    def headers(self) -> list[str]:
        return [c.header for c in self._columns]

    def _tracking_cells(self, ctx: TrackingContext) -> tuple[list[str], list[str]]:
        """(formatted texts, encoded cells) of the tracking-scope columns, log cells left empty."""
        key = ctx.tracking.tracking_id
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        width = len(self._columns)
        texts = [""] * width
        cells = [""] * width
        post, encode = self._post, self._encode
        for index, column, get in self._tracking_cols:
            text = get(ctx, column)
            texts[index] = text
            cells[index] = encode(post(text) if post else text)
        if len(self._cache) >= TRACKING_CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = (texts, cells)
        return texts, cells

    def row(self, ctx: TrackingContext, facts: LogFacts) -> list[str]:
        """Encoded cells of one row."""
        texts, base = self._tracking_cells(ctx)
        cells = base.copy()
        post, encode = self._post, self._encode
        if self._templated:
            texts = texts.copy()
            for index, get in self._log_cols:
                texts[index] = get(facts)
            for index, _ in self._log_cols:
                cells[index] = encode(post(texts[index]) if post else texts[index])
            for index, parts in self._templated:
                text = "".join(p if isinstance(p, str) else texts[p] for p in parts)
                cells[index] = encode(post(text) if post else text)
        elif post:
            for index, get in self._log_cols:
                cells[index] = encode(post(get(facts)))
        else:
            for index, get in self._log_cols:
                cells[index] = encode(get(facts))
        return cells
