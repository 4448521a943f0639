"""One shard worker's render of a whole window, by the code of a given tree, in this fresh
process (``distributed.py``).

    python bench/worker_child.py TREE TENANT RUN_NUMBER RUN_AT DEFINITION_B64

``TREE`` is this checkout or an extracted older revision; the environment must make the
project importable from there (``revisions.code_environment``) and hold the worker's
settings (its ``ShardWorkerSettings``; ``AwsSettings`` in older revisions). The worker (and
its clients) is made first; then it
renders every day of the window as one shard (``ShardWorker.render`` of a prepared
``RunPlan``, or ``Steps.render`` of a manifest in revisions before runs/plan.py), timed with
``time.process_time()`` (DynamoDB and S3 are other processes). ``RUN_NUMBER`` gives each
render its own work prefix. Prints one JSON line: rows, CPU and wall seconds, the shard
object's key. Exits with an error if any project module was loaded from outside ``TREE``.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from revisions import foreign_modules

# A render to time (it returns the rows) and the key of the shard it writes.
Render = tuple[Callable[[], int], str]


def _import(*names: str) -> Any:
    """The first of these ``module:attribute`` that imports: module paths moved between the
    baseline revision and this one (issue 16's packages by role)."""
    for name in names:
        module, _, attribute = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ModuleNotFoundError, AttributeError):
            continue
    raise ImportError(f"none of {names} imports")


def _settings() -> Any:
    settings_class = _import(
        "tracking_export_aws.runtime.settings:ShardWorkerSettings",
        "tracking_export_aws.runtime.settings:AwsSettings",
        "tracking_export_aws.settings:AwsSettings",
    )
    return settings_class.from_env(dict(os.environ))


def _plan_render(tenant: str, run_number: int, run_at: datetime, data: bytes) -> Render:
    """The render of a prepared plan by a ``ShardWorker`` (runs/plan.py and after)."""
    from tracking_export.window import compute_window
    from tracking_export_aws.config.definitions import checked_definition
    from tracking_export_aws.runs.manifest import WorkArea
    from tracking_export_aws.runs.payloads import Shard
    from tracking_export_aws.runs.plan import ClaimRef, RunPlan
    from tracking_export_aws.runtime.wiring import shard_worker

    worker = shard_worker(_settings())
    definition = checked_definition(data, "bench")
    plan = RunPlan(
        tenant_id=tenant,
        export_guid="bench",
        scheduled_time=run_at,
        run_at=run_at,
        claim=ClaimRef(run_number=run_number, attempt=1, token="bench", holder=None, started_at=run_at),
        claimed_at=run_at,
        window=compute_window(definition.parameters, ZoneInfo("UTC"), run_at, None),
        recipients=(),
        timezone="UTC",
        previous_success_start=None,
        definition=data,
        definition_version=None,
        object_key=f"tenants/{tenant}/bench.csv",
        requested_key=f"tenants/{tenant}/bench.csv",
        end_file=None,
        content_type="text/csv",
        tags={},
        download_link=False,
        delete_empty_file=False,
        route=None,
    )
    shard = Shard(index=0, last=True)
    return lambda: worker.render(plan, shard).rows, WorkArea.of(plan).shard_key(0)


def _manifest_render(tenant: str, run_number: int, run_at: datetime, data: bytes) -> Render:
    """The render of a manifest by ``Steps`` (revisions before runs/plan.py)."""
    manifest_class = _import(
        "tracking_export_aws.runs.manifest:Manifest", "tracking_export_aws.distributed:Manifest"
    )
    distributed_steps = _import(
        "tracking_export_aws.runtime.wiring:distributed_steps", "tracking_export_aws.wiring:distributed_steps"
    )
    steps = distributed_steps(_settings())
    manifest = manifest_class(
        os.environ["EXPORT_BUCKET"],
        f"_work/{tenant}/bench/{run_number}/",
        {
            "tenantId": tenant,
            "exportGuid": "bench",
            "timezone": "UTC",
            "runAt": run_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "definition": base64.b64encode(data).decode(),
        },
    )
    shard = {"index": 0, "firstDay": None, "lastDay": None, "last": True}
    return lambda: int(steps.render(manifest, shard)["rows"]), manifest.shard_key(0)


def main() -> None:
    tree, tenant, run_number, run_at_text, definition = sys.argv[1:6]
    run_at = datetime.fromisoformat(run_at_text)
    data = base64.b64decode(definition)
    try:
        importlib.import_module("tracking_export_aws.runs.plan")
    except ModuleNotFoundError:
        render, key = _manifest_render(tenant, int(run_number), run_at, data)
    else:
        render, key = _plan_render(tenant, int(run_number), run_at, data)
    cpu, wall = time.process_time(), time.perf_counter()
    rows = render()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    wrong = foreign_modules(Path(tree))
    if wrong:
        sys.exit(f"modules not from {tree}: " + "; ".join(wrong))
    print(json.dumps({"rows": rows, "cpu_s": cpu, "wall_s": wall, "key": key}))


if __name__ == "__main__":
    main()
