"""Makes the Lambda handler modules importable as Lambda finds them (``export_app``, ``ingest_app``…),
and ``tests/`` itself, for the modules both tiers share (``contract_records``)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (
    "functions/export",
    "functions/config_sync",
    "functions/ingest",
    "functions/export_steps",
    "functions/watchdog",
    "tests",
):
    path = str(ROOT / folder)
    if path not in sys.path:
        sys.path.insert(0, path)
