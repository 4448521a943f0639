"""``tracking-export-admin replay --tenant T --export G --from YYYY-MM-DD --to YYYY-MM-DD
[--quiet] [--only missing|failed] [--dry-run] [--max-concurrent N] [--replay-id ID]``
(tracking_export_aws.ops.replay; docs/operations.md, "Replay and backfill").

Prints exactly one line per run, as it ends (an interface: scripts read it)::

    run=<scheduled time ISO> outcome=<outcome> object=<key or -> sha256=<hex or ->

``outcome`` is ``succeeded`` or ``failed`` (the run's own), ``error`` (it could not be started:
the reason on standard error) or ``unfinished`` (a distributed run still running when the
command stopped following it). ``--dry-run`` prints the same line with ``outcome=dry-run`` for
each time it would run, and changes nothing. Then one summary line on standard error, with
the replay id (``--replay-id`` with it finishes an interrupted replay). Exit 0 when every run
succeeded (or a dry run), 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import UTC, date, datetime
from typing import Any

from tools.admin.runner import runner_for
from tools.admin.target import Target
from tracking_export_aws.aws import keys
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.config.versions import ConfigVersions
from tracking_export_aws.ops.replay import (
    DEFAULT_MAX_CONCURRENT,
    ReplayError,
    ReplayResult,
    Replays,
    iso,
    new_replay_id,
)
from tracking_export_aws.runs.ledger import RunLedger


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="run an export again for the scheduled times of a range of days (replay, backfill)",
        description="One run per time the export's schedule had in [--from, --to] (days in its zone), each "
        "producing the file the schedule would have produced then (name, window, rows). A replay is its own "
        "run: it never moves the window of later scheduled runs. Default: every time of the range runs "
        "again.",
    )
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--export", metavar="GUID", required=True)
    parser.add_argument("--from", dest="first", type=_day, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="last", type=_day, required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--quiet", action="store_true", help="notify no tenant (the run records say it all)")
    parser.add_argument(
        "--only",
        choices=("missing", "failed"),
        help="missing: times with no run on record (a backfill); failed: times whose every run failed",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the times it would run; change nothing")
    parser.add_argument(
        "--max-concurrent",
        type=_positive,
        default=DEFAULT_MAX_CONCURRENT,
        metavar="N",
        help=f"at most N runs at once (default {DEFAULT_MAX_CONCURRENT}): leaves the function's concurrency "
        "to the night's schedule",
    )
    parser.add_argument("--replay-id", metavar="ID", help="finish an interrupted replay: its id (stderr)")
    parser.set_defaults(handler=run)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a day YYYY-MM-DD") from None


def _positive(value: str) -> int:
    if not value.isdecimal() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return int(value)


def replays(target: Target) -> Replays:
    """The replay use case on the target's config bucket and run-history table."""
    config_bucket, table = target.need("CONFIG_BUCKET", "RUN_HISTORY_TABLE")
    dynamodb = target.client("dynamodb")
    versions = ConfigVersions(dynamodb, table)
    return Replays(
        config=ConfigStore(target.client("s3"), config_bucket, versions),
        versions=versions,
        ledger=RunLedger(dynamodb, table),
    )


def run(args: argparse.Namespace, target: Target) -> int:
    try:
        tenant = keys.validate_tenant_id(args.tenant)
        guid = keys.validate_export_guid(args.export)
        replay_id = (
            keys.validate_replay_id(args.replay_id) if args.replay_id else new_replay_id(datetime.now(UTC))
        )
    except keys.InvalidKeyError as exc:
        print(f"tracking-export-admin replay: {exc}", file=sys.stderr)
        return 2
    use_case = replays(target)
    try:
        times = use_case.plan(tenant, guid, args.first, args.last, args.only)
    except ReplayError as exc:
        print(f"tracking-export-admin replay: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        for replay in times:
            print(ReplayResult(replay.scheduled_time, "dry-run").line())
        print(
            f"dry run: {len(times)} run(s) of {tenant}/{guid} from {args.first} to {args.last}; "
            "nothing changed",
            file=sys.stderr,
        )
        return 0
    if not times:
        print(f"nothing to replay for {tenant}/{guid} from {args.first} to {args.last}", file=sys.stderr)
        return 0
    runner = runner_for(target, args.runner)
    lock = threading.Lock()
    # This command's own streams, taken now: the in-process runner sends a handler's standard
    # output to standard error while it runs, and the lines are printed from other threads.
    out, err = sys.stdout, sys.stderr

    def say(result: ReplayResult) -> None:
        with lock:
            print(result.line(), file=out, flush=True)
            if result.detail and result.outcome != "succeeded":
                print(f"  {iso(result.scheduled_time)}: {result.detail}", file=err, flush=True)

    results = use_case.run(
        tenant,
        guid,
        times,
        runner.run_export,
        replay_id=replay_id,
        quiet=args.quiet,
        max_concurrent=args.max_concurrent,
        on_result=say,
    )
    succeeded = sum(r.outcome == "succeeded" for r in results)
    print(
        f"replay {replay_id}: {succeeded} of {len(results)} run(s) succeeded"
        + (" (quiet: no tenant notified)" if args.quiet else ""),
        file=err,
    )
    return 0 if succeeded == len(results) else 1
