"""``python -m tools.apply_retention --tenant acme``: re-apply a tenant's retention to its stored logs.

The operator's command line of :mod:`tracking_export_aws.ingest.retention` (the library stays in
the layer: the ingest function applies it when a tenant.json is uploaded). It reads the
functions' environment (tables, buckets, endpoints) and prints a summary as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

from tracking_export_aws.runtime import wiring
from tracking_export_aws.runtime.settings import IngestFunctionSettings


def main(argv: list[str] | None = None) -> int:
    """Re-apply the retention of tenant.json (environment as the functions'); prints a summary."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.apply_retention",
        description="Rewrite expiresAt on a tenant's logs from tenant.json's retentionDays.",
    )
    parser.add_argument("--tenant", required=True)
    args = parser.parse_args(argv)
    summary = wiring.retention_service(IngestFunctionSettings.from_env()).apply(args.tenant)
    json.dump(summary.as_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
