"""``python -m tools.load DATASET.jsonl --table NAME``: load a JSONL dataset into the tracking table.

The command line of :mod:`tracking_export_aws.ingest.loader` (the library stays in the layer: the
ingestion function writes through it); prints the load report as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tracking_export_aws.aws.clients import client
from tracking_export_aws.ingest.loader import load_jsonl


def main(argv: list[str] | None = None) -> int:
    """Load the dataset; exit status 1 with ``--strict`` when a record was rejected."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.load",
        description="Load a JSONL dataset into the tracking table.",
    )
    parser.add_argument("dataset", type=Path, help="JSONL file (data-contract.md)")
    parser.add_argument("--table", required=True, help="tracking table name")
    parser.add_argument(
        "--endpoint-url", default=None, help="DynamoDB endpoint (moto server, dynalite); AWS if absent"
    )
    parser.add_argument("--region", default=None)
    parser.add_argument("--workers", type=int, default=4, help="parallel BatchWriteItem calls")
    parser.add_argument(
        "--retention-days", type=int, default=None, help="logs expire this many days after startedAt"
    )
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a record was rejected")
    args = parser.parse_args(argv)
    # A bulk load, as the ingest function's loader: no client-side parameter validation.
    dynamodb = client("dynamodb", endpoint_url=args.endpoint_url, region=args.region, validated=False)
    report = load_jsonl(
        args.dataset, args.table, dynamodb, workers=args.workers, retention_days=args.retention_days
    )
    json.dump(report.as_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 1 if args.strict and report.rejected_count else 0


if __name__ == "__main__":
    sys.exit(main())
