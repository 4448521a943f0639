"""``python -m tools.erase_learner --tenant acme --learner 42``: erase one learner's personal data.

The operator's command line of :mod:`tracking_export_aws.ingest.erasure` (the library stays in
the layer: the ingestion function erases on an EventBridge event through it). It reads the
functions' environment (tables, buckets, topic, endpoints).
"""

from __future__ import annotations

import argparse
import json
import sys

from tracking_export_aws.ingest.erasure import ErasureRequest, InvalidErasureRequest
from tracking_export_aws.runtime import wiring
from tracking_export_aws.runtime.settings import IngestFunctionSettings


def main(argv: list[str] | None = None) -> int:
    """Erase the learner; prints the report as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.erase_learner",
        description="Erase one learner's personal data from a tenant (mode from tenant.json's "
        "keepAnonymousStatistics). Reads TRACKING_TABLE, EXPORT_BUCKET, CONFIG_BUCKET, TOPIC_ARN "
        "and the endpoints from the environment; prints the report as JSON.",
    )
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--learner", required=True, type=int)
    parser.add_argument(
        "--no-notify", action="store_true", help="do not publish the learner-erased notification"
    )
    args = parser.parse_args(argv)
    try:
        request = ErasureRequest.from_event({"erase": {"tenantId": args.tenant, "learnerId": args.learner}})
    except InvalidErasureRequest as exc:
        parser.error(str(exc))
    eraser = wiring.learner_eraser(IngestFunctionSettings.from_env(), notify=not args.no_notify)
    json.dump(eraser.erase(request).as_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
