"""The built layers are what Lambda loads: the handlers import and run from them alone.

Both layers are built with their own Makefiles (as `sam build` runs them): the shared layer
as is, the deps layer for this machine (``LAMBDA_PLATFORM=``: the same requirements, wheels
for the host instead of arm64 / CPython 3.13) so that it can be imported here. The packages
the Lambda Python runtime provides (boto3 and what it needs) go into a third directory, at
the versions the test venv runs. Then, in a fresh interpreter started with ``-I -S`` (no
site-packages: neither the venv's dev packages nor the editable install of the project),
with only [function dir, shared layer, deps layer, runtime packages] ahead of the standard
library on ``sys.path`` (Lambda's order: /var/task, /opt/python, the runtime), every handler
of functions/*/ is imported and the export handler runs one export against the local
endpoints.

pip may download from PyPI; the three directories are built once per test session. Marked
``built_layers`` so that it can be deselected (``-m "not built_layers"``).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from daily_export import EXPECTED_FILE, put_daily_tenant

ROOT = Path(__file__).resolve().parents[2]
# Every module of every function folder (the handlers: export_app, config_sync_app, ingest_app…).
HANDLER_FILES = sorted(ROOT.glob("functions/*/*.py"))
# What the Lambda Python runtime ships besides the standard library (and what
# layers/deps/Makefile therefore removes from the deps layer).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")
DEV_ONLY = ("moto", "pytest", "tools", "yaml", "hypothesis")

pytestmark = pytest.mark.built_layers

EXPECTED_KEY = "tenants/acme/daily/tracking_log_20261128_1.csv"


# Runs in the bare interpreter: argv[1] is a JSON object with the path entries and events.
CHILD = r"""
import importlib, json, sys, uuid

config = json.loads(sys.argv[1])
report = {"sys_path_head": None, "dev_importable": [], "origins": {}, "handlers": {}}
sys.path[:0] = config["layers"]
for function_dir, module_name in config["handlers"]:
    sys.path.insert(0, function_dir)  # as /var/task: the function's own code comes first
    report["sys_path_head"] = sys.path[: 1 + len(config["layers"])]
    module = importlib.import_module(module_name)
    names = config["entry_points"].get(module_name, ["handler"])
    ready = all(callable(getattr(module, name, None)) for name in names)
    report["handlers"][module_name] = {"file": module.__file__, "callable": ready}
    sys.path.remove(function_dir)
for name in config["dev_only"]:
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    report["dev_importable"].append(name)
for name in config["origins"]:
    report["origins"][name] = importlib.import_module(name).__file__


class Context:
    function_name = "tracking-export-built-layers"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tracking-export-built-layers"
    aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self):
        return 600_000


export_app = sys.modules["export_app"]
report["result"] = export_app.handler(config["event"], Context())
with open(config["report"], "w", encoding="utf-8") as out:
    json.dump(report, out)
"""


@dataclasses.dataclass(frozen=True)
class BuiltLayers:
    shared: Path
    deps: Path
    runtime: Path


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


def _make(layer: str, target: str, *variables: str) -> None:
    _run(["make", "-s", "-C", str(ROOT / "layers" / layer), target, *variables])


@pytest.fixture(scope="session")
def built_layers(tmp_path_factory: pytest.TempPathFactory) -> BuiltLayers:
    """The two layers built by their Makefiles, and the runtime-provided packages."""
    base = tmp_path_factory.mktemp("built-layers")
    _make("shared", "build-SharedLayer", f"ARTIFACTS_DIR={base / 'shared'}")
    _make(
        "deps",
        "build-DepsLayer",
        f"ARTIFACTS_DIR={base / 'deps'}",
        "LAMBDA_PLATFORM=",
        f"PYTHON={sys.executable}",
    )
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME_PROVIDED]
    runtime = base / "runtime"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--no-deps",
            "--target",
            str(runtime),
            *pins,
        ]
    )
    return BuiltLayers(shared=base / "shared" / "python", deps=base / "deps" / "python", runtime=runtime)


def test_the_handlers_run_from_the_built_layers_alone(
    built_layers: BuiltLayers, stack: Any, records: Any, tmp_path: Path
) -> None:
    put_daily_tenant(stack, records)
    layers = [str(built_layers.shared), str(built_layers.deps), str(built_layers.runtime)]
    # Every `Handler: module.function` of the template, by module: each must be callable.
    entry_points: dict[str, list[str]] = {}
    for module, function in re.findall(r"Handler: (\w+)\.(\w+)", (ROOT / "template.yaml").read_text()):
        entry_points.setdefault(module, []).append(function)
    report_path = tmp_path / "report.json"
    config = {
        "layers": layers,
        "handlers": [[str(path.parent), path.stem] for path in HANDLER_FILES],
        "entry_points": entry_points,
        "dev_only": DEV_ONLY,
        "origins": [
            "tracking_export",
            "tracking_export_aws",
            "pydantic",
            "aws_lambda_powertools",
            "boto3",
            "botocore",
        ],
        "event": json.loads((ROOT / "events" / "scheduler-payload.json").read_text(encoding="utf-8")),
        "report": str(report_path),
    }
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # no ~/.aws of the machine's user
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "tracking-export",
        "POWERTOOLS_METRICS_NAMESPACE": "TrackingExport",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        **stack.env("ExportFunction"),
    }

    child = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CHILD, json.dumps(config)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert child.returncode == 0, child.stderr
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["dev_importable"] == []
    assert report["sys_path_head"][1:] == layers
    handlers = {"export_app", "config_sync_app", "ingest_app", "export_steps_app", "watchdog_app"}
    assert handlers == set(entry_points)
    assert set(entry_points) <= set(report["handlers"])
    for path in HANDLER_FILES:
        imported = report["handlers"][path.stem]
        assert Path(imported["file"]) == path
        assert imported["callable"], f"{path}: a template Handler is missing"
    origins = {name: Path(path) for name, path in report["origins"].items()}
    for name in ("tracking_export", "tracking_export_aws"):
        assert origins[name].is_relative_to(built_layers.shared), origins[name]
    for name in ("pydantic", "aws_lambda_powertools"):
        assert origins[name].is_relative_to(built_layers.deps), origins[name]
    for name in ("boto3", "botocore"):
        assert origins[name].is_relative_to(built_layers.runtime), origins[name]
    result = report["result"]
    assert result["outcome"] == "succeeded", result
    assert (result["objectKey"], result["rows"]) == (EXPECTED_KEY, 2)
    assert stack.object_keys() == [EXPECTED_KEY]
    assert stack.read(EXPECTED_KEY) == EXPECTED_FILE


def test_the_bare_interpreter_sees_no_site_packages(built_layers: BuiltLayers) -> None:
    """The isolation the test above relies on: ``-I -S`` alone puts no site-packages on sys.path."""
    probe = subprocess.run(
        [sys.executable, "-I", "-S", "-c", "import json, sys; print(json.dumps(sys.path))"],
        capture_output=True,
        text=True,
        check=True,
    )
    path = json.loads(probe.stdout)
    assert path and not [entry for entry in path if "site-packages" in entry or entry in ("", ".")]
    assert not [entry for entry in path if entry.startswith(str(ROOT))]
