"""Row rendering: the column table of spec §2 and the cell formats of spec §3.

Columns are data: two tables in :class:`RowRenderer` map each column to its scope and
to how its text is obtained. Columns of the learner, session (with its training),
content, training-content and tracking scopes are the same for every row of that
record, so their cells are rendered and encoded once per record and reused; only
log-scope cells (dates, progression, score, status, time) are computed per row.
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from tracking_export.bounded import MIB, BoundedCache, size_of
from tracking_export.catalogue import TrackingContext
from tracking_export.datefmt import compile_pattern, datetime_template, pattern_shape
from tracking_export.model import Column, ExportDefinition
from tracking_export.records import TrackingLog
from tracking_export.writer import CellEncoder

# What the segment cache (learner, session, content, training-content cells) may hold by
# default, in estimated bytes (the engine gives its own budget).
SEGMENT_BYTES = 12 * MIB

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


TrackingGetter = Callable[[TrackingContext, Column], str]
LogGetter = Callable[[TrackingLog | None, datetime | None, int], str]
ScopeKey = Callable[[TrackingContext], Any]
# What every row of a tracking shares, kept per tracking (see RowRenderer.tracking_entry):
# its sort-key prefix (learner id, session id, content GUID), then its tracking-scope cells,
# constants first — flat, the smallest a tuple can be; with templates, (cells, texts) instead.
TrackingEntry = tuple[Any, ...]
ORDER_FIELDS = 3

# Tracking-scope columns are grouped by the record that determines them, so that each
# group's cells are rendered once per learner, session, content… and reused by every row.
SCOPE_KEYS: dict[str, ScopeKey] = {
    "learner": lambda c: c.learner.learner_id,
    "session": lambda c: c.session.session_id,
    "content": lambda c: c.content.content_guid,
    "trainingContent": lambda c: (c.session.training_id, c.content.content_guid),
    "tracking": lambda c: c.tracking.tracking_id,
}


# Zones whose offset is always zero: a UTC instant's fields are already its local ones.
_UTC_KEYS = frozenset(("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"))

# Distinct values whose encoded cells are cached per log column (progression, score, days…).
VALUE_CACHE_LIMIT = 4_096


def _cached_cells(
    text_of: Callable[[Any], str], cell: Callable[[str], str]
) -> tuple[Callable[[Any], str], Callable[[Any], str | None]]:
    """``cell(text_of(value))``, remembered per value; and the cache's own ``get``, for
    generated code that looks a value up before calling (see ``_compile_log_row``).

    Sound because values that compare equal render the same text here (``100`` and
    ``100.0`` both print ``100``; the parsers let no ``bool`` through as a number).
    """
    cache: dict[Any, str] = {}

    def encoded(value: Any) -> str:
        found = cache.get(value)
        if found is None:
            if len(cache) >= VALUE_CACHE_LIMIT:
                cache.clear()  # in place: the get handed out stays this cache's
            found = cache[value] = cell(text_of(value))
        return found

    return encoded, cache.get


def _plain_pattern(
    pattern: str, render: Callable[[datetime], str], delimiter: str, cell: Callable[[str], str]
) -> bool:
    """Whether every text of this date pattern is its own encoded cell.

    True when the text starts with a digit (never a formula trigger), its literal characters
    hold nothing that stripHTML or quoting act on, and a sample (all texts of a pattern
    have the same length) survives the encoder, i.e. maxLength does not cut it.
    """
    starts_with_token, literals = pattern_shape(pattern)
    if not starts_with_token or any(ch in literals for ch in ('"', "\r", "\n", "<", ">", "&", *delimiter)):
        return False
    sample = render(datetime(2026, 11, 27, 10, 11, 12))
    return cell(sample) == sample


class _Scope:
    """The columns of one scope; ``cached``: whether its segments are shared by several
    trackings (every scope but the tracking's own), hence worth caching."""

    __slots__ = ("cached", "columns", "key", "name")

    def __init__(self, name: str, key: ScopeKey) -> None:
        self.name = name
        self.key = key
        self.cached = name != "tracking"
        self.columns: list[tuple[int, Column, TrackingGetter]] = []


class RowRenderer:
    """Renders rows of one definition as sequences of encoded cells for the file writer.

    A row is the concatenation of per-scope segments (constants, learner, session,
    content, training content, tracking, log), put back in document order by one
    ``itemgetter`` call.
    """

    def __init__(
        self,
        definition: ExportDefinition,
        tz: ZoneInfo,
        encoder: CellEncoder,
        *,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        """``segment_bytes`` bounds the cache of rendered segments (a learner's cells…)."""
        p = definition.parameters
        self._segments: BoundedCache[tuple[str, Any], tuple[tuple[str, ...], tuple[str, ...]]] = BoundedCache(
            segment_bytes, size_of
        )
        self._definition = definition
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

        def folder(c: TrackingContext, _: Column) -> str:
            return _text(c.training_content.folder) if c.training_content else ""

        def mandatory(c: TrackingContext, _: Column) -> str:
            return yn(c.training_content.mandatory) if c.training_content else ""

        tracking_columns: dict[str, tuple[str, TrackingGetter]] = {
            "reportId": ("tracking", lambda c, _: str(c.tracking.tracking_id)),
            "reportGuid": ("tracking", lambda c, _: _text(c.tracking.guid)),
            "registrationGuid": ("tracking", lambda c, _: _text(c.tracking.registration_guid)),
            "candidateId": ("learner", lambda c, _: str(c.learner.learner_id)),
            "candidateGuid": ("learner", lambda c, _: _text(c.learner.guid)),
            "candidateName": ("learner", lambda c, _: _text(c.learner.name)),
            "candidateFirstname": ("learner", lambda c, _: _text(c.learner.firstname)),
            "candidateLogin": ("learner", lambda c, _: _text(c.learner.login)),
            "candidateEmail": ("learner", lambda c, _: _text(c.learner.email)),
            "candidateRefNumber": ("learner", lambda c, _: _text(c.learner.ref_number)),
            "candidateCustomFieldGuid": (
                "learner",
                lambda c, col: c.learner.custom_fields.get(col.text.strip(), ""),
            ),
            "candidateTimeZone": ("learner", lambda c, _: _text(c.learner.timezone)),
            "candidateSmartgroups": ("learner", lambda c, _: ";".join(c.smartgroup_names)),
            "candidateEntityAncestors": ("learner", ancestors),
            "candidateEntityName": ("learner", lambda c, _: _text(c.entity.name) if c.entity else ""),
            "candidatePresentation": ("learner", lambda c, _: _text(c.learner.presentation)),
            "trainingId": ("session", lambda c, _: str(c.training.training_id)),
            "trainingGuid": ("session", lambda c, _: _text(c.training.guid)),
            "trainingTitle": ("session", lambda c, _: _text(c.training.title)),
            "trainingPathCode": ("session", lambda c, _: _text(c.training.path_code)),
            "trainingModality": ("session", lambda c, _: _text(c.training.modality)),
            "trainingPublisher": ("session", lambda c, _: _text(c.training.publisher)),
            "sessionId": ("session", lambda c, _: str(c.session.session_id)),
            "sessionGuid": ("session", lambda c, _: _text(c.session.guid)),
            "sessionTitle": ("session", lambda c, _: _text(c.session.title)),
            "sessionStartDate": ("session", lambda c, _: day(c.session.start_date)),
            "sessionEndDate": ("session", lambda c, _: day(c.session.end_date)),
            "learningObjectGuid": ("content", lambda c, _: _text(c.content.learning_object_guid)),
            "contentGuid": ("content", lambda c, _: c.content.content_guid),
            "contentTitle": ("content", lambda c, _: _text(c.content.title)),
            "contentRefNumber": ("content", lambda c, _: _text(c.content.ref_number)),
            "contentLocale": ("content", lambda c, _: _text(c.content.locale)),
            "learningObjectPublisher": ("content", lambda c, _: _text(c.content.publisher_name)),
            "trainingContentFolder": ("trainingContent", folder),
            "trainingContentMandatory": ("trainingContent", mandatory),
        }

        # Log-scope getters take (log, log's start in the tenant's zone, time-global seconds);
        # log is None for a never-launched tracking (withoutLaunchTime).
        def real_completion(log: TrackingLog | None, start: datetime | None, _: int) -> str:
            return (
                datetime_fmt(start)
                if log is not None and start is not None and log.progression == 100
                else ""
            )

        log_columns: dict[str, LogGetter] = {
            "learningObjectRealCompletionTime": real_completion,
            "firstLaunchDate": lambda log, start, _: "" if start is None else datetime_fmt(start),
            "completionTime": lambda log, _, __: "" if log is None else instant(log.last_access_at),
            "firstCompletionDate": lambda log, _, __: "" if log is None else instant(log.completed_at),
            "progression": lambda log, _, __: (
                "0" if log is None else format_decimal(log.progression, decimal_char)
            ),
            "score": lambda log, _, __: "" if log is None else format_decimal(log.score, decimal_char),
            "status": lambda log, _, __: status_text["notAttempted" if log is None else log.status],
            "timeGlobal": lambda _, __, seconds: format_time_global(seconds, tg_format, decimal_char),
            "logDate": lambda log, start, _: "" if start is None else date_fmt(start.date()),
        }

        post, encode = self._post_processor(), encoder.data_cell_within(p.max_length)
        # Text -> stripHTML -> formula escape, maxLength cut and quoting (the writer's encoder).
        cell: Callable[[str], str] = (lambda text: encode(post(text))) if post else encode
        self._cell = cell
        log_cells = self._log_cell_getters(
            p.date_format, p.date_time_format, encoder.delimiter, tz, log_columns, decimal_char, status_text
        )
        self._columns = definition.columns
        self._scopes: dict[str, _Scope] = {}
        self._log_getters: list[LogGetter] = []
        self._log_cells: list[LogGetter] = []
        self._log_column_names: list[str] = []
        templated_parts: list[list[str | int]] = []
        constants: list[str] = []
        constant_texts: list[str] = []
        layout: dict[int, tuple[str, int]] = {}  # column index -> (segment, position in it)
        for index, column in enumerate(definition.columns):
            if column.name == "constantValue":
                text = column.value if column.value is not None else column.text
                layout[index] = ("constant", len(constants))
                constant_texts.append(text)
                constants.append(self._cell(text))
            elif column.name in tracking_columns:
                scope_name, getter = tracking_columns[column.name]
                scope = self._scopes.setdefault(scope_name, _Scope(scope_name, SCOPE_KEYS[scope_name]))
                layout[index] = (scope_name, len(scope.columns))
                scope.columns.append((index, column, getter))
            elif column.name in log_columns:
                layout[index] = ("log", len(self._log_getters))
                self._log_getters.append(log_columns[column.name])
                self._log_cells.append(log_cells[column.name])
                self._log_column_names.append(column.name)
            elif column.name == "templatedValue":
                template = p.templates.get(column.template_id or "", "")
                layout[index] = ("templated", len(templated_parts))
                templated_parts.append(compile_template(template))
            else:  # the loader only lets known columns through
                raise ValueError(f"column {column.name!r} has no renderer")
        self._constants = tuple(constants)
        self._constant_texts = tuple(constant_texts)
        self._scope_list = list(self._scopes.values())
        # Segment order in the flat row: constants, each scope, log, templated.
        offsets: dict[str, int] = {"constant": 0}
        offset = len(constants)
        for name, scope in self._scopes.items():
            offsets[name] = offset
            offset += len(scope.columns)
        self._own_offset = offsets.get("tracking", 0)
        offsets["log"] = offset
        offsets["templated"] = offset + len(self._log_getters)
        order = [offsets[segment] + position for segment, position in (layout[i] for i in range(len(layout)))]
        self._order = order
        self._tracking_cells = offset
        # A template's {n} points straight at column n's place in the flat texts; a reference
        # to a templatedValue column prints empty (no recursion).
        self._templated: list[list[str | int]] = [
            [
                part if isinstance(part, str) else ("" if layout[part][0] == "templated" else order[part])
                for part in parts
            ]
            for parts in templated_parts
        ]
        self._reorder: Callable[[Sequence[str]], Sequence[str]] = (
            itemgetter(*order) if len(order) > 1 else (lambda flat: (flat[order[0]],))
        )
        self._tz = tz
        self._needs_start = any(
            c.name in ("learningObjectRealCompletionTime", "firstLaunchDate", "logDate")
            for c in self._columns
        )
        # The row of a log (see _compile_log_row): what the engine calls once per log.
        self.log_row = self._compile_log_row()

    def _log_cell_getters(
        self,
        date_format: str,
        date_time_format: str,
        delimiter: str,
        tz: ZoneInfo,
        texts: dict[str, LogGetter],
        decimal_char: str,
        status_text: dict[str, str],
    ) -> dict[str, LogGetter]:
        """Log-scope getters that return the encoded cell, for rows without templates.

        Each returns exactly ``self._cell`` of the text getter of the same column in
        ``texts``; the few values of progression, score, status, time-global and day
        columns have their encoded cells cached, and a date-time pattern whose text the
        encoder can never change (see :func:`_plain_pattern`) skips the encoder.
        """
        cell = self._cell
        empty = cell("")
        day_fmt = compile_pattern(date_format)
        instant_fmt = compile_pattern(date_time_format)
        instant_cell = (
            instant_fmt
            if _plain_pattern(date_time_format, instant_fmt, delimiter, cell)
            else (lambda value: cell(instant_fmt(value)))
        )
        progression, progression_get = _cached_cells(lambda v: format_decimal(v, decimal_char), cell)
        score, score_get = _cached_cells(lambda v: format_decimal(v, decimal_char), cell)
        day, day_get = _cached_cells(day_fmt, cell)
        time_global, time_global_get = _cached_cells(lambda v: texts["timeGlobal"](None, None, v), cell)
        status = {name: cell(text) for name, text in status_text.items()}

        def real_completion(log: TrackingLog | None, start: datetime | None, _: int) -> str:
            if log is not None and start is not None and log.progression == 100:
                return instant_cell(start)
            return empty

        def completion_time(log: TrackingLog | None, _: datetime | None, __: int) -> str:
            value = None if log is None else log.last_access_at
            return empty if value is None else instant_cell(value.astimezone(tz))

        def first_completion(log: TrackingLog | None, _: datetime | None, __: int) -> str:
            value = None if log is None else log.completed_at
            return empty if value is None else instant_cell(value.astimezone(tz))

        # The same cells as source expressions for a log that is there, compiled into one
        # function per definition (see _compile_log_row); "start" is the log's start, local.
        local = "{}" if tz.key in _UTC_KEYS else "{}.astimezone(tz)"
        # A cached cell is looked up inline, the function called only on a miss (or an
        # empty cell); a plain date-time pattern is formatted inline.
        inline = datetime_template(date_time_format) if instant_cell is instant_fmt else None
        instant = "(instant_template % instant_fields({}))" if inline else "instant_cell({})"
        instant_template, instant_fields = inline or ("", None)
        self._log_row_names = {
            "progression_get": progression_get,
            "score_get": score_get,
            "day_get": day_get,
            "time_global_get": time_global_get,
            "instant_template": instant_template,
            "instant_fields": instant_fields,
            "empty": empty,
            "instant_cell": instant_cell,
            "progression": progression,
            "score": score,
            "day": day,
            "time_global": time_global,
            "status": status,
            "tz": tz,
        }
        self._log_start = local.format("log.started_at")
        self._log_expressions = {
            "learningObjectRealCompletionTime": "({} if log.progression == 100 else empty)".format(
                instant.format("start")
            ),
            "firstLaunchDate": instant.format("start"),
            "completionTime": "(empty if log.last_access_at is None else {})".format(
                instant.format(local.format("log.last_access_at"))
            ),
            "firstCompletionDate": "(empty if log.completed_at is None else {})".format(
                instant.format(local.format("log.completed_at"))
            ),
            "progression": "(progression_get(log.progression) or progression(log.progression))",
            "score": "(score_get(log.score) or score(log.score))",
            "status": "status[log.status]",
            "timeGlobal": "(time_global_get(seconds) or time_global(seconds))",
            "logDate": "(day_get(start.date()) or day(start.date()))",
        }
        zero = cell("0")
        return {
            "learningObjectRealCompletionTime": real_completion,
            "firstLaunchDate": lambda log, start, _: empty if start is None else instant_cell(start),
            "completionTime": completion_time,
            "firstCompletionDate": first_completion,
            "progression": lambda log, _, __: zero if log is None else progression(log.progression),
            "score": lambda log, _, __: empty if log is None else score(log.score),
            "status": lambda log, _, __: status["notAttempted" if log is None else log.status],
            "timeGlobal": lambda _, __, seconds: time_global(seconds),
            "logDate": lambda log, start, _: empty if start is None else day(start.date()),
        }

    def _post_processor(self) -> Callable[[str], str] | None:
        """stripHTML, when asked; maxLength is the encoder's last step (it counts the escape)."""
        if not self._definition.parameters.strip_html:
            return None

        def post(text: str) -> str:
            return html.unescape(_TAG.sub("", text))

        return post

    def _segment(self, scope: _Scope, ctx: TrackingContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if not scope.cached:
            texts = tuple(get(ctx, column) for _, column, get in scope.columns)
            return (texts, tuple(map(self._cell, texts)))
        key = (scope.name, scope.key(ctx))
        found = self._segments.get(key)
        if found is None:
            texts = tuple(get(ctx, column) for _, column, get in scope.columns)
            found = (texts, tuple(map(self._cell, texts)))
            self._segments.put(key, found)
        return found

    def tracking_entry(self, ctx: TrackingContext) -> TrackingEntry:
        """What every row of this tracking shares (:data:`TrackingEntry`); callers keep it
        for the tracking's rows (the engine does, within its cache budget)."""
        cells, texts = self._constants, self._constant_texts
        for scope in self._scope_list:
            scope_texts, scope_cells = self._segment(scope, ctx)
            cells += scope_cells
            texts += scope_texts
        order = (ctx.learner.learner_id, ctx.session.session_id, ctx.content.content_guid)
        if self._templated:
            return (*order, cells, texts)
        return (*order, *cells)

    def entry_bytes(self, entry: TrackingEntry) -> int:
        """Estimated bytes of an entry as kept per tracking: its tuples, and the texts of the
        tracking's own columns (the others are shared with the cached segments)."""
        size = sys.getsizeof(entry)
        if self._templated:
            cells, texts = entry[ORDER_FIELDS], entry[ORDER_FIELDS + 1]
            size += sys.getsizeof(cells) + sys.getsizeof(texts)
        else:
            cells, texts = entry[ORDER_FIELDS:], ()
        own = self._scopes.get("tracking")
        if own is not None:
            for index in range(self._own_offset, self._own_offset + len(own.columns)):
                size += sys.getsizeof(cells[index]) + (sys.getsizeof(texts[index]) if texts else 0)
        return size

    def _compile_log_row(self) -> Callable[[TrackingEntry, TrackingLog, int], Sequence[str]]:
        """The row of a log (not None) as one generated function: the entry's cells and the
        log's, in document order, in one tuple (no per-column call for status, dates…). With
        templates, the general :meth:`row`."""
        if self._templated:
            return self.row
        log_cells = [self._log_expressions[name] for name in self._log_column_names]
        cells = "".join(
            f"entry[{ORDER_FIELDS + flat}], "
            if flat < self._tracking_cells
            else f"{log_cells[flat - self._tracking_cells]}, "
            for flat in self._order
        )
        start = f"    start = {self._log_start}\n" if self._needs_start else ""
        source = f"def log_row(entry, log, seconds):\n{start}    return ({cells})\n"
        namespace: dict[str, Any] = {**self._log_row_names}
        exec(compile(source, "<generated log row>", "exec"), namespace)
        log_row: Callable[[TrackingEntry, TrackingLog, int], Sequence[str]] = namespace["log_row"]
        return log_row

    def row(self, entry: TrackingEntry, log: TrackingLog | None, seconds: int) -> Sequence[str]:
        """Encoded cells of one row, in document order: ``entry`` from :meth:`tracking_entry`,
        ``log`` None for a never-launched tracking, ``seconds`` its time-global seconds."""
        start = log.started_at.astimezone(self._tz) if log is not None and self._needs_start else None
        if not self._templated:
            # Log cells straight to encoded text, through the per-value caches.
            log_cells = tuple([cell(log, start, seconds) for cell in self._log_cells])
            return self._reorder(entry[ORDER_FIELDS:] + log_cells)
        log_texts = [get(log, start, seconds) for get in self._log_getters]
        cells, texts = entry[ORDER_FIELDS], entry[ORDER_FIELDS + 1]
        flat = cells + tuple(map(self._cell, log_texts))
        # Templates read every column's formatted text, before stripHTML and maxLength.
        texts_flat = (*texts, *log_texts)
        templated = tuple(
            self._cell("".join(part if isinstance(part, str) else texts_flat[part] for part in parts))
            for parts in self._templated
        )
        return self._reorder(flat + templated)
