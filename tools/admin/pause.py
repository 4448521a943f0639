"""``tracking-export-admin pause|resume --tenant T [--export G] [--reason TEXT] [--by WHO] [--json]``:
pause an export, or every export of a tenant, and resume it (tracking_export_aws.ops.pause,
docs/run-lifecycle.md "Pauses").

A pause disables the schedule(s) and survives every upload of definitions and tenant.json; a
delivery that reaches the export function anyway starts no run (``paused``), and the watchdog
counts nothing of the paused stretch as missed. ``resume`` lifts the pause and enables each
schedule no other pause holds. Both may be run again: they finish what an interrupted run left.
Prints one line for the pause, then one per export: ``export=<guid> schedule=<what happened>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from tools.admin.target import Target
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.pauses import PauseRecords
from tracking_export_aws.aws.scheduler import ScheduleManager
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.config.versions import ConfigVersions
from tracking_export_aws.ops.pause import PauseOutcome, PauseService


def register(subparsers: Any) -> None:
    pause = subparsers.add_parser(
        "pause",
        help="pause an export, or every export of a tenant: its schedule disabled, through every upload",
        description="Records the pause, then disables the schedule(s). Scheduled deliveries that still "
        "reach the export function start no run; the watchdog counts nothing of the pause as missed; an "
        "operator's replay still runs. Pausing what is paused keeps the first pause.",
    )
    _common(pause)
    pause.add_argument("--reason", default="", help="why (kept with the pause, shown by runs)")
    pause.set_defaults(handler=run_pause)
    resume = subparsers.add_parser(
        "resume",
        help="lift a pause: the schedule of each export no other pause holds is enabled",
        description="Lifts the export's (or the tenant's) pause, then enables the schedule of each export "
        "that no other pause holds: a tenant's resume leaves an export paused on its own paused.",
    )
    _common(resume)
    resume.set_defaults(handler=run_resume)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True, help="the tenant id")
    parser.add_argument("--export", metavar="GUID", help="one export (default: every export of the tenant)")
    parser.add_argument("--by", default=None, help="who (default: this user's name)")
    parser.add_argument("--json", action="store_true", help="JSON instead of lines")


def pause_service(target: Target) -> PauseService:
    """The pause use case on the target's run-history table, schedule group and config bucket."""
    config_bucket, table, group = target.need("CONFIG_BUCKET", "RUN_HISTORY_TABLE", "SCHEDULE_GROUP")
    dynamodb = target.client("dynamodb")
    # Pausing only changes a schedule's state, all else kept: no target or role is written.
    schedules = ScheduleManager(target.client("scheduler"), group, "", "", "")
    config = ConfigStore(target.client("s3"), config_bucket, ConfigVersions(dynamodb, table))
    return PauseService(pauses=PauseRecords(dynamodb, table), schedules=schedules, config=config)


def _ids(args: argparse.Namespace) -> tuple[str, str | None] | None:
    try:
        tenant = keys.validate_tenant_id(args.tenant)
        guid = keys.validate_export_guid(args.export) if args.export is not None else None
    except keys.InvalidKeyError as exc:
        print(f"tracking-export-admin {args.command}: {exc}", file=sys.stderr)
        return None
    return tenant, guid


def run_pause(args: argparse.Namespace, target: Target) -> int:
    ids = _ids(args)
    if ids is None:
        return 2
    outcome = pause_service(target).pause(*ids, reason=args.reason, by=args.by or getpass.getuser())
    _print(outcome, "paused", args.json)
    return 0


def run_resume(args: argparse.Namespace, target: Target) -> int:
    ids = _ids(args)
    if ids is None:
        return 2
    outcome = pause_service(target).resume(*ids, by=args.by or getpass.getuser())
    _print(outcome, "resumed", args.json)
    return 0


def _print(outcome: PauseOutcome, verb: str, as_json: bool) -> None:
    scope = f"tenant={outcome.tenant_id}" + (f" export={outcome.export_guid}" if outcome.export_guid else "")
    pause = outcome.pause
    if as_json:
        document = {
            "action": verb,
            "tenantId": outcome.tenant_id,
            "exportGuid": outcome.export_guid,
            "already": outcome.already,
            "pausedAt": keys.instant_key(pause.paused_at) if pause else None,
            "reason": pause.reason if pause else None,
            "by": pause.by if pause else None,
            "schedules": [{"exportGuid": guid, "schedule": what} for guid, what in outcome.schedules],
        }
        print(json.dumps(document, indent=2))
        return
    if pause is None:
        print(f"{scope}: no pause on record")
    else:
        state = ("already " if outcome.already and verb == "paused" else "") + verb
        reason = f" reason={json.dumps(pause.reason)}" if pause.reason else ""
        print(
            f"{scope}: {state} (paused at {keys.instant_key(pause.paused_at)} by {pause.by or '-'}{reason})"
        )
    for guid, what in outcome.schedules:
        print(f"export={guid} schedule={what}")
