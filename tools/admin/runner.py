"""Work that must run as the functions run it: one small interface, two ways.

- :class:`LambdaRunner` (a deployed stack): Lambda ``Invoke``, synchronous, so the answer (the
  run's outcome) is known before the caller goes on. No retry of the call: a retried invoke
  would be a second delivery (harmless, the run ledger recognises it, but slow).
- :class:`InProcessRunner` (the local stack): the handler itself, loaded from functions/ as
  Lambda would load it, with that function's environment (tools/local_run.py does the same).
  Its log lines go to standard error, so this command's own output stays readable.

Both answer what the function returned, or raise :class:`RunnerError`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import boto3
from botocore.config import Config

from tools.admin.target import EXPORT_FUNCTION, RECOVERY_FUNCTION, Target, TargetError
from tracking_export_aws.aws import clients

ROOT = Path(__file__).resolve().parents[2]
# The export function's timeout (template.yaml) and a margin: a synchronous invoke answers
# when the run is done.
INVOKE_READ_TIMEOUT_SECONDS = 910
# Handlers called in this process emit no metric and no trace: this is not Lambda.
IN_PROCESS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "tracking-export",
    "POWERTOOLS_METRICS_NAMESPACE": "TrackingExport",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
# What a handler keeps of this process's environment: how to sign, where the AWS config is.
PASSED_THROUGH = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "HOME",
    "PATH",
    "TZ",
)


_IN_PROCESS = threading.Lock()


class RunnerError(RuntimeError):
    """The function raised (or could not be invoked); the message names it and the error."""


class Runner(Protocol):
    """Runs an export delivery, or ends a run Lambda gave up on, as the functions do."""

    @property
    def name(self) -> str: ...

    def run_export(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The export function's answer to this payload (``outcome``: succeeded, failed,
        duplicate or distributed)."""
        ...

    def end_run(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The run recovery function's answer to this Lambda destination record."""
        ...


@dataclass
class LambdaRunner:
    """Invokes the deployed functions (``EXPORT_FUNCTION_ARN``, ``RUN_RECOVERY_FUNCTION_ARN``)."""

    target: Target
    lambda_client: Any = None
    name: str = "lambda"

    def __post_init__(self) -> None:
        if self.lambda_client is None:
            config = Config(
                read_timeout=INVOKE_READ_TIMEOUT_SECONDS,
                connect_timeout=10,
                retries={"total_max_attempts": 1},
            )
            make: Any = boto3.session.Session().client
            self.lambda_client = make(
                "lambda", region_name=self.target.region, endpoint_url=self.target.endpoint_url, config=config
            )

    def run_export(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        (function,) = self.target.need("EXPORT_FUNCTION_ARN")
        return self._invoke(function, payload)

    def end_run(self, record: Mapping[str, Any]) -> dict[str, Any]:
        (function,) = self.target.need("RUN_RECOVERY_FUNCTION_ARN")
        return self._invoke(function, record)

    def _invoke(self, function: str, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = self.lambda_client.invoke(
                FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
            )
        except Exception as exc:  # the message names the function; the caller keeps the input
            raise RunnerError(f"{function}: could not invoke it: {exc}") from exc
        body = response["Payload"].read()
        answer = json.loads(body) if body else None
        if response.get("FunctionError"):
            error = answer if isinstance(answer, dict) else {}
            raise RunnerError(
                f"{function} raised {error.get('errorType', response['FunctionError'])}: "
                f"{str(error.get('errorMessage', ''))[:500]}"
            )
        if not isinstance(answer, dict):
            raise RunnerError(f"{function} answered {str(answer)[:200]!r}, not a JSON object")
        return answer


@dataclass
class InProcessRunner:
    """Calls the handlers of functions/export/export_app.py in this process (the local stack)."""

    target: Target
    root: Path = ROOT
    name: str = "in-process"
    _module: ModuleType | None = field(default=None, init=False, repr=False)

    def run_export(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        return self._call(EXPORT_FUNCTION, "handler", payload)

    def end_run(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return self._call(RECOVERY_FUNCTION, "on_failure", record)

    def _call(self, function: str, entry: str, event: Mapping[str, Any]) -> dict[str, Any]:
        environment = {**self.target.function_environment(function), **IN_PROCESS_ENVIRONMENT}
        # One handler at a time: each swaps this process's environment and the module's service.
        with _IN_PROCESS, _environment(environment), contextlib.redirect_stdout(sys.stderr):
            module: Any = self._export_app()
            # The function's own settings: its cached service is built again from this environment.
            module.reset()
            clients.clear_cache()
            try:
                answer = getattr(module, entry)(dict(event), _Context(function))
            except Exception as exc:
                raise RunnerError(
                    f"{function} ({entry}) raised {type(exc).__name__}: {str(exc)[:500]}"
                ) from exc
            finally:
                module.reset()
                clients.clear_cache()
        if not isinstance(answer, dict):
            raise RunnerError(f"{function} ({entry}) answered {str(answer)[:200]!r}, not a JSON object")
        return answer

    def _export_app(self) -> ModuleType:
        """functions/export/export_app.py, loaded once (under the function's environment, which
        Powertools reads when the module loads; standard output is then standard error)."""
        if self._module is None:
            path = self.root / "functions" / "export" / "export_app.py"
            if not path.is_file():
                raise TargetError(f"{path} not found: the in-process runner needs the repository checkout")
            spec = importlib.util.spec_from_file_location("admin_export_app", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._module = module
        return self._module


def runner_for(target: Target, choice: str = "auto") -> Runner:
    """``lambda``, ``in-process``, or ``auto``: in-process for a local stack, Lambda otherwise."""
    if choice == "in-process" or (choice == "auto" and target.local):
        return InProcessRunner(target)
    return LambdaRunner(target)


class _Context:
    """The parts of a LambdaContext the handlers read."""

    def __init__(self, function: str) -> None:
        self.function_name = function
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1769
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function}"
        self.aws_request_id = f"admin-{uuid.uuid4()}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` holds ``values`` (and this process's credentials) inside the block, as a
    function's environment would: nothing else of the operator's shell leaks into it."""
    saved = dict(os.environ)
    kept = {name: saved[name] for name in PASSED_THROUGH if name in saved}
    os.environ.clear()
    os.environ.update({**kept, **values})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
