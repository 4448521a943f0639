"""One export run: window -> logs day by day -> filtered, ordered rows -> file bytes.

Memory holds a bounded part of one local day at a time (a page of logs, one sorted run
of rendered rows; see ``external_sort``) plus caches of a fixed byte budget
(``CACHE_BYTES``, see ``bounded``), never the file: rows are written to ``out`` as soon as
their day is in order, and what a run keeps of the catalogue does not grow with the
trackings and learners its days touch.
"""

from __future__ import annotations

import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from tracking_export.bounded import MIB, BoundedCache
from tracking_export.catalogue import Catalogue, TrackingContext
from tracking_export.collector import fewer_collections
from tracking_export.external_sort import RUN_ROWS, SortedRows
from tracking_export.model import ExportDefinition, Parameters
from tracking_export.records import InvalidRecord, TrackingLog, parse_tracking_log, safe_key
from tracking_export.render import RowRenderer, TrackingEntry
from tracking_export.report import RunReport, SkippedRecord, Window
from tracking_export.source import Raw, TrackingSource, parse_instant
from tracking_export.window import compute_window, day_range, local_days
from tracking_export.writer import FileWriter

# Rows of one day sorted in memory; a bigger day is sorted in runs of this size on disk.
DAY_RUN_ROWS = RUN_ROWS
# Pages of a day are taken from the source in groups of at least this many logs, and the
# records of the group's trackings not cached are fetched in one batch before its first page
# is rendered: full BatchGetItem calls of 100 keys instead of a partial one per page.
PREFETCH_LOGS = 4_000
# What a run's caches may hold, in estimated bytes: half for the trackings' resolved rows
# parts, a quarter each for catalogue records and rendered segments (learner, session…);
# cumulative time (lastActivity modes) gets a third more. A day touching more trackings than
# fit fetches the dropped ones again, in batches (docs/decisions.md, "Performance", "Memory").
CACHE_BYTES = 48 * MIB


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
    cache_bytes: int = CACHE_BYTES,
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

    ``cache_bytes`` bounds what the run caches (``CACHE_BYTES``); the file does not depend on it.

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
    renderer = RowRenderer(definition, tz, writer.encoder, segment_bytes=cache_bytes // 4)
    catalogue = Catalogue(source, report, cache_bytes // 4)
    keep = _TrackingFilter(params)
    cumulative = _CumulativeTime(source, cache_bytes // 3) if _uses_cumulative_time(params, window) else None

    # A day's rows are rendered page by page as the source streams them, then written in
    # export order; a day bigger than one sorted run is sorted on disk (external_sort).
    trackings = _TrackingRows(catalogue, keep, renderer, cache_bytes // 2)
    ranges = [day_range(day, tz) for day in window_days(window, source, tz, within=days)]
    row = renderer.log_row
    kept_log = _log_filter(window, params)
    for day_pages in source.log_pages_in_ranges(ranges):
        with SortedRows(DAY_RUN_ROWS) as day:
            for page in _prefetching(day_pages, trackings, kept_log):
                logs = _page_logs(page, kept_log, report)
                entries = trackings.of_page({log.tracking_id for log in logs})
                if cumulative is None:
                    day.add_all(_page_rows(logs, entries, row, report))
                else:
                    kept = {log.tracking_id for log in logs if entries[log.tracking_id].__class__ is tuple}
                    day.add_all(_page_rows(logs, entries, row, report, cumulative.of_page(kept)))
            writer.write_all_encoded(day.rows())

    if params.without_launch_time and unlaunched:
        for ctx in _unlaunched(source, catalogue, keep, params):
            writer.write_encoded(renderer.row(renderer.tracking_entry(ctx), None, 0))

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


def _log_filter(window: Window, params: Parameters) -> Callable[[TrackingLog], bool] | None:
    """The filters of a run that depend on the log alone (time frame, status); None when none."""
    checks: list[Callable[[TrackingLog], bool]] = []
    if window.kind == "timeFrame":
        assert window.start is not None and window.end is not None
        start, end = window.start, window.end
        checks.append(lambda log: start <= log.started_at <= end)
    if params.report_status is not None:
        statuses = params.report_status
        checks.append(lambda log: log.status in statuses)
    if not checks:
        return None
    return lambda log: all(check(log) for check in checks)


def _prefetching(
    pages: Iterable[Sequence[Raw | TrackingLog]],
    trackings: _TrackingRows,
    kept_log: Callable[[TrackingLog], bool] | None,
) -> Iterator[Sequence[Raw | TrackingLog]]:
    """The pages, in order, taken in groups of ``PREFETCH_LOGS`` logs whose trackings' records
    are fetched in one batch before the group's pages are handed on (see ``Catalogue.prefetch``)."""
    pages = iter(pages)
    while True:
        group, count = [], 0
        for page in pages:
            group.append(page)
            count += len(page)
            if count >= PREFETCH_LOGS:
                break
        if not group:
            return
        trackings.prefetch(
            {
                log.tracking_id
                for page in group
                for log in page
                if log.__class__ is TrackingLog and (kept_log is None or kept_log(log))
            }
        )
        yield from group


def _page_logs(
    raws: Sequence[Raw | TrackingLog], kept_log: Callable[[TrackingLog], bool] | None, report: RunReport
) -> list[TrackingLog]:
    """The valid logs of a page of a day that pass the log filters, in the page's order."""
    logs = [raw for raw in raws if raw.__class__ is TrackingLog]  # the source validated them
    if len(logs) != len(raws):
        logs = []
        for raw in raws:
            if isinstance(raw, TrackingLog):
                logs.append(raw)
                continue
            try:
                logs.append(parse_tracking_log(raw))
            except InvalidRecord as exc:
                report.skip(SkippedRecord("trackingLog", safe_key(raw.get("logId")), str(exc)))
    if kept_log is not None:
        logs = [log for log in logs if kept_log(log)]
    return logs


def _page_rows(
    logs: list[TrackingLog],
    entries: dict[int, Any],
    row: Callable[[TrackingEntry, TrackingLog, int], Sequence[str]],
    report: RunReport,
    total_until: Callable[[TrackingLog], int] | None = None,
) -> list[tuple[tuple[Any, ...], Sequence[str]]]:
    """(sort key, row) of each log whose tracking is kept; a log whose tracking is skipped is
    reported. The key is (learner id, session id, content GUID, start, log id)."""
    rows: list[tuple[tuple[Any, ...], Sequence[str]]] = []
    append = rows.append
    for log in logs:
        entry = entries[log.tracking_id]
        if entry.__class__ is tuple:
            seconds = log.time_spent_seconds if total_until is None else total_until(log)
            append(((entry[0], entry[1], entry[2], log.started_at, log.log_id), row(entry, log, seconds)))
        elif entry is not None:
            report.skip(SkippedRecord("trackingLog", log.log_id, entry))
    return rows


class _TrackingRows:
    """Per tracking, what each of its logs' rows needs, resolved once and kept within a byte
    budget: the reason it is skipped (a str), None when the filters drop it, else its
    ``TrackingEntry`` (render). A tracking dropped from the cache is resolved again (its
    skip, if any, is not reported twice: the catalogue keeps failures for the run)."""

    def __init__(
        self, catalogue: Catalogue, keep: _TrackingFilter, renderer: RowRenderer, capacity: int
    ) -> None:
        self._catalogue = catalogue
        self._keep = keep
        self._renderer = renderer
        self._cache: BoundedCache[int, TrackingEntry | str | None] = BoundedCache(capacity, self._entry_bytes)

    def _entry_bytes(self, entry: TrackingEntry | str | None) -> int:
        # A skip reason is the catalogue's own text, kept for the run; None is a singleton.
        return self._renderer.entry_bytes(entry) if type(entry) is tuple else 0

    def prefetch(self, tracking_ids: set[int]) -> None:
        """Have the catalogue fetch the records of those of these trackings not cached, in one batch."""
        _, missing = self._cache.found_and_missing(tracking_ids)
        self._catalogue.prefetch(missing)

    def of_page(self, tracking_ids: set[int]) -> dict[int, Any]:
        """What these trackings' rows need (one page's), those not cached resolved in one batch."""
        found, missing = self._cache.found_and_missing(tracking_ids)
        if missing:
            put, keep, renderer = self._cache.put, self._keep, self._renderer
            for tracking_id, ctx in self._catalogue.contexts(missing).items():
                entry: TrackingEntry | str | None
                if isinstance(ctx, str):
                    entry = ctx
                elif keep(ctx):
                    entry = renderer.tracking_entry(ctx)
                else:
                    entry = None
                put(tracking_id, entry)
                found[tracking_id] = entry
        return found


_ABSENT: Any = object()


def _unlaunched(
    source: TrackingSource, catalogue: Catalogue, keep: _TrackingFilter, params: Parameters
) -> list[TrackingContext]:
    """Never-launched trackings that pass the filters, ordered by learner, session, content GUID."""
    if params.report_status is not None and "notAttempted" not in params.report_status:
        return []
    raws: dict[Any, Raw] = {}
    for raw in source.unlaunched_trackings():
        raws[raw.get("trackingId")] = raw
    found = catalogue.contexts(set(raws), raws)
    contexts = []
    for tracking_id in raws:
        ctx = found[tracking_id]
        if not isinstance(ctx, str) and keep(ctx):
            contexts.append(ctx)
    contexts.sort(key=lambda c: (c.learner.learner_id, c.session.session_id, c.content.content_guid))
    return contexts


class _TrackingFilter:
    """The filters of spec §3 that depend only on the tracking (the verdict is kept with the
    tracking's entry, see :class:`_TrackingRows`).

    Only the filters the definition sets are checked: a definition without filters keeps
    every tracking without looking at it.
    """

    def __init__(self, p: Parameters) -> None:
        self._checks = _tracking_checks(p)

    def __call__(self, ctx: TrackingContext) -> bool:
        return all(check(ctx) for check in self._checks)


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

    def __init__(self, source: TrackingSource, capacity: int) -> None:
        self._source = source
        self._sums: BoundedCache[int, _PrefixSums] = BoundedCache(capacity, _prefix_bytes)

    def of_page(self, tracking_ids: set[int]) -> Callable[[TrackingLog], int]:
        """``total_until(log)`` for the logs of these trackings (one page's), their logs
        fetched for those not cached."""
        get = self._sums.get
        sums = {t: found for t in tracking_ids if (found := get(t)) is not None}
        wanted = tracking_ids - sums.keys()
        if wanted:
            for tracking_id, raws in self._source.logs_of_trackings(wanted).items():
                sums[tracking_id] = prefix = _prefix_sums(raws)
                self._sums.put(tracking_id, prefix)

        def total_until(log: TrackingLog) -> int:
            keys, totals = sums.get(log.tracking_id) or ([], [])
            position = bisect_right(keys, (log.started_at, log.log_id))
            return totals[position - 1] if position else log.time_spent_seconds

        return total_until


# A tracking's logs as (start, log id) keys in order, and the running totals of their time.
_PrefixSums = tuple[list[tuple[datetime, int]], list[int]]
# One log in _PrefixSums: two list slots, the key tuple, its datetime and log id, the total.
_PREFIX_ENTRY_BYTES = 2 * 8 + sys.getsizeof((0, 0)) + sys.getsizeof(datetime.now()) + 2 * sys.getsizeof(2**40)


def _prefix_bytes(prefix: _PrefixSums) -> int:
    return _PREFIX_ENTRY_BYTES * len(prefix[1])


def _prefix_sums(raws: Sequence[Raw]) -> _PrefixSums:
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
