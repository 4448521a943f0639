"""``tracking-export-admin offboard --tenant T [--dry-run] [--yes] [--force] [--json]``: remove
everything of one tenant, nothing of another (tracking_export_aws.ops.offboard).

Counts per kind first; ``--dry-run`` stops there. Without ``--yes`` the operator types the
tenant id to confirm. A run or an ingestion in progress makes it refuse (naming it) unless
``--force``. A second offboarding finds nothing and says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tools.admin.target import Target
from tracking_export_aws.aws.keys import InvalidKeyError, validate_tenant_id
from tracking_export_aws.aws.table_scan import DEFAULT_SEGMENTS
from tracking_export_aws.ops.offboard import KINDS, LABELS, Inventory, Offboarding, TenantBusy, TenantStores


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "offboard",
        help="remove every schedule, configuration version, file, tracking item and run record of a tenant",
        description="Removes, in this order: the tenant's schedules, every version of its configuration, "
        "its export and end files, its ingest bucket files, its tracking table items and its run history. "
        "Counts first. Nothing of another tenant is touched. Reads both tables with a Scan "
        "(docs/operations.md: cost).",
    )
    parser.add_argument("--tenant", required=True, help="the tenant id (^[a-z0-9][a-z0-9-]{1,62}$)")
    parser.add_argument("--dry-run", action="store_true", help="print the counts; change nothing")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--force", action="store_true", help="go on even with a run or an ingestion in progress"
    )
    parser.add_argument("--json", action="store_true", help="JSON instead of lines")
    parser.add_argument(
        "--segments",
        type=int,
        default=DEFAULT_SEGMENTS,
        metavar="N",
        help=f"parallel Scan segments per table (default {DEFAULT_SEGMENTS})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, target: Target) -> int:
    try:
        tenant = validate_tenant_id(args.tenant)
    except InvalidKeyError as exc:
        print(f"tracking-export-admin offboard: --tenant: {exc}", file=sys.stderr)
        return 2
    offboarding = Offboarding(offboard_stores(target, segments=args.segments), tenant)
    survey = offboarding.survey()
    if args.json and (args.dry_run or survey.empty):
        print(json.dumps({"dryRun": args.dry_run, "survey": survey.as_dict()}, indent=2))
    elif not args.json:
        _print_inventory(f"tenant {tenant} ({target.source}) has:", survey)
    if survey.empty and not survey.in_progress:
        if not args.json:
            print(f"tenant {tenant}: nothing to remove")
        return 0
    if args.dry_run:
        if not args.json:
            print("dry run: nothing changed")
        return 0
    if survey.in_progress and not args.force:
        _refuse(tenant, survey.in_progress)
        return 1
    if not args.yes and not _confirmed(tenant):
        print(f"not confirmed: nothing of tenant {tenant} was removed", file=sys.stderr)
        return 1

    def removed(kind: str, parts: dict[str, int]) -> None:
        if not args.json:
            print(f"removed {LABELS[kind]}: {sum(parts.values()):,}{_parts(parts)}", flush=True)

    try:
        result = offboarding.remove(force=args.force, on_removed=removed)
    except TenantBusy as exc:  # started since the survey
        _refuse(tenant, exc.in_progress)
        return 1
    if args.json:
        print(
            json.dumps({"dryRun": False, "survey": survey.as_dict(), "removed": result.as_dict()}, indent=2)
        )
        return 0
    for note in result.notes:
        print(f"note: {note}")
    for busy in result.in_progress:
        print(
            f"in progress when forced: {busy}: what it writes after this stays; "
            "offboard again once it has ended"
        )
    print(
        f"tenant {tenant}: {result.total:,} removed "
        f"({result.read_units:,.1f} read units for the table scans); "
        "offboard again to check that nothing is left"
    )
    return 0


def offboard_stores(target: Target, *, segments: int = DEFAULT_SEGMENTS) -> TenantStores:
    """Where tenants' things are on the target: the clients and resource names offboarding uses."""
    config_bucket, export_bucket, tracking_table, history_table, group = target.need(
        "CONFIG_BUCKET", "EXPORT_BUCKET", "TRACKING_TABLE", "RUN_HISTORY_TABLE", "SCHEDULE_GROUP"
    )
    return TenantStores(
        scheduler=target.client("scheduler"),
        schedule_group=group,
        s3=target.client("s3"),
        config_bucket=config_bucket,
        export_bucket=export_bucket,
        ingest_bucket=target.ingest_bucket(),
        dynamodb=target.client("dynamodb"),
        tracking_table=tracking_table,
        run_history_table=history_table,
        segments=max(1, segments),
    )


def _print_inventory(title: str, inventory: Inventory) -> None:
    print(title)
    width = max(len(LABELS[kind]) for kind in KINDS)
    for kind in KINDS:
        parts = inventory.parts.get(kind, {})
        print(f"  {LABELS[kind]:<{width}}  {inventory.count(kind):>12,}{_parts(parts)}")
    print(f"  {'total':<{width}}  {inventory.total:>12,}")
    print(f"  (the table scans read {inventory.read_units:,.1f} read units)")
    for note in inventory.notes:
        print(f"  note: {note}")
    for busy in inventory.in_progress:
        print(f"  in progress: {busy}")


def _parts(parts: dict[str, int]) -> str:
    if len(parts) < 2:
        return ""
    return "  (" + ", ".join(f"{name} {count:,}" for name, count in sorted(parts.items())) + ")"


def _refuse(tenant: str, in_progress: tuple[str, ...]) -> None:
    print(f"tenant {tenant} has work in progress; nothing was removed:", file=sys.stderr)
    for busy in in_progress:
        print(f"  {busy}", file=sys.stderr)
    print("wait for it to end (its lease), or pass --force", file=sys.stderr)


def _confirmed(tenant: str) -> bool:
    """The operator types the tenant id (on standard error, so --json stays clean)."""
    print(
        f"type the tenant id ({tenant}) to remove all of the above for good: ",
        end="",
        file=sys.stderr,
        flush=True,
    )
    answer = sys.stdin.readline()
    return answer.strip() == tenant
