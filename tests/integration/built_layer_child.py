"""Run by tests/integration/test_built_layers.py in a bare interpreter (``python -I -S``) whose
``sys.path`` holds only the function folder, the built layers and the standard library: the
handlers, boto3 and botocore all come from the built layers, as in Lambda.

argv[1] is a JSON object: ``layers`` (paths), ``handlers`` ([function dir, module]),
``entry_points``, ``dev_only`` (modules that must not import), ``origins`` (modules whose file
to report), ``scenarios`` (what to run, in order: see ``run_scenario``) and ``report`` (where
to write the JSON report).

Every AWS call a handler makes is recorded by a botocore hook registered last on
``before-parameter-build`` (the parameters exactly as botocore's own validation sees them,
after its customisations), and validated with the layer's ``ParamValidator`` against the
layer's service model, whether or not the client validates (the DynamoDB client does not).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import uuid
from typing import Any

config = json.loads(sys.argv[1])
sys.path[:0] = config["layers"]

import botocore  # noqa: E402  (the layers are on sys.path only from here on)
import botocore.session  # noqa: E402
from botocore import xform_name  # noqa: E402
from botocore.validate import ParamValidator  # noqa: E402

VALIDATED = ("s3", "dynamodb")
_models = botocore.session.get_session()  # a session of its own: the layer's data loader
_validator = ParamValidator()
calls: list[dict[str, Any]] = []
_scenario = {"name": None}


def _check(service: str, operation: str, params: dict[str, Any]) -> str:
    """The layer's model's verdict on ``params``: "" when valid, else botocore's report."""
    shape = _models.get_service_model(service).operation_model(operation).input_shape
    report = _validator.validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


def _record(params: dict[str, Any], model: Any, **_: Any) -> None:
    service = model.service_model.service_name
    entry = {"scenario": _scenario["name"], "service": service, "operation": model.name}
    entry["params"] = sorted(params)
    if service in VALIDATED:
        entry["error"] = _check(service, model.name, params)
    calls.append(entry)


_create_client = botocore.session.Session.create_client


def _recording_client(self: Any, *args: Any, **kwargs: Any) -> Any:
    made = _create_client(self, *args, **kwargs)
    made.meta.events.register_last("before-parameter-build", _record)
    return made


botocore.session.Session.create_client = _recording_client  # type: ignore[method-assign]


class Context:
    function_name = "tracking-export-built-layers"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:tracking-export-built-layers"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


report: dict[str, Any] = {"sys_path_head": None, "dev_importable": [], "origins": {}, "handlers": {}}
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
    imported = importlib.import_module(name)
    report["origins"][name] = {"file": imported.__file__, "version": getattr(imported, "__version__", None)}
loader = _models.get_component("data_loader")
report["model_paths"] = [path for path in loader.search_paths if os.path.isdir(path)]
report["operations"] = {
    service: {xform_name(op): op for op in _models.get_service_model(service).operation_names}
    for service in VALIDATED
}
# The validator is not vacuous: a misspelt conditional write is refused by the same check.
report["control"] = _check(
    "s3", "CopyObject", {"Bucket": "b", "Key": "k", "CopySource": "b/k", "IfNoneMach": "*"}
)

from tracking_export_aws.aws import clients  # noqa: E402
from tracking_export_aws.runtime.settings import FunctionSettings  # noqa: E402

# Every variable a scenario gives a function: a function runs with its own only.
_FUNCTION_VARIABLES = {
    name for scenario in config["scenarios"] for env in scenario["envs"].values() for name in env
}


def _as(scenario: dict[str, Any], function: str) -> None:
    """``function``'s environment (``scenario["envs"]``) in place of every function's: what its
    handler module builds from now on is built from that."""
    for name in _FUNCTION_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(scenario["envs"][function])


def _fresh(module_name: str) -> Any:
    """The handler module with what it built dropped: built again from the environment."""
    module = sys.modules[module_name]
    module.reset()
    clients.clear_cache()
    return module


def _distributed(scenario: dict[str, Any]) -> dict[str, Any]:
    """The export handler hands the run to the state machine (moto records the execution
    without running it); the steps then run as the state machine would call them."""
    export_app, steps_app = _fresh("export_app"), _fresh("export_steps_app")
    _as(scenario, "ExportFunction")
    handed_off = export_app.handler(scenario["event"], Context())
    assert handed_off["outcome"] == "distributed", handed_off
    _as(scenario, "ExportCoordinatorFunction")
    sfn = clients.client("stepfunctions", FunctionSettings.from_env())
    execution = sfn.describe_execution(executionArn=handed_off["executionArn"])
    manifest_key = json.loads(execution["input"])["manifestKey"]
    plan = steps_app.coordinator({"step": "plan", "manifestKey": manifest_key}, Context())
    _as(scenario, "ExportWorkerFunction")
    rendered = [
        steps_app.worker({"step": "render", "manifestKey": manifest_key, "shard": shard}, Context())
        for shard in plan["shards"]
    ]
    _as(scenario, "ExportCoordinatorFunction")
    if scenario.get("fail"):
        error = {"Error": "States.TaskFailed", "Cause": "the built-layer test stops the run here"}
        ended = steps_app.coordinator(
            {"step": "fail", "manifestKey": manifest_key, "error": error}, Context()
        )
        return {"plan": plan, "rendered": rendered, "failed": ended}
    assembled = steps_app.coordinator({"step": "assemble", "manifestKey": manifest_key}, Context())
    finished = steps_app.coordinator(
        {"step": "finish", "manifestKey": manifest_key, "file": assembled}, Context()
    )
    return {"plan": plan, "rendered": rendered, "finished": finished}


