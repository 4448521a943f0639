"""Runs an older revision's ``bench/export_e2e.py`` and times its export, for ``export_e2e.py --baseline``.

    python bench/baseline_driver.py OLD_ROOT RESULT_FD REPEAT -- OLD_BENCH_ARGS...

``OLD_ROOT`` is that revision extracted (``git archive``) with ``.local`` reachable; the
process's working directory and ``TRACKING_EXPORT_ROOT`` must be ``OLD_ROOT`` (its
``repo_root()``). The driver puts ``OLD_ROOT/bench``, ``OLD_ROOT/layers/shared/python`` and
``OLD_ROOT`` first on ``sys.path`` (this checkout is installed editable in .venv, so a plain
import would find it instead), checks that every ``tracking_export*``/``tools`` module it
uses was loaded from there, wraps the old ``ExportService.run`` and runs the old bench script
with ``runpy``. The old script
loads its own data into its own dynalite and moto server, and calls ``run`` once; the wrapper
then waits for commands on stdin, one line each:

- ``run``: one timed export, ``time.process_time()`` and ``time.perf_counter()`` around the
  old ``ExportService.run`` exactly as ``export_e2e.py`` times the current one. The first run
  is the old bench's own request; run i > 1 puts the same definition under the guid
  ``{guid}-{i}`` into the old bench's config bucket first (not timed), so that every run is a
  full first run of a deltaMode export over the same window;
- ``stop`` (or end of input): no more runs; the old script then finishes with the first run's
  result.

It answers on the file descriptor ``RESULT_FD``, one JSON object a line:
``{"ready": true, "service": FILE}`` once the old bench reached its export (data loaded,
floors read; FILE is where its ``ExportService`` came from), then one object per run (rows,
bytes, sha256, cpu_s, wall_s, outcome). The old script's own prints go to stdout as
usual (``export_e2e.py`` keeps them in a log and shows them only on failure).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import runpy
import sys
import time
from pathlib import Path
from typing import Any, TextIO

# The project's own top-level packages: each must come from the old revision.
PROJECT_PACKAGES = ("tracking_export", "tracking_export_aws", "tools")


def foreign_modules(old_root: Path) -> list[str]:
    """The project's modules loaded from anywhere but ``old_root`` (empty when all is well)."""
    wrong = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in PROJECT_PACKAGES:
            continue
        file = getattr(module, "__file__", None)
        if file is None:  # a namespace package has no file; its modules are checked one by one
            continue
        if not Path(file).resolve().is_relative_to(old_root):
            wrong.append(f"{name} from {file}")
    return wrong


def check_old_code(old_root: Path, when: str) -> None:
    """Exit loudly if any project module was imported from elsewhere (e.g. this checkout)."""
    wrong = foreign_modules(old_root)
    if wrong:
        sys.exit(f"baseline driver: {when}, modules not from the baseline {old_root}: " + "; ".join(wrong))


class TimedRuns:
    """Replaces the old ``ExportService.run``: its first call runs the export on command."""

    def __init__(self, original: Any, keys: Any, old_root: Path, repeat: int, results: TextIO) -> None:
        self.original = original
        self.keys = keys
        self.old_root = old_root
        self.repeat = repeat
        self.results = results
        self.called = False

    def send(self, answer: dict[str, Any]) -> None:
        self.results.write(json.dumps(answer) + "\n")
        self.results.flush()

    def __call__(self, service: Any, request: Any) -> dict[str, Any]:
        if self.called:
            sys.exit("baseline driver: the old bench called ExportService.run twice; expected once")
        self.called = True
        check_old_code(self.old_root, "at the export")
        self.send({"ready": True, "service": sys.modules[type(service).__module__].__file__})
        first: dict[str, Any] | None = None
        for number in range(1, self.repeat + 1):
            command = sys.stdin.readline().strip()
            if command != "run":
                break
            guid = request.export_guid if number == 1 else f"{request.export_guid}-{number}"
            if number > 1:
                self.copy_definition(service, request.tenant_id, request.export_guid, guid)
            this_request = dataclasses.replace(request, export_guid=guid)
            started, cpu_started = time.perf_counter(), time.process_time()
            result = self.original(service, this_request)
            wall_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
            # A dict before runs/outcomes.py, a typed outcome (pydantic) since.
            fields = result if isinstance(result, dict) else result.model_dump(mode="json")
            self.send(
                {
                    "run": number,
                    "guid": guid,
                    "outcome": fields.get("outcome"),
                    "error": fields.get("error"),
                    "rows": fields.get("rows"),
                    "bytes": fields.get("bytes"),
                    "sha256": fields.get("sha256"),
                    "cpu_s": cpu_s,
                    "wall_s": wall_s,
                }
            )
            if first is None:
                first = result
        if first is None:
            sys.exit("baseline driver: stopped before any run")
        return first

    def copy_definition(self, service: Any, tenant: str, guid: str, new_guid: str) -> None:
        """Store the definition of ``guid`` again as ``new_guid`` (its guid attribute changed)."""
        config = service.config
        old_key, new_key = (
            self.keys.export_config_key(tenant, guid),
            self.keys.export_config_key(tenant, new_guid),
        )
        body = config.s3.get_object(Bucket=config.bucket, Key=old_key)["Body"].read().decode("utf-8")
        attribute = f'guid="{guid}"'
        if body.count(attribute) != 1:
            sys.exit(f"baseline driver: expected one {attribute} in s3://{config.bucket}/{old_key}")
        renamed = body.replace(attribute, f'guid="{new_guid}"')
        config.s3.put_object(Bucket=config.bucket, Key=new_key, Body=renamed.encode("utf-8"))


def main() -> None:
    if len(sys.argv) < 5 or sys.argv[4] != "--":
        sys.exit(__doc__.split("\n\n")[1])
    old_root = Path(sys.argv[1]).resolve()
    results = open(int(sys.argv[2]), "w", encoding="utf-8")  # noqa: SIM115 (open for the whole run)
    repeat = int(sys.argv[3])
    script = old_root / "bench" / "export_e2e.py"
    if not script.is_file():
        sys.exit(f"baseline driver: {script} does not exist; the baseline revision has no export bench")
    # As if the old script were run from its own checkout: its directory first (in place of
    # this driver's), then its layer and root (where later revisions keep ``tools``) ahead of
    # this checkout's editable install, a meta path finder that only answers for the names
    # the path entries did not find.
    sys.path[0:1] = [str(old_root / "bench"), str(old_root / "layers" / "shared" / "python"), str(old_root)]
    # The baseline's own module paths: flat before the packages by role (issue 16), so a
    # revision from either side of that move can be the baseline.
    package = old_root / "layers" / "shared" / "python" / "tracking_export_aws"
    flat = (package / "export_service.py").is_file()
    export_service = importlib.import_module(
        "tracking_export_aws.export_service" if flat else "tracking_export_aws.runs.service"
    )
    keys = importlib.import_module("tracking_export_aws.keys" if flat else "tracking_export_aws.aws.keys")
    check_old_code(old_root, "after the first import")
    service_class = export_service.ExportService
    timed = TimedRuns(service_class.run, keys, old_root, repeat, results)

    def run(service: Any, request: Any) -> dict[str, Any]:
        return timed(service, request)

    service_class.run = run
    sys.argv = [str(script), *sys.argv[5:]]
    runpy.run_path(str(script), run_name="__main__")
    check_old_code(old_root, "after the old bench")


if __name__ == "__main__":
    main()
