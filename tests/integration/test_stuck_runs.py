"""No run stays ``running`` (issue 19 item 2; docs/run-lifecycle.md, "Stuck runs"), through the
stuck-runs function's handler over moto server and dynalite, with a clock moved by hand.

- an execution that failed, timed out or was aborted without recording its run: its status
  change event ends the run failed with one notification; the event again (or after the fail
  step recorded the run) does nothing;
- a run whose holder died and whose retry and recovery never came: the hourly sweep takes it
  over (an hour after its lease ran out, not before) and ends it failed, once.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from emf_documents import emf_documents, metric
from faults import Clock
from nightly_export import put_nightly

from tracking_export_aws.aws.s3_objects import WORK_PREFIX
from tracking_export_aws.ops.stuck_runs import InvalidExecutionEvent, execution_arn_of
from tracking_export_aws.runs.outcomes import RunHandedOff
from tracking_export_aws.runs.service import ExportRequest, ExportService
from tracking_export_aws.runtime import wiring
from tracking_export_aws.runtime.settings import ExportSettings, StuckRunsSettings

T0 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 02:00 in Paris
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:it-export"
SERVICE = {"service": "tracking-export"}


class StartedOnly:
    """Step Functions as far as the hand-off sees it: the execution starts, and nothing runs
    (what it does is the state machine's tests'); the inputs it was started with are kept."""

    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []

    def start_execution(self, **kwargs: Any) -> dict[str, str]:
        self.started.append(kwargs)
        return {"executionArn": execution_arn_of(MACHINE, kwargs["name"])}


@dataclasses.dataclass
class Stuck:
    stack: Any
    app: Any  # stuck_runs_app
    function: Any  # StuckRunsFunction: its handler, its calls checked against its IAM statements
    clock: Clock
    export: ExportService  # the export function's service, on the same clock
    sfn: StartedOnly
    context: Any
    capsys: pytest.CaptureFixture[str]

    def deliver(self, scheduled: datetime = T0, *, single: bool = False) -> Any:
        """One delivery: handed to the state machine (every run is over MAX_ROWS_PER_WORKER),
        or with ``single`` by a function without one."""
        request = ExportRequest.from_event(
            {"tenantId": "acme", "exportGuid": "nightly", "scheduledTime": scheduled.isoformat()}
        )
        service = dataclasses.replace(self.export, hand_off=None) if single else self.export
        return service.run(request, invocation_id="inv-1")

    def execution_ended(self, status: str, error: str | None = None) -> dict[str, Any]:
        [started] = self.sfn.started
        detail = {
            "executionArn": execution_arn_of(MACHINE, started["name"]),
            "stateMachineArn": MACHINE,
            "name": started["name"],
            "status": status,
            "input": started["input"],
            "inputDetails": {"included": True},
            "error": error,
            "cause": "/var/task/internal detail never told to tenants",
        }
        event = {"detail-type": "Step Functions Execution Status Change", "source": "aws.states"}
        result: dict[str, Any] = self.function({**event, "detail": detail}, self.context)
        return result

    def sweep(self) -> dict[str, Any]:
        result: dict[str, Any] = self.function({"action": "sweep"}, self.context)
        return result

    def record(self, scheduled: datetime = T0) -> Any:
        return self.stack.ledger().get("acme", "nightly", scheduled)

    def metrics(self) -> list[dict[str, Any]]:
        return emf_documents(self.capsys.readouterr().out)


@pytest.fixture
def stuck(
    stack: Any,
    records: Any,
    handlers: Any,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Stuck:
    import importlib

    put_nightly(stack, records)
    handlers(stack)  # the functions' environment, pointed at the stack
    # Loaded afresh: Powertools binds its logger to the standard output of the moment.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "tracking-export")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TrackingExport")
    app = importlib.reload(importlib.import_module("stuck_runs_app"))
    clock = Clock(T0)
    sfn = StartedOnly()
    export = wiring.export_service(
        stack.settings(ExportSettings, STATE_MACHINE_ARN=MACHINE, MAX_ROWS_PER_WORKER="1")
    )
    assert export.hand_off is not None
    export = dataclasses.replace(
        export,
        clock=clock,
        heartbeat_seconds=0,
        hand_off=dataclasses.replace(export.hand_off, sfn=sfn, clock=clock),
    )
    use_case = wiring.stuck_runs(stack.settings(StuckRunsSettings, STATE_MACHINE_ARN=MACHINE))
    use_case = dataclasses.replace(
        use_case,
        clock=clock,
        service=dataclasses.replace(use_case.service, clock=clock),
        coordinator=dataclasses.replace(use_case.coordinator, clock=clock),
    )
    function = stack.function("StuckRunsFunction")  # resets what the module built: before the patch
    monkeypatch.setattr(app, "_get_stuck_runs", lambda: use_case)
    capsys.readouterr()
    return Stuck(stack, app, function, clock, export, sfn, lambda_context, capsys)


# -- an execution that stopped -----------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        ("ABORTED", None, "the distributed run was stopped before it finished (its execution was aborted)"),
        ("TIMED_OUT", None, "the distributed run did not finish within the state machine's time limit"),
        # The fail step itself failed (its Lambda error is named, never its cause).
        (
            "FAILED",
            "Lambda.ServiceException",
            "a step of the distributed run failed ('Lambda.ServiceException'); "
            "the details are in the distributed export's step log",
        ),
    ],
)
def test_an_execution_that_stopped_without_recording_its_run_ends_it_once(
    stuck: Stuck, status: str, error: str | None, reason: str
) -> None:
    handed = stuck.deliver()
    assert isinstance(handed, RunHandedOff)
    assert stuck.record().status == "running" and stuck.record().path == "distributed"
    assert stuck.stack.object_keys(WORK_PREFIX) != []  # the manifest
    stuck.metrics()

    stuck.clock.advance(600)
    result = stuck.execution_ended(status, error)

    [ended] = result["ended"]
    assert (ended["run_id"], ended["found_by"], ended["failed"]) == (
        "acme/nightly/2026-03-03T01:00:00.000000Z",
        "execution",
        True,
    )
    record = stuck.record()
    assert (record.status, record.error) == ("failed", reason)
    [note] = stuck.stack.notifications()
    assert note.attributes["outcome"] == "failed"
    assert note.message["error"] == reason and "/var/task" not in json.dumps(note.message)
    assert note.message["window"]["kind"] == "delta" and note.message["path"] == "distributed"
    assert [e["detail-type"] for e in stuck.stack.events()] == ["Export Run Failed"]
    assert stuck.stack.object_keys(WORK_PREFIX) == [] and stuck.stack.pending_uploads() == []
    assert stuck.stack.ledger().previous_success_start("acme", "nightly") is None
    documents = stuck.metrics()
    assert metric(documents, "StuckRuns") == [{**SERVICE, "value": 1.0}]
    assert metric(documents, "ExportRuns") == [{"outcome": "failed", **SERVICE, "value": 1.0}]

    # EventBridge delivers at least once: the same event again does nothing.
    assert stuck.execution_ended(status, error) == {"ended": []}
    assert stuck.stack.notifications() == [] and stuck.stack.events() == []
    assert metric(stuck.metrics(), "StuckRuns") == []
    # Nor does the sweep, hours later, nor a late delivery of the schedule.
    stuck.clock.advance(8 * 3600)
    assert stuck.sweep() == {"ended": []}
    assert stuck.deliver().outcome == "duplicate"
    assert stuck.stack.notifications() == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_an_execution_whose_fail_step_recorded_the_run_is_left_as_it_is(stuck: Stuck) -> None:
    stuck.deliver()
    # The fail step recorded and notified the run, and its clean-up did not finish.
    [started] = stuck.sfn.started
    coordinator = stuck.app._get_stuck_runs().coordinator
    plan_key = json.loads(started["input"])["manifestKey"]
    from tracking_export_aws.runs.manifest import read_manifest

    plan = read_manifest(stuck.stack.s3, stuck.stack.export_bucket, plan_key)
    coordinator.finisher.fail(plan, "shard 1 failed: the day could not be read")
    assert len(stuck.stack.notifications()) == 1 and len(stuck.stack.events()) == 1
    stuck.metrics()

    result = stuck.execution_ended("FAILED", "ExportRunFailed")

    assert result == {"ended": []}
    assert stuck.stack.notifications() == [] and stuck.stack.events() == []
    assert stuck.record().error == "shard 1 failed: the day could not be read"
    assert stuck.stack.object_keys(WORK_PREFIX) == []  # its clean-up finished
    assert metric(stuck.metrics(), "StuckRuns") == []


def test_only_an_export_execution_s_end_is_taken(stuck: Stuck) -> None:
    stuck.deliver()
    with pytest.raises(InvalidExecutionEvent, match="status"):
        stuck.execution_ended("SUCCEEDED")
    with pytest.raises(InvalidExecutionEvent, match="expected"):
        stuck.app.handler({"action": "something else"}, stuck.context)
    assert stuck.record().status == "running" and stuck.stack.notifications() == []


# -- the sweep ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_sweep_ends_a_single_run_left_running_an_hour_after_its_lease(stuck: Stuck) -> None:
    ledger = stuck.stack.ledger()
    lease = stuck.export.lease_seconds
    # Killed right after claiming (no retry, no recovery came): its lease runs out at T0 + 120 s.
    assert ledger.claim("acme", "nightly", T0, T0, lease, invocation_id="inv-dead").claimed
    # Another run, claimed later and alive (its heartbeat renews the lease).
    later = T0 + timedelta(hours=1)
    alive = ledger.claim("acme", "nightly", later, later, lease, invocation_id="inv-alive")
    # And a run that ended normally.
    done = T0 - timedelta(days=1)
    assert stuck.deliver(done, single=True).outcome == "succeeded"
    stuck.stack.notifications()
    stuck.stack.events()

    # Fifty minutes after the lease ran out: its retry or recovery may still come.
    stuck.clock.advance(lease + 50 * 60)
    assert stuck.sweep() == {"ended": []}
    assert stuck.record().status == "running"

    stuck.clock.now = later + timedelta(seconds=lease + 3600 - 30)  # T0's lease long gone
    ledger.renew(alive, stuck.clock(), lease)
    stuck.metrics()
    result = stuck.sweep()

    assert result["ended"] == [
        {"run_id": "acme/nightly/2026-03-03T01:00:00.000000Z", "found_by": "sweep", "failed": True}
    ]
    record = stuck.record()
    assert record.status == "failed" and record.attempt == 2 and record.run_number == 1
    assert record.error.startswith("the run was still running 119 minutes after its last attempt")
    [note] = stuck.stack.notifications()
    assert note.attributes["outcome"] == "failed" and note.message["error"] == record.error
    assert note.message["window"]["kind"] == "delta"  # the window the lost run was covering
    assert stuck.record(later).status == "running"  # alive: left alone
    assert stuck.record(done).status == "succeeded"
    documents = stuck.metrics()
    assert metric(documents, "StuckRuns") == [{**SERVICE, "value": 1.0}]
    assert metric(documents, "ExportRuns") == [{"outcome": "failed", **SERVICE, "value": 1.0}]

    # The next pass: nothing more; a late delivery of the schedule: nothing more.
    stuck.clock.advance(3600)
    ledger.renew(alive, stuck.clock(), lease)
    assert stuck.sweep() == {"ended": []}
    assert stuck.deliver(single=True).outcome == "duplicate"
    assert stuck.stack.notifications() == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_sweep_names_the_transient_error_the_run_was_handed_back_with(stuck: Stuck) -> None:
    ledger = stuck.stack.ledger()
    claim = ledger.claim("acme", "nightly", T0, T0, 120, invocation_id="inv-1")
    ledger.hand_back(claim, "AWS error 'InternalServerError' in Query; the run can be retried")
    stuck.clock.advance(2 * 3600)
    [ended] = stuck.sweep()["ended"]
    assert ended["failed"] is True
    assert stuck.record().error.endswith(
        "; the last attempt failed with: AWS error 'InternalServerError' in Query; the run can be retried"
    )
    assert len(stuck.stack.notifications()) == 1


NEVER_STARTED = (
    "the distributed run's execution never started (the export function stopped after handing the run over)"
)
ABORTED = "the distributed run was stopped before it finished (its execution was aborted)"


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_sweep_ends_a_handed_off_run_whose_execution_never_started_an_hour_after(stuck: Stuck) -> None:
    """The export function stopped between the hand-off and StartExecution: the run is held for
    its execution for 6 h 15 min, but Step Functions has never heard of it; the first sweep an
    hour after the hand-off ends it (not 7 h later)."""
    stuck.deliver()  # handed off at T0: the execution's name holds the run for 6 h 15 min
    stuck.clock.advance(50 * 60)
    assert stuck.sweep() == {"ended": []}  # handed off 50 minutes ago: it may still be starting
    assert stuck.record().status == "running"
    stuck.clock.advance(10 * 60 + 1)
    stuck.metrics()

    [ended] = stuck.sweep()["ended"]

    assert (ended["run_id"], ended["found_by"], ended["failed"]) == (
        "acme/nightly/2026-03-03T01:00:00.000000Z",
        "sweep",
        True,
    )
    record = stuck.record()
    assert (record.status, record.error) == ("failed", NEVER_STARTED)
    [note] = stuck.stack.notifications()
    assert note.message["error"] == NEVER_STARTED and note.message["path"] == "distributed"
    assert stuck.stack.object_keys(WORK_PREFIX) == []  # its manifest removed
    assert metric(stuck.metrics(), "StuckRuns") == [{**SERVICE, "value": 1.0}]
    # Once: the next pass, and the lease's end hours later, find nothing more.
    stuck.clock.advance(7 * 3600)
    assert stuck.sweep() == {"ended": []}
    assert stuck.stack.notifications() == []


def _execution_in_step_functions(stuck: Stuck) -> str:
    """The run's execution, started in moto's Step Functions as the hand-off asked (there it
    runs nothing and stays RUNNING until stopped); its ARN."""
    sfn = stuck.stack.client("stepfunctions")
    name = MACHINE.rsplit(":", 1)[1]
    if MACHINE not in [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]:
        sfn.create_state_machine(
            name=name,
            definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/it-export-state-machine",
        )
    [started] = stuck.sfn.started
    return str(
        sfn.start_execution(stateMachineArn=MACHINE, name=started["name"], input=started["input"])[
            "executionArn"
        ]
    )


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_sweep_ends_a_run_whose_execution_stopped_and_whose_status_event_was_lost(stuck: Stuck) -> None:
    stuck.deliver()
    execution_arn = _execution_in_step_functions(stuck)
    stuck.clock.advance(3600 + 1)
    assert stuck.sweep() == {"ended": []}  # its execution is running: left to it
    assert stuck.record().status == "running"

    stuck.stack.client("stepfunctions").stop_execution(executionArn=execution_arn)  # its event is lost
    stuck.clock.advance(3600)
    [ended] = stuck.sweep()["ended"]

    assert (ended["found_by"], ended["failed"]) == ("sweep", True)
    assert (stuck.record().status, stuck.record().error) == ("failed", ABORTED)
    [note] = stuck.stack.notifications()
    assert note.message["error"] == ABORTED
    assert [e["detail-type"] for e in stuck.stack.events()] == ["Export Run Failed"]
    assert stuck.stack.object_keys(WORK_PREFIX) == [] and stuck.stack.pending_uploads() == []
    # The event, delivered late after all: nothing more.
    assert stuck.execution_ended("ABORTED") == {"ended": []}
    assert stuck.stack.notifications() == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_an_execution_that_stopped_ends_a_distributed_replay_under_its_own_key(stuck: Stuck) -> None:
    """An operator's replay handed to the state machine is its own run (RUN#{time}#R#{replayId}):
    its execution's end ends that run, not the scheduled run of the same time."""
    request = ExportRequest.from_event(
        {"tenantId": "acme", "exportGuid": "nightly", "runAt": T0.isoformat(), "replayId": "r1"}
    )
    assert isinstance(stuck.export.run(request, invocation_id="inv-1"), RunHandedOff)
    replay = stuck.stack.ledger().get("acme", "nightly", T0, "r1")
    assert replay is not None and replay.status == "running" and replay.path == "distributed"
    # Its work prefix is its own, not the scheduled run's of that number (which may run beside it).
    [manifest] = stuck.stack.object_keys(WORK_PREFIX)
    assert manifest == "_work/acme/nightly/1-1-replay-r1/manifest.json"

    [ended] = stuck.execution_ended("ABORTED")["ended"]

    assert (ended["found_by"], ended["failed"]) == ("execution", True)
    replay = stuck.stack.ledger().get("acme", "nightly", T0, "r1")
    assert replay is not None and (replay.status, replay.error) == ("failed", ABORTED)
    assert stuck.record() is None  # the scheduled run of that time was never claimed
    [note] = stuck.stack.notifications()
    assert note.message["error"] == ABORTED


