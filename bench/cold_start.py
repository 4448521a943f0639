"""Cold start of each function from the built layers, before and after, in the same run.

    python bench/cold_start.py [--runs N] [--baseline REV|none]

What Lambda's init phase runs for each function: import of the handler module (Powertools,
pydantic, the project's modules, boto3) and the first settings and wiring (what the handler
builds on its first invocation, ``_service()``, ``_get_coordinator()``…: its settings model
from the environment, boto3 clients with their service models). Each measure is a fresh
``python3.13 -I -S`` (CPython 3.13, the runtime's Python; no site-packages) whose ``sys.path``
holds the function folder and the layer directories only, with the function's variables
(template.yaml's values, then events/env.local.json's) and ``AWS_LAMBDA_FUNCTION_NAME`` set
(so that Powertools behaves as in Lambda: the old Tracer patches botocore). The time is taken
inside the process, from before the import to after the wiring; interpreter start-up is the
same on every side and left out.

Sides, each built by its own Makefiles (``make build-*Layer``, wheels for this machine):
- ``before``: the handlers and layers of REV (default ``c8ed320``, the code when issue 17 was
  filed), from a ``git worktree`` of it: no bytecode, the Tracer, boto3 stripped from the deps
  layer; the SDK then comes from a third directory standing for the runtime's bundled one (the
  same versions as this checkout's lock, compiled by 3.13, as a runtime would ship it); a
  function REV did not have yet (the watchdog) has no "before";
- ``no bytecode``: this checkout's layers built with ``LAYER_BYTECODE=none``;
- ``after``: this checkout's layers as ``sam build`` makes them (checked-hash bytecode);
- ``unchecked``: the same with ``unchecked-hash`` bytecode (the source never read).
Each process runs with ``-B``: Lambda's /opt is read-only, so no process may leave compiled
modules behind for the next. Runs are interleaved (side 1, side 2, ... then again) so that
the machine's load drifts over all sides alike. Prints each function's median (and min-max)
wall and CPU milliseconds per side, the ratios to ``before``, and the load average before and
after (CPU time is the steadier figure on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.serve import template_values
from tools.template_tables import load_template

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "c8ed320"
# Function -> (folder, handler module, what its init builds: the first of these names the
# module has, so that a baseline from before issue 16 builds its one ``Steps`` for the
# coordinator); export and run recovery share an init, measured with the export's variables.
FUNCTIONS = {
    "ExportFunction": ("export", "export_app", ["_service", "_get_service"]),
    "ConfigSyncFunction": ("config_sync", "config_sync_app", ["_service", "_get_service"]),
    "IngestFunction": ("ingest", "ingest_app", ["_get_service"]),
    "ExportCoordinatorFunction": ("export_steps", "export_steps_app", ["_get_coordinator", "_get_steps"]),
    "WatchdogFunction": ("watchdog", "watchdog_app", ["_watchdog", "_get_watchdog"]),
}
SDK = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")

CHILD = r"""
import importlib, json, sys, time
layers, module_name, init = json.loads(sys.argv[1])
sys.path[:0] = layers
start, cpu = time.perf_counter(), time.process_time()
module = importlib.import_module(module_name)
getattr(module, next(name for name in init if hasattr(module, name)))()
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"wall": wall * 1000, "cpu": cpu * 1000, "boto3": sys.modules["boto3"].__file__}))
"""


def _run(command: list[str], **kwargs: object) -> None:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def _python313() -> str:
    found = subprocess.run([str(ROOT / ".ci" / "find-python"), "3.13"], capture_output=True, text=True)
    if found.returncode != 0:
        raise SystemExit(found.stderr)
    return found.stdout.strip()


def build_layers(checkout: Path, into: Path, python: str, bytecode: str | None) -> list[Path]:
    """[shared, deps] built by ``checkout``'s Makefiles for this machine."""
    variables = [] if bytecode is None else [f"LAYER_BYTECODE={bytecode}"]
    for layer, target in (("shared", "build-SharedLayer"), ("deps", "build-DepsLayer")):
        extra = ["LAMBDA_PLATFORM=", f"PYTHON={python}"] if layer == "deps" else []
        directory = str(checkout / "layers" / layer)
        _run(["make", "-s", "-C", directory, target, f"ARTIFACTS_DIR={into / layer}", *extra, *variables])
    return [into / "shared" / "python", into / "deps" / "python"]


