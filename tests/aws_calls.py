"""Every AWS call the functions make in the integration tests, checked against their IAM.

:class:`CallRecorder` hooks the boto3 clients ``tracking_export_aws.aws.clients`` makes
(``before-parameter-build``, registered last: the parameters as botocore validates them, and
``after-call`` for the answer's status) and records a call while a function of template.yaml
runs (:meth:`CallRecorder.running`). Each invocation's calls are checked at once against that
function's Allow statements (tools/template_iam.py): a call no statement grants fails the test
that made it. The session's calls together name the grants no call used (conftest's
``pytest_sessionfinish``, when the whole integration suite ran).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.template_functions import Deployment
from tools.template_iam import Call, FunctionPolicies, Grant, Names, Request, grants, requests, used_by

# Grants no recorded call uses, and why each is kept: (function, statement id, action) -> reason.
UNUSED_GRANTS_ALLOWED: dict[tuple[str, str, str], str] = {
    ("RunRecoveryFunction", "RecordRuns", "dynamodb:Query"): (
        "the previous success before a lost run's time is a Query only when the export's STATE is "
        "not before it (the recovery of a replay or of a late delivery); test_previous_success.py "
        "and test_admin_replay.py make that Query through the ledger"
    ),
    ("StuckRunsFunction", "RecordRuns", "dynamodb:Query"): (
        "as for the recovery: a stuck run lost before it recorded its window needs the previous "
        "success before its time, a Query only when STATE is not before it"
    ),
    ("StuckRunsFunction", "ReadTenantConfig", "s3:GetObjectVersion"): (
        "the last valid version of a configuration object is read by version id only when the "
        "current object is invalid; the stuck-run tests' configuration is valid"
    ),
    ("StuckRunsFunction", "ListTenantConfig", "s3:ListBucket"): (
        "only a tenant without tenant.json needs it (a 404, not a 403); the stuck-run tests' "
        "tenant has one, and the export and recovery functions' tests cover the absent case"
    ),
    ("StuckRunsFunction", "AbortLeftUploads", "s3:AbortMultipartUpload"): (
        "an upload an aborted execution left on the run's key; the stuck-run tests' executions "
        "are recorded, not run (moto runs no state machine there), so none is left"
    ),
    ("ConfigSyncFunction", "RequestRetention", "lambda:InvokeFunction"): (
        "moto runs no Lambda function: the handler runs without INGEST_FUNCTION_NAME (as under "
        "make serve); the request itself is tested through the service (test_ingestion.py)"
    ),
    ("IngestFunction", "ContinueLargeFiles", "lambda:InvokeFunction"): (
        "the next byte range of a large file is an asynchronous invocation of the function itself; "
        "moto runs no Lambda function, so the tests run with INGEST_CONTINUATION=return and send "
        "each continuation back themselves, as the local run does"
    ),
    ("WatchdogFunction", "StartMissedRuns", "lambda:InvokeFunction"): (
        "a missed run is an asynchronous invocation of the export function; moto runs no Lambda "
        "function: the handler test counts the runs the pass starts (test_watchdog.py)"
    ),
    ("ExportFunction", "WriteTenantExports", "s3:AbortMultipartUpload"): (
        "a run that fails after the first part of its file aborts the multipart upload; "
        "test_export_service.py makes one fail part-way through the service (a handler's upload "
        "cannot be made to fail there)"
    ),
    ("ExportWorkerFunction", "ReadWriteShards", "s3:AbortMultipartUpload"): (
        "a shard that fails after the first part of its work file aborts the multipart upload; the "
        "tests' shards are smaller than one part"
    ),
    ("ExportCoordinatorFunction", "WriteTenantExports", "s3:AbortMultipartUpload"): (
        "the fail step aborts what an assembly that died half-way left (aws/s3_objects.abort_uploads "
        "lists the uploads, then aborts each); no test kills an assembly half-way"
    ),
    ("WatchdogFunction", "RepairExportSchedules", "scheduler:UpdateSchedule"): (
        "a schedule disabled or changed by hand is put back: test_watchdog.py drives it through the "
        "watchdog service (its handler test's pass finds every schedule as config-sync wrote it)"
    ),
    ("WatchdogFunction", "ReadTenantConfig", "s3:GetObject"): (
        "an export's definition and tenant.json are read when a pass has a schedule to check "
        "against them; test_watchdog.py drives those passes through the watchdog service, and no "
        "handler test's pass reads one"
    ),
    ("ExportFunction", "WriteRunManifests", "s3:DeleteObject"): (
        "a hand-off whose StartExecution fails removes the manifest it wrote; no test makes Step "
        "Functions refuse an execution"
    ),
}


@dataclass
class Invocation:
    """The function running now and how its stack's names read in the template."""

    function: str
    # Test-stack value -> the value a deployment of the template would have.
    names: Mapping[str, str]
    parameters: Mapping[str, str]
    calls: list[Call] = field(default_factory=list)


