"""The built layers are what Lambda loads: the handlers import and run from them alone, on the
SDK the deps layer ships, and every S3 and DynamoDB call they make is valid for that SDK.

Both layers are built with their own Makefiles (as `sam build` runs them): the shared layer
as is, the deps layer for this machine (``LAMBDA_PLATFORM=``: the same hashed requirements,
wheels for the host instead of arm64 / CPython 3.13) so that it can be imported here. The deps
layer holds boto3, botocore and s3transfer at the versions uv.lock pins, which this test's own
venv runs too. Then tests/integration/built_layer_child.py, in a fresh interpreter started with
``-I -S`` (no site-packages: neither the venv's packages nor the editable install of the
project), with only [function dir, shared layer, deps layer] ahead of the standard library on
``sys.path`` (Lambda's order: /var/task, /opt/python, the runtime), imports every handler of
functions/*/ and runs the scenarios below against the local endpoints: a single-path export,
config-sync (an upload, a removal, an invalid upload over an older valid version), a multipart
assembly, a distributed export that succeeds and one that fails (the steps called as the
state machine calls them), the run recovery, ingestion (new records, then newer versions of
existing ones), retention, an operator's pause and resume, a watchdog pass and an erasure.

Every AWS call is recorded with its parameters and validated against the layer's own botocore
service model. The operations are cross-checked with a static list taken from the shared
layer's source (every call of an S3 or DynamoDB client method, by name, with the keywords it
passes): an operation the code uses but no scenario made fails the test.

pip may download from PyPI; the layers are built once per test session. Marked
``built_layers`` so that it can be deselected (``-m "not built_layers"``).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from daily_export import DAILY_XML, EXPECTED_FILE, put_daily_tenant

from tools.local_endpoints import state_machine_definition

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("built_layer_child.py")
# Every module of every function folder (the handlers: export_app, config_sync_app, ingest_app…).
HANDLER_FILES = sorted(ROOT.glob("functions/*/*.py"))
SDK = ("boto3", "botocore", "s3transfer")
DEV_ONLY = ("moto", "pytest", "tools", "yaml", "hypothesis", "aws_xray_sdk", "wrapt")
ACCOUNT, REGION = "123456789012", "us-east-1"  # conftest.py's stack
# Parameters that make a write conditional: a call site naming one must be made with it.
CONDITIONS = frozenset(("IfNoneMatch", "IfMatch", "ConditionExpression", "CopySourceIfMatch"))

pytestmark = pytest.mark.built_layers

EXPECTED_KEY = "tenants/acme/daily/tracking_log_20261128_1.csv"
ARCHIVED_XML = (
    DAILY_XML.replace('guid="daily-tracking-log"', 'guid="archived"')
    .replace("<folderPath>daily</folderPath>", "<folderPath>archived</folderPath>")
    .replace(
        "</moveToFolder>",
        "</moveToFolder><generateEndFile><fileName>done_%i</fileName><fileContent>ok</fileContent>"
        "</generateEndFile><archive/><cleanFolder><cleanOlderThan>30</cleanOlderThan></cleanFolder>",
    )
)
MOVED_KEY, MOVED_TARGET = "tenants/acme/moved/old.csv", "tenants/acme/moved/archive/old.csv"


@dataclasses.dataclass(frozen=True)
class BuiltLayers:
    shared: Path
    deps: Path


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


def _make(layer: str, target: str, *variables: str) -> None:
    _run(["make", "-s", "-C", str(ROOT / "layers" / layer), target, *variables])


@pytest.fixture(scope="session")
def built_layers(tmp_path_factory: pytest.TempPathFactory) -> BuiltLayers:
    """The two layers built by their Makefiles."""
    base = tmp_path_factory.mktemp("built-layers")
    _make("shared", "build-SharedLayer", f"ARTIFACTS_DIR={base / 'shared'}")
    _make(
        "deps",
        "build-DepsLayer",
        f"ARTIFACTS_DIR={base / 'deps'}",
        "LAMBDA_PLATFORM=",
        f"PYTHON={sys.executable}",
    )
    return BuiltLayers(shared=base / "shared" / "python", deps=base / "deps" / "python")


# ---------------------------------------------------------------- what the code calls, statically


@dataclasses.dataclass(frozen=True)
class CallSite:
    method: str  # the client method, e.g. copy_object
    keywords: frozenset[str]  # the parameters it names literally
    where: str  # file:line


def client_call_sites(layer: Path, methods: set[str]) -> list[CallSite]:
    """Every call ``x.<method>(...)`` in the layer's modules whose method is one of ``methods``
    (client methods), plus the operations named in ``get_paginator("...")`` and
    ``generate_presigned_url("...")``."""
    sites = []
    for path in sorted(layer.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            where = f"{path.relative_to(layer)}:{node.lineno}"
            keywords = frozenset(k.arg for k in node.keywords if k.arg is not None)
            name = node.func.attr
            if name in ("get_paginator", "generate_presigned_url"):
                first = node.args[0] if node.args else None
                operation = first.value if isinstance(first, ast.Constant) else None
                assert isinstance(operation, str), f"{where}: {name} of a computed operation"
                params = next((k.value for k in node.keywords if k.arg == "Params"), None)
                named = frozenset(
                    key.value
                    for key in (params.keys if isinstance(params, ast.Dict) else [])
                    if isinstance(key, ast.Constant) and isinstance(key.value, str)
                )
                sites.append(CallSite(operation, named, where))
            elif name in methods:
                sites.append(CallSite(name, keywords, where))
    return sites


def test_the_static_list_finds_calls_by_method_and_keywords(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "def f(s3, db):\n"
        "    s3.copy_object(Bucket='b', Key='k', CopySource='b/k', IfNoneMatch='*')\n"
        "    db.update_item(**kwargs)\n"
        "    s3.get_paginator('list_objects_v2')\n"
        "    s3.generate_presigned_url('get_object', Params={'Bucket': 'b', 'Key': 'k'})\n"
        "    ordinary.copy(x)\n",
        encoding="utf-8",
    )
    sites = client_call_sites(tmp_path, {"copy_object", "update_item", "list_objects_v2", "get_object"})
    assert [(s.method, sorted(s.keywords), s.where) for s in sites] == [
        ("copy_object", ["Bucket", "CopySource", "IfNoneMatch", "Key"], "m.py:2"),
        ("update_item", [], "m.py:3"),
        ("list_objects_v2", [], "m.py:4"),
        ("get_object", ["Bucket", "Key"], "m.py:5"),
    ]


# ---------------------------------------------------------------- the run


def _s3_event(bucket: str, key: str, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": event_name,
                "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
            }
        ]
    }


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def _newer(record: dict[str, Any], updated_at: str) -> dict[str, Any]:
    """``record`` again, as a later version (its ``updatedAt``, wherever the record keeps it)."""
    changed = json.loads(json.dumps(record))
    for holder in (changed, *[v for v in changed.values() if isinstance(v, dict)]):
        if "updatedAt" in holder:
            holder["updatedAt"] = updated_at
    return changed


def _module_defining(layer: Path, function: str) -> str:
    """The dotted name of the layer module that defines ``function``."""
    (path,) = [p for p in layer.rglob("*.py") if f"\ndef {function}(" in p.read_text(encoding="utf-8")]
    return ".".join(path.relative_to(layer).with_suffix("").parts)


def _scenarios(
    stack: Any, records: Any, ingest_bucket: str, state_machine_arn: str, shared_layer: Path
) -> list[dict[str, Any]]:
    """What the child runs, in order (each one's calls are recorded under its name)."""
    scheduler_payload = json.loads((ROOT / "events" / "scheduler-payload.json").read_text(encoding="utf-8"))
    spread_xml = DAILY_XML.replace('guid="daily-tracking-log"', 'guid="{guid}"')
    for guid in ("spread", "spread-fails", "gone"):
        stack.put_definition("acme", guid, spread_xml.format(guid=guid))
    gone = "tenants/acme/exports/gone.xml"
    stack.s3.delete_object(Bucket=stack.config_bucket, Key=gone)
    catalogue = records.catalogue("acme")
    tracking = next(r for r in catalogue if "updatedAt" in json.dumps(r))
    stack.s3.put_object(
        Bucket=ingest_bucket,
        Key="tenants/acme/incoming/new.jsonl",
        Body=_jsonl([records.log("acme", 9101, "2026-11-27T10:00:00Z", 90)]),
    )
    stack.s3.put_object(
        Bucket=ingest_bucket,
        Key="tenants/acme/incoming/newer.jsonl",
        Body=_jsonl([_newer(tracking, "2026-11-27T12:00:00Z")]),
    )
    stack.put_tenant("acme", {"timezone": "Europe/Paris", "retentionDays": 3650})
    # A definition uploaded before config-sync kept pointers, then broken: the last valid version
    # is looked for among the object's older versions.
    legacy = stack.put_definition("acme", "legacy", spread_xml.format(guid="legacy"))
    stack.put_definition("acme", "legacy", "<export-config><export guid='legacy'>")
    # Work objects for the multipart assembly: one large enough to be copied as a part.
    big, small = 5 * 1024 * 1024 + 10, 100
    stack.s3.put_object(Bucket=stack.export_bucket, Key="_work/built-layers/big", Body=b"a" * big)
    stack.s3.put_object(Bucket=stack.export_bucket, Key="_work/built-layers/small", Body=b"b" * small)
    run = {"tenantId": "acme", "exportGuid": "daily-tracking-log"}
    # <archive>: two runs of an export with an end file; the second moves the first's pair.
    stack.put_definition("acme", "archived", ARCHIVED_XML)
    archived = {"tenantId": "acme", "exportGuid": "archived"}
    stack.s3.put_object(
        Bucket=stack.export_bucket,
        Key=MOVED_KEY,
        Body=b"c" * 100,
        Metadata={"export-run": "acme/moved/2026-11-27T01:00:00.000000Z"},
    )
    ingest = {"INGEST_MAX_BYTES_PER_INVOCATION": "67108864", "INGEST_CONTINUATION": "return"}
    # Each scenario runs each function it calls with that function's template environment on
    # this stack (``envs``), a test's own values over it; config-sync as on the local stack
    # (moto runs no ingest function to ask for a retention).
    stack.state_machine_arn = state_machine_arn
    sync = {"ConfigSyncFunction": stack.env("ConfigSyncFunction", INGEST_FUNCTION_NAME="")}
    return [
        {
            "name": "export",
            "kind": "invoke",
            "module": "export_app",
            "envs": {"ExportFunction": stack.env("ExportFunction")},
            "event": scheduler_payload,
        },
        {
            "name": "config-sync upload",
            "kind": "invoke",
            "module": "config_sync_app",
            "envs": sync,
            "event": _s3_event(stack.config_bucket, "tenants/acme/exports/spread.xml"),
        },
        {
            "name": "config-sync removal",
            "kind": "invoke",
            "module": "config_sync_app",
            "envs": sync,
            "event": _s3_event(stack.config_bucket, gone, "ObjectRemoved:Delete"),
        },
        {
            "name": "config-sync invalid upload",
            "kind": "invoke",
            "module": "config_sync_app",
            "envs": sync,
            "event": _s3_event(stack.config_bucket, legacy),
        },
        {
            "name": "multipart assembly",
            "kind": "assemble",
            "envs": {"ExportCoordinatorFunction": stack.env("ExportCoordinatorFunction")},
            "module": _module_defining(shared_layer, "assemble_object"),
            "bucket": stack.export_bucket,
            "key": "tenants/acme/assembled.csv",
            "pieces": [["_work/built-layers/big", big], ["_work/built-layers/small", small]],
        },
        {
            "name": "distributed",
            "kind": "distributed",
            "envs": _distributed_envs(stack),
            "event": {"tenantId": "acme", "exportGuid": "spread", "scheduledTime": "2026-11-28T01:00:00Z"},
        },
        {
            "name": "distributed failure",
            "kind": "distributed",
            "envs": _distributed_envs(stack),
            "fail": True,
            "event": {
                "tenantId": "acme",
                "exportGuid": "spread-fails",
                "scheduledTime": "2026-11-28T01:00:00Z",
            },
        },
        {
            "name": "run recovery",
            "kind": "invoke",
            "module": "export_app",
            "function": "on_failure",
            "envs": {"RunRecoveryFunction": stack.env("RunRecoveryFunction")},
            "event": {
                "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
                "requestPayload": {**run, "scheduledTime": "2026-11-29T01:00:00Z"},
                "responsePayload": {"errorType": "Sandbox.Timedout", "errorMessage": "timed out"},
            },
        },
        {
            "name": "ingest new records",
            "kind": "ingest",
            "module": "ingest_app",
            "envs": {"IngestFunction": stack.env("IngestFunction", **ingest)},
            "event": _s3_event(ingest_bucket, "tenants/acme/incoming/new.jsonl"),
        },
        {
            "name": "ingest newer versions",
            "kind": "ingest",
            "module": "ingest_app",
            "envs": {"IngestFunction": stack.env("IngestFunction", **ingest)},
            "event": _s3_event(ingest_bucket, "tenants/acme/incoming/newer.jsonl"),
        },
        {
            "name": "retention",
            "kind": "invoke",
            "module": "ingest_app",
            "envs": {"IngestFunction": stack.env("IngestFunction", **ingest)},
            "event": _s3_event(stack.config_bucket, "tenants/acme/tenant.json"),
        },
        {
            "name": "pause and resume",
            "kind": "pause",
            # tracking-export-admin reads the functions' variables (config-sync's has them all).
            "envs": sync,
            "tenant": "acme",
            "export": "daily-tracking-log",
        },
        {
            "name": "archive day 1",
            "kind": "invoke",
            "module": "export_app",
            "envs": {"ExportFunction": stack.env("ExportFunction")},
            "event": {**archived, "scheduledTime": "2026-11-28T01:00:00Z"},
        },
        {
            "name": "archive day 2",
            "kind": "invoke",
            "module": "export_app",
            "envs": {"ExportFunction": stack.env("ExportFunction")},
            "event": {**archived, "scheduledTime": "2026-11-29T01:00:00Z"},
        },
        {
            "name": "archive in parts",
            "kind": "move",
            "envs": {"ExportFunction": stack.env("ExportFunction")},
            "bucket": stack.export_bucket,
            "key": MOVED_KEY,
            "target": MOVED_TARGET,
        },
        {
            "name": "watchdog",
            "kind": "invoke",
            "module": "watchdog_app",
            "envs": {"WatchdogFunction": stack.env("WatchdogFunction", WATCHDOG_MAX_STARTS="5")},
            "event": {},
        },
        {
            # The stuck-run sweep's Query of the ByStatus index (nothing is stuck here).
            "name": "stuck runs sweep",
            "kind": "invoke",
            "module": "stuck_runs_app",
            "envs": {"StuckRunsFunction": stack.env("StuckRunsFunction")},
            "event": {"action": "sweep"},
        },
        {
            "name": "erasure",
            "kind": "invoke",
            "module": "ingest_app",
            "envs": {"IngestFunction": stack.env("IngestFunction", **ingest)},
            "event": {"erase": {"tenantId": "acme", "learnerId": 1}},
        },
    ]


def _distributed_envs(stack: Any) -> dict[str, dict[str, str]]:
    """The export function handing every run to the state machine, and the two steps."""
    return {
        "ExportFunction": stack.env("ExportFunction", MAX_ROWS_PER_WORKER="1"),
        "ExportCoordinatorFunction": stack.env("ExportCoordinatorFunction"),
        "ExportWorkerFunction": stack.env("ExportWorkerFunction"),
    }


@pytest.fixture
def ingest_bucket(stack: Any) -> Any:
    name = f"it-ingest-{uuid.uuid4().hex[:10]}"
    stack.s3.create_bucket(Bucket=name)
    # The template's IngestBucket on this stack: the ingest function's INGEST_BUCKET names it.
    stack.extra_buckets[name] = "IngestBucket"
    yield name
    for item in stack.s3.list_objects_v2(Bucket=name).get("Contents", []):
        stack.s3.delete_object(Bucket=name, Key=item["Key"])
    stack.s3.delete_bucket(Bucket=name)


@pytest.fixture
def state_machine_arn(stack: Any) -> Any:
    """The export state machine in moto server, which records executions without running them."""
    sfn = stack.client("stepfunctions")
    functions = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:built-layers"
    definition = state_machine_definition(
        ROOT,
        {"WorkerFunctionArn": f"{functions}-worker", "CoordinatorFunctionArn": f"{functions}-coordinator"},
    )
    arn = sfn.create_state_machine(
        name=f"built-layers-{uuid.uuid4().hex[:8]}",
        definition=definition,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/built-layers",
        type="STANDARD",
    )["stateMachineArn"]
    yield arn
    sfn.delete_state_machine(stateMachineArn=arn)


@pytest.fixture
def child_report(
    built_layers: BuiltLayers,
    stack: Any,
    records: Any,
    ingest_bucket: str,
    state_machine_arn: str,
    tmp_path: Path,
) -> dict[str, Any]:
    """The child's report after it ran every scenario from the built layers alone."""
    put_daily_tenant(stack, records)
    layers = [str(built_layers.shared), str(built_layers.deps)]
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
        "origins": ["tracking_export", "tracking_export_aws", "pydantic", "aws_lambda_powertools", *SDK],
        "scenarios": _scenarios(stack, records, ingest_bucket, state_machine_arn, built_layers.shared),
        "report": str(report_path),
    }
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # no ~/.aws of the machine's user (credentials, models)
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "tracking-export",
        "POWERTOOLS_METRICS_NAMESPACE": "TrackingExport",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "AWS_REGION": REGION,
    }
    child = subprocess.run(
        [sys.executable, "-I", "-S", str(CHILD), json.dumps(config)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == 0, child.stderr[-5000:]
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    report["layers"] = layers
    report["entry_points"] = entry_points
    return report


def test_the_handlers_run_from_the_built_layers_alone(
    built_layers: BuiltLayers, child_report: dict[str, Any], stack: Any
) -> None:
    report = child_report
    assert report["dev_importable"] == []
    assert report["sys_path_head"][1:] == report["layers"]
    handlers = {
        "export_app",
        "config_sync_app",
        "ingest_app",
        "export_steps_app",
        "watchdog_app",
        "stuck_runs_app",
    }
    assert handlers == set(report["entry_points"])
    assert set(report["entry_points"]) <= set(report["handlers"])
    for path in HANDLER_FILES:
        imported = report["handlers"][path.stem]
        assert Path(imported["file"]) == path
        assert imported["callable"], f"{path}: a template Handler is missing"
    origins = {name: Path(found["file"]) for name, found in report["origins"].items()}
    for name in ("tracking_export", "tracking_export_aws"):
        assert origins[name].is_relative_to(built_layers.shared), origins[name]
    for name in ("pydantic", "aws_lambda_powertools", *SDK):
        assert origins[name].is_relative_to(built_layers.deps), origins[name]
    results = report["results"]
    result = results["export"]
    assert result["outcome"] == "succeeded", result
    assert (result["objectKey"], result["rows"]) == (EXPECTED_KEY, 2)
    assert stack.read(EXPECTED_KEY) == EXPECTED_FILE
    assert results["distributed"]["finished"]["outcome"] == "succeeded", results["distributed"]
    assert results["distributed failure"]["failed"]["outcome"] == "failed", results["distributed failure"]
    assert results["run recovery"]["outcome"] == "failed", results["run recovery"]
    assert [r["outcome"] for r in results["ingest new records"]] == ["ingested"]
    assert [r["outcome"] for r in results["ingest newer versions"]] == ["ingested"]
    assert results["retention"]["results"][0]["outcome"] == "retention-applied"
    assert results["erasure"]["learnerFound"] is True, results["erasure"]
    assert results["pause and resume"] == {"paused": True, "resumed": True}
    assert results["watchdog"]["exports"] >= 1, results["watchdog"]
    assert results["stuck runs sweep"] == {"ended": []}, results["stuck runs sweep"]
    assert results["multipart assembly"] == {"size": 5 * 1024 * 1024 + 110, "second": "refused"}
    assert [results[f"archive day {n}"]["outcome"] for n in (1, 2)] == ["succeeded", "succeeded"]
    assert stack.object_keys("tenants/acme/archived/") == [
        "tenants/acme/archived/archive/done_1",
        "tenants/acme/archived/archive/tracking_log_20261128_1.csv",
        "tenants/acme/archived/done_2",
        "tenants/acme/archived/tracking_log_20261129_2.csv",
    ]
    assert results["archive in parts"] == {"moved": MOVED_TARGET, "left": False}
    assert stack.read(MOVED_TARGET) == b"c" * 100
    # The export's Query pages went through the project's response parser, hooked into the
    # layer's botocore (clients.ItemReadParser).
    assert report["fast_parses"]["export"] > 0, report["fast_parses"]


def test_the_layer_ships_the_sdk_the_tests_run(child_report: dict[str, Any]) -> None:
    """boto3, botocore and s3transfer in the layer are the versions this venv runs (both from
    uv.lock), and botocore reads its service models from the layer, nowhere else."""
    origins = child_report["origins"]
    deps = Path(child_report["layers"][1])
    for name in SDK:
        assert origins[name]["version"] == importlib.metadata.version(name), name
    assert [Path(path) for path in child_report["model_paths"]] == [deps / "botocore" / "data"]


def test_every_call_validates_against_the_layers_service_models(child_report: dict[str, Any]) -> None:
    calls = child_report["calls"]
    validated = [c for c in calls if "error" in c]
    assert validated, "no S3 or DynamoDB call was recorded"
    invalid = [
        f"{c['scenario']}: {c['service']}.{c['operation']}: {c['error']}" for c in validated if c["error"]
    ]
    assert invalid == []
    assert "Unknown parameter in input" in child_report["control"]
    # The conditional writes the code depends on, as recorded.
    made = {(c["operation"], p) for c in validated for p in c["params"]}
    for conditional in (
        ("PutObject", "IfNoneMatch"),
        ("CompleteMultipartUpload", "IfNoneMatch"),
        ("CopyObject", "IfNoneMatch"),
        ("UpdateItem", "ConditionExpression"),
        ("PutItem", "ConditionExpression"),
    ):
        assert conditional in made, conditional


def test_every_operation_the_code_uses_was_made_and_validated(
    built_layers: BuiltLayers, child_report: dict[str, Any]
) -> None:
    """Each call site of the shared layer: some recorded call made its operation, with the
    conditions the site names (a conditional write is not hidden behind a plain one)."""
    by_method = {
        method: (service, operation)
        for service, operations in child_report["operations"].items()
        for method, operation in operations.items()
    }
    sites = client_call_sites(built_layers.shared, set(by_method))
    assert sites
    made: dict[tuple[str, str], list[set[str]]] = {}
    for call in child_report["calls"]:
        if "error" in call:
            made.setdefault((call["service"], call["operation"]), []).append(set(call["params"]))
    never = []
    for site in sites:
        operation = by_method[site.method]
        conditions = site.keywords & CONDITIONS
        if not any(conditions <= params for params in made.get(operation, [])):
            never.append(f"{site.where}: {'.'.join(operation)} with {sorted(conditions)}")
    assert not never, "used in the code, never made by a scenario:\n" + "\n".join(never)


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