def runtime_sdk(into: Path, python: str) -> Path:
    """The SDK the Lambda runtime would provide to the old layers: this lock's versions, compiled."""
    pins = []
    for line in (ROOT / "layers" / "deps" / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.split(" ")[0].partition("==")
        if name in SDK:
            pins.append(f"{name}=={version}")
    target = into / "runtime"
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), *pins])
    _run([python, "-m", "compileall", "-q", str(target)])
    return target


def measure(
    python: str, function: str, functions: Path, layers: list[Path], env: dict[str, str]
) -> tuple[float, float]:
    """(wall, CPU) milliseconds of one cold start of ``functions``' handler on ``layers``.
    ``-B``: the layers are read-only in Lambda, so a process never leaves compiled modules
    behind for the next one."""
    folder, module, init = FUNCTIONS[function]
    path = [str(functions / folder), *map(str, layers)]
    done = subprocess.run(
        [python, "-I", "-S", "-B", "-c", CHILD, json.dumps([path, module, init])],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{function} failed to start:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["wall"]), float(result["cpu"])


def function_env(function: str, home: Path) -> dict[str, str]:
    local = json.loads((ROOT / "events" / "env.local.json").read_text(encoding="utf-8"))[function]
    variables = {**template_values(load_template(ROOT / "template.yaml"), function), **local}
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{function}",
        "LAMBDA_TASK_ROOT": "/var/task",
        "POWERTOOLS_SERVICE_NAME": "tracking-export",
        "POWERTOOLS_METRICS_NAMESPACE": "TrackingExport",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        **{name: str(value) for name, value in variables.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per function and side")
    parser.add_argument("--baseline", default=BASELINE, help="revision of 'before', or none")
    args = parser.parse_args()
    python = _python313()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        base = Path(scratch)
        # Each side: (its functions/ folder, its layers).
        sides: dict[str, tuple[Path, list[Path]]] = {}
        if args.baseline != "none":
            checkout = base / "baseline"
            _run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(checkout), args.baseline])
            try:
                old_layers = build_layers(checkout, base / "before", python, None)
                shutil.copytree(checkout / "functions", base / "before" / "functions")
                sides["before"] = (base / "before" / "functions", [*old_layers, runtime_sdk(base, python)])
            finally:
                _run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)])
        functions = ROOT / "functions"
        sides["no bytecode"] = (functions, build_layers(ROOT, base / "plain", python, "none"))
        sides["after"] = (functions, build_layers(ROOT, base / "after", python, "checked-hash"))
        sides["unchecked"] = (functions, build_layers(ROOT, base / "unchecked", python, "unchecked-hash"))
        home = base / "home"
        home.mkdir()
        wall: dict[tuple[str, str], list[float]] = {(f, s): [] for f in FUNCTIONS for s in sides}
        cpu: dict[tuple[str, str], list[float]] = {(f, s): [] for f in FUNCTIONS for s in sides}
        started = time.monotonic()
        for _ in range(args.runs):
            for function in FUNCTIONS:
                env = function_env(function, home)
                for side, (handlers, layers) in sides.items():
                    if not (handlers / FUNCTIONS[function][0]).is_dir():
                        continue  # a function the baseline did not have yet
                    spent_wall, spent_cpu = measure(python, function, handlers, layers, env)
                    wall[(function, side)].append(spent_wall)
                    cpu[(function, side)].append(spent_cpu)
        elapsed = time.monotonic() - started
        shutil.rmtree(home)
    load_after = os.getloadavg()
    print(f"cold start: import + first wiring, {args.runs} fresh processes each, {python}")
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after ({elapsed:.0f} s of runs)")
    for title, times in (("wall ms", wall), ("CPU ms", cpu)):
        print(f"{title + ': median (min-max)':<28}" + "".join(f"{side:>20}" for side in sides))
        for function in FUNCTIONS:
            cells = []
            for side in sides:
                values = times[(function, side)]
                cells.append(
                    f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"
                    if values
                    else "-"
                )
            print(f"{function:<28}" + "".join(f"{cell:>20}" for cell in cells))
        if "before" in sides:
            print(f"  {title}, median / before's median:")
            for function in FUNCTIONS:
                if not times[(function, "before")]:
                    continue
                before = statistics.median(times[(function, "before")])
                ratios = ", ".join(
                    f"{side} {statistics.median(times[(function, side)]) / before:.2f}"
                    for side in sides
                    if side != "before"
                )
                print(f"    {function}: {ratios}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
