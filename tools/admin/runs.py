"""``tracking-export-admin runs`` and ``run show``: what ran, how it ended, what it wrote
(tracking_export_aws.ops.runs; no table Scan).

``runs [--tenant T] [--export G] [--status S] [--since ISO] [--until ISO] [--json]`` prints one
line per paused export or tenant concerned, then one line per run, newest first::

    paused tenant=acme export=daily since=2026-03-02T08:00:00Z by=ops reason="supplier outage"
    run=2026-03-02T01:00:00Z tenant=acme export=daily outcome=failed replay=- number=12 attempt=3 \
window=2026-02-28..2026-03-02 rows=- bytes=- object=- error="..."

``run show --tenant T --export G --run ISO [--replay ID]`` prints the run's whole record as
JSON: every attribute, its notification (decoded) and what each channel answered.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tools.admin.target import Target
from tracking_export.source import parse_instant
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import deserialize
from tracking_export_aws.aws.pauses import Pause
from tracking_export_aws.ops.runs import STATUSES, ListedRun, ListingError, RunFilter, RunListing, window_text

# Without --since: the last week (a fleet's nights, without reading its whole history).
DEFAULT_SINCE = timedelta(days=7)
MAX_ERROR_SHOWN = 300


def register(subparsers: Any) -> None:
    runs = subparsers.add_parser(
        "runs",
        help="list runs (outcome, window, rows, bytes, object) and the pauses that hold their exports",
        description="Newest first. One export: its run records; one tenant: the ByTenant index; every "
        'tenant: the ByStatus index ("failed since"). Never a table Scan. --since defaults to 7 days ago.',
    )
    runs.add_argument("--tenant", help="one tenant (default: every tenant)")
    runs.add_argument("--export", metavar="GUID", help="one export of --tenant")
    runs.add_argument("--status", choices=STATUSES, help="only runs in this state")
    runs.add_argument("--since", type=instant_argument, help="scheduled at or after (YYYY-MM-DD or ISO 8601)")
    runs.add_argument(
        "--until", type=instant_argument, help="scheduled at or before (YYYY-MM-DD or ISO 8601)"
    )
    runs.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    runs.set_defaults(handler=run_runs)

    run = subparsers.add_parser("run", help="one run: `run show`")
    actions = run.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="every field of one run's record, its notification and deliveries (JSON)",
        description="The run of --tenant's --export scheduled at --run (with --replay: that time's "
        "replay of this id).",
    )
    show.add_argument("--tenant", required=True)
    show.add_argument("--export", metavar="GUID", required=True)
    show.add_argument("--run", type=instant_argument, required=True, help="its scheduled time (ISO 8601)")
    show.add_argument("--replay", metavar="ID", help="the replay of that time with this id")
    show.set_defaults(handler=run_show)


def instant_argument(value: str) -> datetime:
    """An ISO 8601 instant with an offset, or a day ``YYYY-MM-DD`` (its 00:00 UTC)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        parsed = parse_instant(value)
        if parsed is None:
            raise argparse.ArgumentTypeError(
                f"{value!r} is neither YYYY-MM-DD nor an ISO 8601 instant with an offset or Z"
            ) from None
        return parsed
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def iso(instant: datetime | None) -> str:
    """``2026-03-02T01:00:00Z`` (microseconds only when there are some); ``-`` for none."""
    if instant is None:
        return "-"
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def listing(target: Target) -> RunListing:
    (table,) = target.need("RUN_HISTORY_TABLE")
    return RunListing(target.client("dynamodb"), table)


def _problem(args: argparse.Namespace, message: str) -> int:
    print(f"tracking-export-admin {args.command}: {message}", file=sys.stderr)
    return 2


