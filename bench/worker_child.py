"""One shard worker's render of a whole window, by the code of a given tree, in this fresh
process (``distributed.py``).

    python bench/worker_child.py TREE TENANT WORK_PREFIX RUN_AT DEFINITION_B64

``TREE`` is this checkout or an extracted older revision; the environment must make the
project importable from there (``revisions.code_environment``) and hold the worker's
settings (``AwsSettings.from_env``). The steps (and their clients) are made first; then
``Steps.render`` renders every day of the window as one shard, timed with
``time.process_time()`` (DynamoDB and S3 are other processes). Prints one JSON line: rows,
CPU and wall seconds, the shard object's key. Exits with an error if any project module was
loaded from outside ``TREE``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from revisions import foreign_modules


def _import(*names: str) -> Any:
    """The first of these ``module:attribute`` that imports: module paths moved between the
    baseline revision and this one (issue 16's packages by role)."""
    for name in names:
        module, _, attribute = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except ModuleNotFoundError:
            continue
    raise ImportError(f"none of {names} imports")


def main() -> None:
    tree, tenant, prefix, run_at, definition = sys.argv[1:6]
    manifest_class = _import(
        "tracking_export_aws.runs.manifest:Manifest", "tracking_export_aws.distributed:Manifest"
    )
    settings_class = _import(
        "tracking_export_aws.runtime.settings:AwsSettings", "tracking_export_aws.settings:AwsSettings"
    )
    distributed_steps = _import(
        "tracking_export_aws.runtime.wiring:distributed_steps", "tracking_export_aws.wiring:distributed_steps"
    )
    steps = distributed_steps(settings_class.from_env(dict(os.environ)))
    manifest = manifest_class(
        os.environ["EXPORT_BUCKET"],
        prefix,
        {
            "tenantId": tenant,
            "exportGuid": "bench",
            "timezone": "UTC",
            "runAt": run_at,
            "definition": definition,
        },
    )
    cpu, wall = time.process_time(), time.perf_counter()
    result = steps.render(manifest, {"index": 0, "firstDay": None, "lastDay": None, "last": True})
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    wrong = foreign_modules(Path(tree))
    if wrong:
        sys.exit(f"modules not from {tree}: " + "; ".join(wrong))
    print(
        json.dumps({"rows": int(result["rows"]), "cpu_s": cpu, "wall_s": wall, "key": manifest.shard_key(0)})
    )


if __name__ == "__main__":
    main()