def test_the_sweep_finds_runs_by_the_status_index_only(stuck: Stuck) -> None:
    """A Query of ByStatus, never a Scan: the fleet's history is not read to find a stuck run."""
    dynamodb = stuck.app._get_stuck_runs().service.ledger.client
    operations: list[str] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        operations.append(f"{model.name}:{params.get('IndexName', '')}")

    dynamodb.meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        stuck.sweep()
    finally:
        dynamodb.meta.events.unregister("provide-client-params.dynamodb.*", record)
    assert operations == ["Query:ByStatus"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_sweep_ends_a_stuck_quiet_replay_under_its_own_key_and_tells_no_tenant(stuck: Stuck) -> None:
    """An operator's quiet replay (RUN#{time}#R#{replayId}) whose holder died: the sweep takes
    over that run — not the scheduled run of the same time — and records it failed without
    notifying any tenant channel (the record says what happened)."""
    ledger = stuck.stack.ledger()
    lease = stuck.export.lease_seconds
    assert ledger.claim(
        "acme", "nightly", T0, T0, lease, invocation_id="inv-dead", replay_id="r1", quiet=True
    ).claimed
    stuck.stack.notifications()
    stuck.clock.now = T0 + timedelta(seconds=lease + 2 * 3600)
    stuck.metrics()

    result = stuck.sweep()

    assert [(run["found_by"], run["failed"]) for run in result["ended"]] == [("sweep", True)]
    replay = ledger.get("acme", "nightly", T0, "r1")
    assert replay is not None and replay.status == "failed" and replay.quiet
    assert replay.error.startswith("the run was still running")
    assert stuck.record() is None  # the scheduled run of that time was never claimed
    assert stuck.stack.notifications() == []
    assert metric(stuck.metrics(), "StuckRuns") == [{**SERVICE, "value": 1.0}]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_sweep_ends_a_handed_off_replay_whose_execution_never_started(stuck: Stuck) -> None:
    request = ExportRequest.from_event(
        {"tenantId": "acme", "exportGuid": "nightly", "runAt": T0.isoformat(), "replayId": "r2"}
    )
    assert isinstance(stuck.export.run(request, invocation_id="inv-1"), RunHandedOff)
    stuck.clock.advance(3600 + 1)

    [ended] = stuck.sweep()["ended"]

    assert (ended["found_by"], ended["failed"]) == ("sweep", True)
    replay = stuck.stack.ledger().get("acme", "nightly", T0, "r2")
    assert replay is not None and (replay.status, replay.error) == ("failed", NEVER_STARTED)
    assert stuck.record() is None
    assert stuck.stack.object_keys(WORK_PREFIX) == []
    [note] = stuck.stack.notifications()
    assert (note.message["replayId"], note.message["error"]) == ("r2", NEVER_STARTED)
