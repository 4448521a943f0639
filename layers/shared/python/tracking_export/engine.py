"""One export run: window -> logs day by day -> filtered, ordered rows -> file bytes.

Memory holds a bounded part of one local day at a time (a page of logs, one sorted run
of rendered rows; see ``external_sort``) plus bounded caches, never the file: rows are
written to ``out`` as soon as their day is in order.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from tracking_export.catalogue import Catalogue, TrackingContext
from tracking_export.collector import fewer_collections
from tracking_export.external_sort import RUN_ROWS, SortedRows
from tracking_export.model import ExportDefinition, Parameters
from tracking_export.records import InvalidRecord, TrackingLog, parse_tracking_log, safe_key
from tracking_export.render import TRACKING_CACHE_LIMIT, RowRenderer, TrackingPart
from tracking_export.report import RunReport, SkippedRecord, Window
from tracking_export.source import Raw, TrackingSource, parse_instant
from tracking_export.window import compute_window, day_range, local_days
from tracking_export.writer import FileWriter

# Rows of one day sorted in memory; a bigger day is sorted in runs of this size on disk.
DAY_RUN_ROWS = RUN_ROWS


class BinaryOut(Protocol):
    def write(self, data: bytes, /) -> Any: ...


@fewer_collections()
def run_export(
    definition: ExportDefinition,
    source: TrackingSource,
    out: BinaryOut,
    *,
    tenant_id: str,
    timezone: str,
    now: datetime,
    previous_success_start: datetime | None = None,
    window: Window | None = None,
    days: tuple[date, date] | None = None,
    preamble: bool = True,
    unlaunched: bool = True,
) -> RunReport:
    """Write the file of one run to ``out`` and report what was written and skipped.

    ``source`` serves the data of ``tenant_id`` (a source that names its tenant is checked);
    ``timezone`` is the tenant's IANA zone; ``now`` is the run's time (aware);
    ``previous_success_start`` the start of the export's previous successful run (deltaMode).
    ``window``, when given, is the run's window as computed once for the whole run
    (``compute_window`` of the same definition, zone, ``now`` and previous start): a run that
    planned it renders with it rather than computing it again.

    A shard of a distributed run writes one slice of the same file: ``days`` keeps only the
    window's local days in that inclusive range, ``preamble=False`` leaves out the BOM and
    header line, ``unlaunched=False`` the never-launched rows that end the file. Slices of
    consecutive days, concatenated in order, are the file of the whole run.

    The cyclic garbage collector runs less often meanwhile (``collector``; a context manager
    made by ``contextmanager`` decorates a function anew at each call).
    """
    source_tenant = getattr(source, "tenant_id", tenant_id)
    if source_tenant != tenant_id:
        raise ValueError(f"the source serves tenant {source_tenant!r}, not {tenant_id!r}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = ZoneInfo(timezone)
    params = definition.parameters
    if window is None:
        window = compute_window(params, tz, now, previous_success_start)
    report = RunReport(window=window)
    writer = FileWriter(
        out, definition.file_action, [c.header for c in definition.columns], preamble=preamble
    )
    renderer = RowRenderer(definition, tz, writer.encoder)
    catalogue = Catalogue(source, report)
    keep = _TrackingFilter(params)
    cumulative = _CumulativeTime(source) if _uses_cumulative_time(params, window) else None

    # A day's rows are rendered page by page as the source streams them, then written in
    # export order; a day bigger than one sorted run is sorted on disk (external_sort).
    trackings = _TrackingRows(catalogue, keep, renderer)
    ranges = [day_range(day, tz) for day in window_days(window, source, tz, within=days)]
    for day_pages in source.log_pages_in_ranges(ranges):
        with SortedRows(DAY_RUN_ROWS) as day:
            row = renderer.log_row
            for page in day_pages:
                rows = _day_rows(page, window, params, catalogue, trackings, report)
                if cumulative is None:
                    day.add_all(
                        [
                            ((order, log.started_at, log.log_id), row(part, log, log.time_spent_seconds))
                            for (order, part), log in rows
                        ]
                    )
                else:
                    cumulative.prepare(log.tracking_id for _, log in rows)
                    total_until = cumulative.total_until
                    day.add_all(
                        [
                            ((order, log.started_at, log.log_id), row(part, log, total_until(log)))
                            for (order, part), log in rows
                        ]
                    )
            writer.write_all_encoded(day.rows())

    if params.without_launch_time and unlaunched:
        for ctx in _unlaunched(source, catalogue, keep, params):
            writer.write_encoded(renderer.row(renderer.tracking_part(ctx), None, 0))

    writer.close()
    report.rows = writer.rows
    report.bytes_written = writer.bytes_written
    return report


def window_days(
    window: Window, source: TrackingSource, tz: ZoneInfo, *, within: tuple[date, date] | None = None
) -> list[date]:
    """The local days a run reads, in order; ``within`` keeps those in an inclusive sub-range
    (a distributed run's shard).

    A window without ``first_day`` starts at the day of the source's first log; one
    without ``last_day`` (kind ``all``) ends at the day of its last log, while a first
    deltaMode run keeps its own ``last_day``, the run's local day (spec §5).
    """
    first, last = window.first_day, window.last_day
    if first is None or last is None:
        span = source.log_span()
        if span is None:
            return []
        if last is None:
            last = (span[1] - timedelta(microseconds=1)).astimezone(tz).date()
        # Data that all starts after the window's last day still gets that (empty) day
        # read, so that a source's unreadable logs, served with the first range, are reported.
        first = min(span[0].astimezone(tz).date(), last)
    if within is not None:
        first, last = max(first, within[0]), min(last, within[1])
    return list(local_days(first, last))


def _day_rows(
    raws: Iterable[Raw | TrackingLog],
    window: Window,
    params: Parameters,
    catalogue: Catalogue,
    trackings: _TrackingRows,
    report: RunReport,
) -> list[tuple[_Tracking, TrackingLog]]:
    """The valid logs of a page of a day that pass every filter, with their trackings' parts."""
    logs: list[TrackingLog] = []
    for raw in raws:
        if isinstance(raw, TrackingLog):  # the source validated it (see tracking_export.source)
            logs.append(raw)
            continue
        try:
            logs.append(parse_tracking_log(raw))
        except InvalidRecord as exc:
            report.skip(SkippedRecord("trackingLog", safe_key(raw.get("logId")), str(exc)))
    if window.kind == "timeFrame":
        assert window.start is not None and window.end is not None
        start, end = window.start, window.end
        logs = [log for log in logs if start <= log.started_at <= end]
    if params.report_status is not None:
        statuses = params.report_status
        logs = [log for log in logs if log.status in statuses]
    catalogue.prepare(log.tracking_id for log in logs)
    rows = []
    of = trackings.of
    for log in logs:
        tracking = of(log.tracking_id)
        if tracking.__class__ is str:
            report.skip(SkippedRecord("trackingLog", log.log_id, tracking))
        elif tracking is not None:
            rows.append((tracking, log))
    return rows


# A kept tracking's rows share their sort-key prefix (learner, session, content GUID) and
# their tracking-scope cells.
_Tracking = tuple[tuple[int, int, str], TrackingPart]


class _TrackingRows:
    """Per tracking, what each of its logs' rows needs, resolved once: the reason it is
    skipped (a str), None when the filters drop it, else its :data:`_Tracking`."""

    def __init__(self, catalogue: Catalogue, keep: _TrackingFilter, renderer: RowRenderer) -> None:
        self._catalogue = catalogue
        self._keep = keep
        self._renderer = renderer
        self._cache: dict[int, _Tracking | str | None] = {}

    def of(self, tracking_id: int) -> Any:
        found = self._cache.get(tracking_id, self)
        if found is self:
            ctx = self._catalogue.context(tracking_id)
            if isinstance(ctx, str):
                found = ctx
            elif self._keep(ctx):
                order = (ctx.learner.learner_id, ctx.session.session_id, ctx.content.content_guid)
                found = (order, self._renderer.tracking_part(ctx))
            else:
                found = None
            if len(self._cache) >= TRACKING_CACHE_LIMIT:
                self._cache.clear()
            self._cache[tracking_id] = found
        return found


def _unlaunched(
    source: TrackingSource, catalogue: Catalogue, keep: _TrackingFilter, params: Parameters
) -> list[TrackingContext]:
    """Never-launched trackings that pass the filters, ordered by learner, session, content GUID."""
    if params.report_status is not None and "notAttempted" not in params.report_status:
        return []
    raws: dict[Any, Raw] = {}
    for raw in source.unlaunched_trackings():
        raws[raw.get("trackingId")] = raw
    catalogue.prepare(raws.keys(), raws)
    contexts = []
    for tracking_id in raws:
        ctx = catalogue.context(tracking_id)
        if not isinstance(ctx, str) and keep(ctx):
            contexts.append(ctx)
    contexts.sort(key=lambda c: (c.learner.learner_id, c.session.session_id, c.content.content_guid))
    return contexts


class _TrackingFilter:
    """The filters of spec §3 that depend only on the tracking, evaluated once per tracking.

    Only the filters the definition sets are checked: a definition without filters keeps
    every tracking without looking at it.
    """

    def __init__(self, p: Parameters) -> None:
        self._checks = _tracking_checks(p)
        self._cache: dict[int, bool] = {}

    def __call__(self, ctx: TrackingContext) -> bool:
        if not self._checks:
            return True
        key = ctx.tracking.tracking_id
        kept = self._cache.get(key)
        if kept is None:
            if len(self._cache) >= TRACKING_CACHE_LIMIT:
                self._cache.clear()
            kept = self._cache[key] = all(check(ctx) for check in self._checks)
        return kept


def _tracking_checks(p: Parameters) -> list[Callable[[TrackingContext], bool]]:
    """One predicate per filter the definition sets (spec §3); a tracking is kept when all hold."""
    checks: list[Callable[[TrackingContext], bool]] = []
    if p.entity_ids is not None:
        entity_ids = frozenset(p.entity_ids)
        checks.append(lambda c: any(e.entity_id in entity_ids for e in c.entity_chain))
    if p.learners_smart_groups is not None:
        groups = frozenset(p.learners_smart_groups)
        checks.append(lambda c: any(g in groups for g in c.learner.smartgroup_ids))
    if p.modality:
        modality = p.modality
        checks.append(lambda c: c.training.modality == modality)
    if p.training_modality_format:
        modalities = frozenset(p.training_modality_format)
        checks.append(lambda c: c.training.modality in modalities)
    if p.only_from_imported_registrations:
        checks.append(lambda c: c.tracking.registration_imported)
    if p.only_from_imported_sessions:
        checks.append(lambda c: c.session.imported)
    if p.only_from_imported_training:
        checks.append(lambda c: c.training.imported)
    if p.preferred_locales:
        locales = frozenset(x.lower() for x in p.preferred_locales)
        checks.append(lambda c: (c.content.locale or "").lower() in locales)
    if p.publishers is not None:
        publishers = frozenset(p.publishers)
        checks.append(lambda c: c.content.publisher_guid in publishers)
    if p.training_guid is not None:
        training_guid = p.training_guid
        checks.append(lambda c: c.training.guid == training_guid)
    if p.training_path_code is not None:
        path_code = p.training_path_code
        checks.append(lambda c: c.training.path_code == path_code)
    if p.training_status is not None:
        statuses = p.training_status
        checks.append(lambda c: c.training.status in statuses)
    if p.training_publishers is not None:
        training_publishers = frozenset(p.training_publishers)
        checks.append(lambda c: c.training.publisher in training_publishers)
    if p.session_title is not None:
        session_title = p.session_title
        checks.append(lambda c: c.session.title == session_title)
    if p.session_guid is not None:
        session_guid = p.session_guid
        checks.append(lambda c: c.session.guid == session_guid)
    if p.catalog_visibility is not None:
        visible = p.catalog_visibility
        checks.append(lambda c: c.training.catalog_visible == visible)
    if p.only_hris_selected_items:
        checks.append(lambda c: c.session.hris_selected and c.content.hris_selected)
    return checks


def _uses_cumulative_time(params: Parameters, window: Window) -> bool:
    return window.kind == "timeFrame" and params.time_frame_scale_mode != "timeSpent"


class _CumulativeTime:
    """A tracking's total time over all its logs up to and including a given one (spec §3 row 14)."""

    def __init__(self, source: TrackingSource) -> None:
        self._source = source
        self._sums: dict[int, tuple[list[tuple[datetime, int]], list[int]]] = {}

    def prepare(self, tracking_ids: Iterable[int]) -> None:
        wanted = {t for t in tracking_ids if t not in self._sums}
        if not wanted:
            return
        if len(self._sums) + len(wanted) > TRACKING_CACHE_LIMIT:
            self._sums.clear()
        for tracking_id, raws in self._source.logs_of_trackings(wanted).items():
            self._sums[tracking_id] = _prefix_sums(raws)

    def total_until(self, log: TrackingLog) -> int:
        keys, sums = self._sums.get(log.tracking_id) or ([], [])
        position = bisect_right(keys, (log.started_at, log.log_id))
        return sums[position - 1] if position else log.time_spent_seconds


def _prefix_sums(raws: Sequence[Raw]) -> tuple[list[tuple[datetime, int]], list[int]]:
    entries = []
    for raw in raws:
        started = parse_instant(raw.get("startedAt"))
        spent, log_id = raw.get("timeSpentSeconds"), raw.get("logId")
        if started is not None and type(spent) is int and spent >= 0 and type(log_id) is int:
            entries.append(((started, log_id), spent))
    entries.sort()
    keys = [k for k, _ in entries]
    sums, total = [], 0
    for _, spent in entries:
        total += spent
        sums.append(total)
    return keys, sums