class CallRecorder:
    """Records the AWS calls of the function that runs now (one at a time, any thread)."""

    def __init__(self, template: Mapping[str, Any]) -> None:
        self.template = template
        self._lock = threading.Lock()
        self._current: Invocation | None = None
        # (function, request) of every checked call of the session.
        self.requests: list[tuple[str, Mapping[str, str], Request]] = []

    # -- hooks --------------------------------------------------------------------------------

    def hook(self, session: Any) -> None:
        """Register the hooks on a botocore session (its clients copy them)."""
        emitter = session.get_component("event_emitter")
        emitter.register_last("before-parameter-build", self._before)
        emitter.register_last("after-call", self._after)

    def _before(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        invocation = self._current
        if invocation is None:
            return
        entry = {
            "service": model.service_model.service_name,
            "operation": model.name,
            "params": _translated(params, invocation.names),
            "presigned": bool(context.get("is_presign_request")),
            "status": None,
        }
        context["recorded_call"] = entry
        with self._lock:
            invocation.calls.append(entry)  # type: ignore[arg-type]  # made a Call at the check

    def _after(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        entry = context.get("recorded_call")
        if entry is not None:
            entry["status"] = getattr(http_response, "status_code", None)

    # -- one invocation -------------------------------------------------------------------------

    @contextlib.contextmanager
    def running(
        self, function: str, names: Mapping[str, str], parameters: Mapping[str, str]
    ) -> Iterator[Invocation]:
        """Record ``function``'s calls during the block; then check them (AssertionError naming
        every call its statements do not grant). Nested runs of the same function (a shard
        worker's concurrent invocations) share the recording."""
        with self._lock:
            outer = self._current
            if outer is not None and outer.function != function:
                raise RuntimeError(f"{function} started while {outer.function} runs: one function at a time")
            invocation = outer or Invocation(function, names, parameters)
            self._current = invocation
        try:
            yield invocation
        finally:
            if outer is None:
                with self._lock:
                    self._current = None
                self._check(invocation)

    def _check(self, invocation: Invocation) -> None:
        deployment = Deployment(self.template, parameters=invocation.parameters)
        statements = FunctionPolicies(deployment).statements(invocation.function)
        names = Names(deployment.partition, deployment.region, deployment.account)
        refused = []
        for entry in invocation.calls:
            call = Call(invocation.function, **entry)  # type: ignore[arg-type]
            for request in requests(call, names):
                self.requests.append((invocation.function, dict(invocation.parameters), request))
                if not any(statement.allows(request) for statement in statements):
                    refused.append(f"{call.service} {call.operation} (status {call.status}) needs {request}")
        assert not refused, f"{invocation.function}'s IAM statements do not grant:\n  " + "\n  ".join(refused)

    # -- the session ----------------------------------------------------------------------------

    def unused_grants(self) -> list[tuple[str, Grant]]:
        """(function, grant) of every grant of the default deployment (no e-mail sender: the
        e-mail policy is checked call by call when a sender is set) that no recorded call used
        and no allowlist entry explains."""
        deployment = Deployment(self.template)
        unused = []
        for function in deployment.functions():
            statements = FunctionPolicies(deployment).statements(function)
            used = [request for f, _, request in self.requests if f == function]
            for grant in grants(statements):
                sid = grant.origin.rsplit(":", 1)[-1]
                if (function, sid, grant.action) in UNUSED_GRANTS_ALLOWED:
                    continue
                if not any(used_by(grant, statements, request) for request in used):
                    unused.append((function, grant))
        return unused


def _translated(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` with every test-stack name replaced by the template's (keys of mappings too,
    ``bucket/key`` copy sources by their bucket, an execution's ARN by its state machine)."""
    if isinstance(value, str):
        if value in names:
            return names[value]
        bucket, slash, rest = value.partition("/")
        if slash and bucket in names:
            return f"{names[bucket]}/{rest}"
        if ":states:" in value and ":execution:" in value:  # an execution of a named state machine
            machine, _, execution = value.replace(":execution:", ":stateMachine:", 1).rpartition(":")
            if machine in names:
                return f"{names[machine].replace(':stateMachine:', ':execution:', 1)}:{execution}"
        return value
    if isinstance(value, Mapping):
        return {_translated(k, names): _translated(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_translated(item, names) for item in value]
    return value
