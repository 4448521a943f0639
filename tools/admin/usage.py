"""``tracking-export-admin usage [--tenant T] [--month YYYY-MM] [--json]``: rows, bytes and read
units per tenant and export for a month, the basis of a bill (tracking_export_aws.ops.usage).

One line per export, then the tenant's total (``export=*``)::

    tenant=acme export=nightly runs=31 succeeded=30 failed=1 replays=0 rows=1204 bytes=88410 \
readUnits=412.5 runsWithoutReadUnits=0

The month is in UTC (runs scheduled from its first day 00:00 UTC to the next month's); the
default is the current month. Every tenant: those with a definition in the config bucket.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from tools.admin.target import Target
from tracking_export_aws.aws import keys
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.ops.usage import ExportUsage, Usage, month_range


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "usage",
        help="rows, bytes and read units per tenant and export for a month (the basis of a bill)",
        description="Sums the month's finished runs (scheduled and replayed, succeeded and failed) through "
        "the ByTenant index. Read units are what DynamoDB reported to each run. The month is in UTC.",
    )
    parser.add_argument("--tenant", help="one tenant (default: every tenant with a definition)")
    parser.add_argument("--month", metavar="YYYY-MM", help="default: the current month (UTC)")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, target: Target) -> int:
    month = args.month or f"{datetime.now(UTC):%Y-%m}"
    try:
        month_range(month)
        tenants = [keys.validate_tenant_id(args.tenant)] if args.tenant else None
    except (ValueError, keys.InvalidKeyError) as exc:
        print(f"tracking-export-admin usage: {exc}", file=sys.stderr)
        return 2
    (table,) = target.need("RUN_HISTORY_TABLE")
    if tenants is None:
        (config_bucket,) = target.need("CONFIG_BUCKET")
        store = ConfigStore(target.client("s3"), config_bucket)
        tenants = sorted({tenant for tenant, _ in store.exports()})
    found = Usage(target.client("dynamodb"), table).of_tenants(tenants, month)
    if args.json:
        document = {
            "month": month,
            "tenants": [
                {**usage.total.as_dict(), "exports": [e.as_dict() for e in usage.exports]} for usage in found
            ],
        }
        print(json.dumps(document, indent=2))
        return 0
    for usage in found:
        for export in usage.exports:
            print(_line(export))
        print(_line(usage.total))
    return 0


def _line(usage: ExportUsage) -> str:
    fields = usage.as_dict()
    return f"tenant={fields.pop('tenantId')} export={fields.pop('exportGuid') or '*'} " + " ".join(
        f"{name}={value}" for name, value in fields.items()
    )
