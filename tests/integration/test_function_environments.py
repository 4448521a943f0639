"""Every function of template.yaml starts with only the environment the template gives it.

Each handler (every AWS::Serverless::Function's, the recoveries' ``on_failure`` and both
distributed steps included) runs in a fresh process whose environment is the template's
Globals plus the function's own variables, intrinsic functions resolved to names and ARNs of
the right shape (tools/template_functions.py), plus what Lambda itself provides (region,
credentials) and the endpoint URLs the template declares empty for the local stack. On a
sample event each must get past its configuration: no SettingsError, no KeyError on the
environment, no import error. The stack's resources do not exist, so the AWS calls after that
fail, which is fine here: the other tests run the functions' paths.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.template_functions import Deployment

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = Deployment.of(ROOT / "template.yaml")
EVENTS = ROOT / "events"
CONFIGURATION_ERRORS = {"SettingsError", "KeyError", "ImportError", "ModuleNotFoundError", "ValidationError"}

CHILD = """
import importlib, json, sys, traceback
config = json.loads(sys.argv[1])
sys.path[:0] = config["path"]
report = {"error": None}
try:
    module = importlib.import_module(config["module"])
    handler = getattr(module, config["attribute"])
    class Context:
        function_name = config["function"]
        memory_limit_in_mb = 512
        invoked_function_arn = config["arn"]
        aws_request_id = "fresh-process-request"
        def get_remaining_time_in_millis(self):
            return 60_000
    try:
        handler(config["event"], Context())
    except Exception as exc:
        report["error"] = type(exc).__name__
        report["message"] = str(exc)[:500]
        report["trace"] = traceback.format_exc()[-3000:]
    # The model the handler reads, from the same environment.
    module.SETTINGS[config["attribute"]].from_env()
    report["settings"] = "ok"
except Exception as exc:
    report["error"] = type(exc).__name__
    report["message"] = str(exc)[:500]
    report["trace"] = traceback.format_exc()[-3000:]
print("REPORT " + json.dumps(report))
"""


def _event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


# A sample event per handler (module.attribute), as its trigger sends it.
SAMPLE_EVENTS: dict[str, Any] = {
    "export_app.handler": _event("scheduler-payload.json"),
    "export_app.on_failure": {
        "version": "1.0",
        "requestContext": {"requestId": "r-1", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": _event("scheduler-payload.json"),
        "responsePayload": {"errorType": "TimeoutError", "errorMessage": "Task timed out"},
    },
    "export_steps_app.worker": {
        "step": "render",
        "manifestKey": "_work/acme/daily-tracking-log/1-1/manifest.json",
        "shard": {"index": 0, "firstDay": None, "lastDay": None, "last": True},
    },
    "export_steps_app.coordinator": {
        "step": "plan",
        "manifestKey": "_work/acme/daily-tracking-log/1-1/manifest.json",
    },
    "config_sync_app.handler": _event("s3-config-upload-valid.json"),
    "ingest_app.handler": _event("ingest-file-dropped.json"),
    "ingest_app.on_failure": {
        "version": "1.0",
        "requestContext": {"requestId": "r-2", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": _event("ingest-file-dropped.json"),
        "responsePayload": {"errorType": "ClientError", "errorMessage": "SlowDown"},
    },
    # The hourly ScheduleV2 sets no Input: the pass reads nothing of its event.
    "watchdog_app.handler": {},
    # Its hourly schedule's Input.
    "stuck_runs_app.handler": {"action": "sweep"},
}


def test_every_handler_has_a_sample_event() -> None:
    assert set(DEPLOYMENT.functions().values()) == set(SAMPLE_EVENTS)


@pytest.mark.parametrize("function", sorted(DEPLOYMENT.functions()))
def test_function_starts_with_the_template_environment(function: str, moto_endpoint: str) -> None:
    handler = DEPLOYMENT.functions()[function]
    module, attribute = handler.rsplit(".", 1)
    env = {
        **DEPLOYMENT.environment(function),
        # Lambda's own variables, and the local endpoints the template declares empty for this.
        "AWS_REGION": DEPLOYMENT.region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB": moto_endpoint,
    }
    config = {
        "path": [str(ROOT / DEPLOYMENT.code_folder(function)), str(ROOT / "layers/shared/python")],
        "module": module,
        "attribute": attribute,
        "function": function,
        "arn": DEPLOYMENT.get_att(function, "Arn"),
        "event": SAMPLE_EVENTS[handler],
    }
    done = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, json.dumps(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    reports = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert reports, f"{function}: no report (exit {done.returncode}): {done.stderr[-3000:]}"
    report = json.loads(reports[-1].removeprefix("REPORT "))
    assert report["error"] not in CONFIGURATION_ERRORS, f"{function}: {report}"
    assert report.get("settings") == "ok", f"{function}: {report}"