def run_runs(args: argparse.Namespace, target: Target) -> int:
    try:
        tenant = keys.validate_tenant_id(args.tenant) if args.tenant is not None else None
        guid = keys.validate_export_guid(args.export) if args.export is not None else None
        wanted = RunFilter(
            since=args.since or datetime.now(UTC) - DEFAULT_SINCE,
            until=args.until,
            tenant_id=tenant,
            export_guid=guid,
            status=args.status,
        )
    except (keys.InvalidKeyError, ListingError) as exc:
        return _problem(args, str(exc))
    runs = listing(target)
    found = runs.runs(wanted)
    concerned: list[tuple[str, str | None]] = [(r.tenant_id, r.export_guid) for r in found]
    if tenant is not None:
        concerned.insert(0, (tenant, guid))
    pauses = runs.pauses_of(concerned)
    if args.json:
        document = {
            "since": iso(wanted.since),
            "until": iso(wanted.until) if wanted.until else None,
            "paused": [_pause_dict(pause) for pause in _distinct(pauses.values())],
            "runs": [_run_dict(run) for run in found],
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    for pause in _distinct(pauses.values()):
        print(_pause_line(pause))
    for run in found:
        print(run_line(run))
    return 0


def run_show(args: argparse.Namespace, target: Target) -> int:
    try:
        tenant = keys.validate_tenant_id(args.tenant)
        guid = keys.validate_export_guid(args.export)
        replay = keys.validate_replay_id(args.replay) if args.replay is not None else None
    except keys.InvalidKeyError as exc:
        return _problem(args, str(exc))
    runs = listing(target)
    item = runs.record_item(tenant, guid, args.run, replay)
    if item is None:
        what = f"replay {replay} of " if replay else ""
        print(f"no run: {what}{tenant}/{guid} at {iso(args.run)} is not on record", file=sys.stderr)
        return 1
    record = deserialize(item, keep_keys=True)
    if isinstance(record.get("notification"), str):
        record["notification"] = json.loads(record["notification"])
    for name in ("pendingChannels", "notifiedChannels"):
        if name in record:
            record[name] = sorted(record[name])
    pause = runs.pauses.paused(tenant, guid)
    record["paused"] = _pause_dict(pause) if pause is not None else None
    print(json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True, default=str))
    return 0


def run_line(run: ListedRun) -> str:
    """One run as one line of ``key=value`` tokens (values with blanks are JSON-quoted)."""
    record = run.record
    parts = [
        f"run={iso(record.scheduled_time)}",
        f"tenant={run.tenant_id}",
        f"export={run.export_guid}",
        f"outcome={record.status}",
        f"replay={record.replay_id or '-'}" + (" quiet" if record.quiet else ""),
        f"number={record.run_number if record.run_number is not None else '-'}",
        f"attempt={record.attempt}",
        f"window={window_text(record.window)}",
        f"rows={_or_dash(record.rows)}",
        f"bytes={_or_dash(record.bytes_written)}",
        f"object={record.object_key or '-'}",
    ]
    if record.error:
        parts.append(f"error={json.dumps(record.error[:MAX_ERROR_SHOWN], ensure_ascii=False)}")
    return " ".join(parts)


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _run_dict(run: ListedRun) -> dict[str, Any]:
    record = run.record
    return {
        "tenantId": run.tenant_id,
        "exportGuid": run.export_guid,
        "scheduledTime": iso(record.scheduled_time),
        "replayId": record.replay_id,
        "quiet": record.quiet,
        "status": record.status,
        "runNumber": record.run_number,
        "attempt": record.attempt,
        "startedAt": iso(record.started_at) if record.started_at else None,
        "finishedAt": iso(record.finished_at) if record.finished_at else None,
        "path": record.path,
        "window": record.window,
        "rows": record.rows,
        "bytes": record.bytes_written,
        "objectKey": record.object_key,
        "sha256": record.sha256,
        "durationMs": record.duration_ms,
        "error": record.error,
    }


def _distinct(pauses: Any) -> list[Pause]:
    return list(dict.fromkeys(pauses))


def _pause_dict(pause: Pause) -> dict[str, Any]:
    return {
        "tenantId": pause.tenant_id,
        "exportGuid": pause.export_guid,
        "scope": pause.scope,
        "pausedAt": iso(pause.paused_at),
        "by": pause.by,
        "reason": pause.reason,
    }


def _pause_line(pause: Pause) -> str:
    scope = f"tenant={pause.tenant_id}" + (f" export={pause.export_guid}" if pause.export_guid else "")
    reason = f" reason={json.dumps(pause.reason, ensure_ascii=False)}" if pause.reason else ""
    return f"paused {scope} since={iso(pause.paused_at)} by={pause.by or '-'}{reason}"