def _assemble(scenario: dict[str, Any]) -> dict[str, Any]:
    """A distributed run's file from work objects large enough for a multipart upload (a copied
    part and a gathered one), then the same key again for another run: S3 refuses the second
    upload's completion (If-None-Match) and the upload is aborted. Sizes no scenario reaches
    with a few logs, so the layer's function is called directly."""
    from tracking_export_aws.aws.s3_sink import ObjectExists

    assemble = importlib.import_module(scenario["module"]).assemble_object
    _as(scenario, "ExportCoordinatorFunction")
    s3 = clients.client("s3", FunctionSettings.from_env())
    bucket, key, pieces = scenario["bucket"], scenario["key"], [tuple(p) for p in scenario["pieces"]]
    size = assemble(s3, bucket, key, pieces, content_type="text/csv", tags={}, run_id="first-run").size
    try:
        assemble(s3, bucket, key, pieces, content_type="text/csv", tags={}, run_id="another-run")
    except ObjectExists:
        return {"size": size, "second": "refused"}
    return {"size": size, "second": "written"}


def _move(scenario: dict[str, Any]) -> dict[str, Any]:
    """<archive>'s move of an object too large for one CopyObject (above 5 GiB in AWS): a copy in
    parts completed with If-None-Match, then the delete. No scenario writes 5 GiB, so the layer's
    function is called directly with a lower threshold."""
    from tracking_export_aws.aws.s3_archive import head, move_object

    _as(scenario, "ExportFunction")
    s3 = clients.client("s3", FunctionSettings.from_env())
    bucket, key = scenario["bucket"], scenario["key"]
    source = head(s3, bucket, key)
    assert source is not None, key
    moved = move_object(
        s3, bucket, source, [scenario["target"]], tags={"clean-older-than": "30"}, max_single_copy=1
    )
    return {"moved": moved, "left": head(s3, bucket, key) is not None}


def _pause_and_resume(scenario: dict[str, Any]) -> dict[str, Any]:
    """The operator's pause and resume (``tracking-export-admin``, run from an operator's machine
    on the same layer code), wired as tools/admin/pause.py wires it."""
    from tracking_export_aws.aws.pauses import PauseRecords
    from tracking_export_aws.aws.scheduler import ScheduleManager
    from tracking_export_aws.config.store import ConfigStore
    from tracking_export_aws.config.versions import ConfigVersions
    from tracking_export_aws.ops.pause import PauseService

    [function] = scenario["envs"]
    _as(scenario, function)
    settings = FunctionSettings.from_env()
    table, group = os.environ["RUN_HISTORY_TABLE"], os.environ["SCHEDULE_GROUP"]
    dynamodb = clients.client("dynamodb", settings)
    service = PauseService(
        pauses=PauseRecords(dynamodb, table),
        schedules=ScheduleManager(clients.client("scheduler", settings), group, "", "", ""),
        config=ConfigStore(
            clients.client("s3", settings), os.environ["CONFIG_BUCKET"], ConfigVersions(dynamodb, table)
        ),
    )
    paused = service.pause(scenario["tenant"], scenario["export"], reason="built-layer test", by="test")
    resumed = service.resume(scenario["tenant"], scenario["export"], by="test")
    return {"paused": paused.pause is not None, "resumed": resumed.pause is not None}


def run_scenario(scenario: dict[str, Any]) -> Any:
    """``{"name", "envs", "kind": "invoke"|"ingest"|"distributed"|"assemble"|"pause", "module",
    "function", "event"}`` (``envs``: the environment of each function the scenario runs, by
    logical id; ``assemble``: ``module`` defines assemble_object, plus ``bucket``, ``key``,
    ``pieces``; ``pause``: ``tenant``, ``export``)."""
    _scenario["name"] = scenario["name"]
    if scenario["kind"] == "distributed":
        return _distributed(scenario)
    if scenario["kind"] == "assemble":
        return _assemble(scenario)
    if scenario["kind"] == "pause":
        return _pause_and_resume(scenario)
    if scenario["kind"] == "move":
        return _move(scenario)
    module = _fresh(scenario["module"])
    [function] = scenario["envs"]
    _as(scenario, function)
    handler = getattr(module, scenario.get("function", "handler"))
    result = handler(scenario["event"], Context())
    if scenario["kind"] == "ingest":  # each continuation the function would send itself
        results = list(result["results"])
        while results[-1].get("outcome") == "continuing":
            results.extend(handler(results[-1]["next"], Context())["results"])
        return results
    return result


def _fast_parses() -> int:
    """DynamoDB answers the project's own response parser read (a botocore component hook)."""
    parsers = clients.item_read_parsers(clients.client("dynamodb", FunctionSettings.from_env()))
    return parsers.fast_answers if parsers is not None else -1


report["results"], report["fast_parses"] = {}, {}
for scenario in config["scenarios"]:
    report["results"][scenario["name"]] = run_scenario(scenario)
    report["fast_parses"][scenario["name"]] = _fast_parses()
report["calls"] = calls
with open(config["report"], "w", encoding="utf-8") as out:
    json.dump(report, out, default=str)
