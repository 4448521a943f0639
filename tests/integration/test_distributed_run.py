"""The distributed path end to end: the real statemachine/export.asl.json executed by moto's
Step Functions interpreter, its Lambda tasks running the real handlers (functions/export_steps)
in this process, against moto server (S3, SNS, SQS, EventBridge) and dynalite (DynamoDB).

Issue 7 §1: the file a distributed run writes is byte-identical to the single path's for the
same window (gzip: the same decompressed bytes, and a valid gzip file); a failing shard fails
the whole run (no object, shards cleaned, one failure notification, deltaMode window unmoved);
a duplicate delivery during a distributed run does nothing.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import shutil
import subprocess
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeLambdaContext
from emf_documents import emf_documents, metric

from tools.local_endpoints import (
    execution_failures,
    local_state_machines,
    state_machine_definition,
    wait_for_execution,
)
from tools.sample_data import SampleShape, dataset
from tracking_export_aws.aws.s3_objects import WORK_PREFIX
from tracking_export_aws.runs.service import ExportRequest, ExportService
from tracking_export_aws.runtime import wiring

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "us-east-1"  # conftest.py's stack

TENANT = "dist"
# 1,200 logs over 6 days (200 a day) around 30 trackings, 1 in 4 of them never launched.
SHAPE = replace(
    SampleShape(tenant_id=TENANT),
    learners=12,
    trainings=3,
    sessions_per_training=2,
    contents=6,
    trackings=40,
    logs=1_200,
    logs_per_day=200,
    last_day=date(2026, 3, 10),
    unlaunched_every=4,
)
# The run's time: 02:00 Paris on the day after the data; the windows below cover all of it.
RUN_AT = "2026-03-11T01:00:00Z"
MAX_ROWS = 250  # about one day and a bit per shard: 4 to 6 shards over the 6 days
WORKER, COORDINATOR = "it-export-worker", "it-export-coordinator"

COLUMNS = """
          <logDate/>
          <candidateId/>
          <candidateName/>
          <contentTitle/>
          <sessionTitle/>
          <firstLaunchDate/>
          <progression/>
          <status/>
          <timeGlobal/>
"""


def _definition(guid: str, *, parameters: str = "", action: str = "", consolidators: str = "") -> str:
    """A definition whose file name carries the run number (%i): two runs, two files."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="{guid}">
    <providers>
      <trackingLogProvider>
        <columns>{COLUMNS}</columns>
        <parameters>{parameters}</parameters>
      </trackingLogProvider>
    </providers>
    <actions><fileExportAction>{action}</fileExportAction></actions>
    <consolidators><moveToFolder><fileName>{guid}_%i</fileName></moveToFolder>{consolidators}</consolidators>
  </export>
</export-config>
"""


@dataclasses.dataclass
class Distributed:
    """A stack with the state machine created in moto and the steps' handlers routed locally."""

    stack: Any  # conftest.Stack
    state_machine_arn: str
    worker: Any  # conftest.Function: ExportWorkerFunction
    coordinator: Any  # conftest.Function: ExportCoordinatorFunction

    def service(self, max_rows: int | None) -> ExportService:
        """The export service as the function builds it; ``max_rows=None``: above any estimate."""
        rows = str(max_rows if max_rows is not None else 10**15)
        return wiring.export_service(self.stack.settings(MAX_ROWS_PER_WORKER=rows))

    def run(
        self, guid: str, scheduled: str, max_rows: int | None, invocation_id: str = "invocation-1"
    ) -> dict[str, Any]:
        """One delivery to the export function (its own environment and IAM); a distributed
        run is waited for and its notification returned."""
        rows = str(max_rows if max_rows is not None else 10**15)
        export = self.stack.function("ExportFunction", MAX_ROWS_PER_WORKER=rows)
        payload = {"tenantId": TENANT, "exportGuid": guid, "scheduledTime": scheduled, "runAt": RUN_AT}
        result: dict[str, Any] = export(payload, FakeLambdaContext(aws_request_id=invocation_id))
        if result["outcome"] != "distributed":
            return result
        sfn = self.stack.client("stepfunctions")
        description = wait_for_execution(sfn, result["executionArn"])
        (note,) = [n.message for n in self.stack.notifications()]
        ended = {**note, "executionStatus": description["status"]}
        if description["status"] != "SUCCEEDED":  # what failed inside, for assertion messages
            ended["executionFailures"] = execution_failures(sfn, result["executionArn"])
        return ended


@pytest.fixture(scope="module")
def loaded_records() -> list[dict[str, Any]]:
    return list(dataset(SHAPE))


@pytest.fixture
def distributed(
    stack: Any, loaded_records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Distributed]:
    stack.put_tenant(TENANT, {"timezone": "Europe/Paris"})
    stack.load(loaded_records)
    sfn = stack.client("stepfunctions")
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
    definition = state_machine_definition(
        ROOT, {"WorkerFunctionArn": arn + WORKER, "CoordinatorFunctionArn": arn + COORDINATOR}
    )
    handlers: dict[str, Any] = {}
    # Created once moto executes state machines: they live in the interpreter's own backend.
    with local_state_machines(stack.moto, handlers):
        machine = sfn.create_state_machine(
            name=f"it-export-{uuid.uuid4().hex[:8]}",
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/it-export-state-machine",
            type="STANDARD",
        )
        stack.state_machine_arn = machine["stateMachineArn"]
        worker = stack.function("ExportWorkerFunction")
        coordinator = stack.function("ExportCoordinatorFunction", parameters={"ShardMaxConcurrency": "3"})
        handlers.update({WORKER: worker, COORDINATOR: coordinator})
        yield Distributed(stack, machine["stateMachineArn"], worker, coordinator)
        sfn.delete_state_machine(stateMachineArn=machine["stateMachineArn"])


def _same_file_both_ways(d: Distributed, guid: str, xml: str) -> tuple[dict[str, Any], dict[str, Any]]:
    d.stack.put_definition(TENANT, guid, xml)
    single = d.run(guid, "2026-03-11T01:00:00Z", max_rows=None)
    assert single["outcome"] == "succeeded", single.get("error")
    d.stack.notifications()
    spread = d.run(guid, "2026-03-11T01:05:00Z", max_rows=MAX_ROWS)
    assert spread["outcome"] == "succeeded", spread.get("error")
    assert spread["executionStatus"] == "SUCCEEDED"
    assert spread["path"] == "distributed" and spread["shards"] >= 3, spread
    assert single["rows"] == spread["rows"] > 0
    assert d.stack.object_keys(WORK_PREFIX) == []  # shards and manifest cleaned up
    assert d.stack.pending_uploads() == []
    return single, spread


@pytest.mark.parametrize(
    ("guid", "parameters", "action"),
    [
        ("utf16-bom", "", "<encoding>UTF-16LE</encoding>"),
        ("no-headers", "", "<showHeaders>no</showHeaders><delimiter>semicolon</delimiter>"),
        ("never-launched", "<withoutLaunchTime>yes</withoutLaunchTime>", ""),
        (
            "time-frame",
            "<timeFrames>3</timeFrames><timeFramesScale>less_than_n_days</timeFramesScale>"
            "<timeFrameScaleMode>lastActivityCumulative</timeFrameScaleMode>",
            "",
        ),
    ],
)
def test_distributed_file_is_byte_identical_to_the_single_path(
    distributed: Distributed, guid: str, parameters: str, action: str
) -> None:
    single, spread = _same_file_both_ways(
        distributed, guid, _definition(guid, parameters=parameters, action=action)
    )
    single_bytes = distributed.stack.read(single["objectKey"])
    spread_bytes = distributed.stack.read(spread["objectKey"])
    assert spread_bytes == single_bytes
    assert spread["sha256"] == single["sha256"] == hashlib.sha256(spread_bytes).hexdigest()
    assert spread["bytes"] == len(spread_bytes)
    bom = spread_bytes.startswith(b"\xff\xfe")
    assert bom == (guid == "utf16-bom")  # the BOM once, at the start
    if guid == "utf16-bom":
        assert spread_bytes.count(b"\xff\xfe") == 1
    if guid == "never-launched":  # 40 trackings, one in 4 never launched: 10 rows after the 1,200
        assert spread["rows"] == 1_210
    # The run record says which path it took and what was estimated.
    record = distributed.stack.ledger().runs(TENANT, guid)[0]
    assert record.status == "succeeded" and record.sha256 == spread["sha256"]
    item = _run_item(distributed.stack, guid)
    assert item["path"]["S"] == "distributed"
    assert int(item["shards"]["N"]) == spread["shards"]
    assert int(item["estimatedRows"]["N"]) == spread["estimatedRows"]
    if guid == "time-frame":  # the window's local days hold more logs than its 72 hours
        assert spread["rows"] <= spread["estimatedRows"] < 1_200
    else:  # whole days: every log loaded (never-launched rows are not logs)
        assert spread["estimatedRows"] == 1_200


def _run_item(stack: Any, guid: str) -> dict[str, Any]:
    """The newest run item of an export, as stored (path, shards, estimatedRows included)."""
    response = stack.dynamodb.scan(TableName=stack.run_history_table)
    items = [i for i in response["Items"] if guid in i["pk"]["S"] and i["sk"]["S"].startswith("RUN#")]
    return max(items, key=lambda i: i["sk"]["S"])


def test_distributed_gzip_is_a_valid_gzip_of_the_same_bytes(distributed: Distributed, tmp_path: Path) -> None:
    guid = "gzipped"
    xml = _definition(guid, action="<format>TSV</format><compression>gzip</compression>")
    single, spread = _same_file_both_ways(distributed, guid, xml)
    single_bytes = distributed.stack.read(single["objectKey"])
    spread_bytes = distributed.stack.read(spread["objectKey"])
    assert spread["objectKey"].endswith(".tsv.gz")
    assert gzip.decompress(spread_bytes) == gzip.decompress(single_bytes)
    # One gzip member per shard: a multi-member stream that gzip readers accept whole.
    decoder = zlib.decompressobj(wbits=31)
    decoder.decompress(spread_bytes)
    assert decoder.eof  # the first member is complete on its own
    assert spread["sha256"] == hashlib.sha256(spread_bytes).hexdigest()
    gzip_tool = shutil.which("gzip")
    if gzip_tool is not None:  # the gzip tool itself accepts the multi-member file
        path = tmp_path / "spread.tsv.gz"
        path.write_bytes(spread_bytes)
        subprocess.run([gzip_tool, "-t", str(path)], check=True)


def test_a_failing_worker_fails_the_whole_run(
    distributed: Distributed, monkeypatch: pytest.MonkeyPatch
) -> None:
    guid = "delta-fails"
    distributed.stack.put_definition(TENANT, guid, _definition(guid, parameters="<deltaMode>yes</deltaMode>"))
    worker = distributed.worker.build("_get_worker")
    real_render = worker.render

    def render(plan: Any, shard: Any, remaining_seconds: Any = None) -> Any:
        if shard.index == 1:
            raise RuntimeError("/var/task/secret-path could not read its day")
        return real_render(plan, shard, remaining_seconds)

    monkeypatch.setattr(worker, "render", render)
    result = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=MAX_ROWS)
    assert result["executionStatus"] == "FAILED"
    assert result["outcome"] == "failed"
    # The single path's rule for reasons: an unexpected error is named by its type only.
    assert result["error"] == (
        "shard 1 failed: internal error (RuntimeError); the details are in the distributed export's step log"
    )
    assert result["path"] == "distributed" and result["objectKey"] is None
    assert distributed.stack.object_keys() == []  # no file, no shard left behind
    assert distributed.stack.pending_uploads() == []
    assert distributed.stack.notifications() == []  # exactly one notification (returned above)
    ledger = distributed.stack.ledger()
    (record,) = ledger.runs(TENANT, guid)
    assert record.status == "failed" and "shard 1" in (record.error or "")
    assert ledger.previous_success_start(TENANT, guid) is None  # the delta window did not move


def test_a_duplicate_delivery_during_a_distributed_run_does_nothing(
    distributed: Distributed, monkeypatch: pytest.MonkeyPatch
) -> None:
    guid = "duplicate"
    distributed.stack.put_definition(TENANT, guid, _definition(guid))
    coordinator = distributed.coordinator.build("_get_coordinator")
    real_plan = coordinator.plan
    duplicates: list[Any] = []
    leases: list[tuple[int | None, str | None, str | None]] = []
    service = distributed.service(MAX_ROWS)

    def plan(run_plan: Any) -> Any:
        # The scheduler delivers the same run again while the execution is under way; Lambda
        # retries the invocation that handed it off; the recovery function is told to end it.
        request = ExportRequest.from_event(
            {"tenantId": TENANT, "exportGuid": guid, "scheduledTime": "2026-03-11T01:00:00Z", "runAt": RUN_AT}
        )
        duplicates.append(service.run(request, invocation_id="another-invocation"))
        duplicates.append(service.run(request, invocation_id="invocation-1"))
        duplicates.append(service.recover(request, invocation_id="invocation-1", reason="gave up"))
        (held,) = distributed.stack.ledger().runs(TENANT, guid)
        leases.append((held.lease_until, held.invocation_id, held.path))
        return real_plan(run_plan)

    monkeypatch.setattr(coordinator, "plan", plan)
    result = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=MAX_ROWS)
    assert result["outcome"] == "succeeded" and result["executionStatus"] == "SUCCEEDED"
    assert [(d.outcome, d.existingStatus) for d in duplicates] == [("duplicate", "running")] * 3
    # The execution holds the run for its 6 h timeout (+15 min), under its own name: the export
    # function's heartbeat, stopped at the hand-off, never shortened that lease.
    ((lease_until, holder, path),) = leases
    assert lease_until is not None and lease_until > time.time() + 6 * 3600
    assert holder is not None and holder.startswith("states:") and path == "distributed"
    assert distributed.stack.object_keys(f"tenants/{TENANT}/") == [result["objectKey"]]
    executions = distributed.stack.client("stepfunctions").list_executions(
        stateMachineArn=distributed.state_machine_arn
    )["executions"]
    assert len(executions) == 1
    (record,) = distributed.stack.ledger().runs(TENANT, guid)
    assert record.status == "succeeded" and record.attempt == 1


def test_a_taken_name_is_renamed_on_the_distributed_path_as_on_the_single_path(
    distributed: Distributed,
) -> None:
    """Never overwrite: another run's object holds the planned key, so the run writes
    ``name-r{runNumber}.ext`` (chosen before the hand-off, by the single path's rule), and the
    assembled file carries this run's ``export-run`` metadata."""
    from tracking_export_aws.aws.s3_sink import RUN_METADATA

    guid = "taken"
    stack = distributed.stack
    stack.put_definition(TENANT, guid, _definition(guid))
    taken = f"tenants/{TENANT}/{guid}_1.csv"
    stack.s3.put_object(
        Bucket=stack.export_bucket, Key=taken, Body=b"someone else's", Metadata={RUN_METADATA: "other"}
    )
    result = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=MAX_ROWS)
    assert result["outcome"] == "succeeded" and result["path"] == "distributed", result.get("error")
    assert result["objectKey"] == f"tenants/{TENANT}/{guid}_1-r1.csv"
    assert result["requestedObjectKey"] == taken
    assert stack.read(taken) == b"someone else's"
    head = stack.s3.head_object(Bucket=stack.export_bucket, Key=result["objectKey"])
    assert head["Metadata"][RUN_METADATA] == f"{TENANT}/{guid}/2026-03-11T01:00:00.000000Z"


def test_a_small_run_stays_on_the_single_path_and_says_so(distributed: Distributed) -> None:
    guid = "small"
    distributed.stack.put_definition(TENANT, guid, _definition(guid))
    result = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=1_000_000)
    assert result["outcome"] == "succeeded"
    assert result["path"] == "single" and result["shards"] == 1
    # 1,200 logs loaded, all in the window: the estimate is exact for whole days.
    assert result["estimatedRows"] == 1_200
    item = _run_item(distributed.stack, guid)
    assert item["path"]["S"] == "single" and int(item["estimatedRows"]["N"]) == 1_200


def test_assembly_copies_large_shards_server_side_and_gathers_small_ones(stack: Any) -> None:
    """Parts of 5 MiB or more are UploadPartCopy'd, smaller shards downloaded and joined; the
    object appears once (If-None-Match), and a retried assembly of the same run accepts it."""
    from tracking_export_aws.aws.s3_objects import assemble_object
    from tracking_export_aws.aws.s3_sink import MIB, ObjectExists

    sizes = [6 * MIB, 1 * MIB, 2 * MIB, 7 * MIB, 100, 0]
    pieces = []
    for index, size in enumerate(sizes):
        key = f"_work/t/e/1-1/shard-{index:05d}"
        body = bytes([65 + index]) * size
        stack.s3.put_object(Bucket=stack.export_bucket, Key=key, Body=body)
        pieces.append((key, size))
    expected = b"".join(bytes([65 + i]) * size for i, size in enumerate(sizes))
    final = "tenants/t/big.csv"
    stored = assemble_object(
        stack.s3,
        stack.export_bucket,
        final,
        pieces,
        content_type="text/csv",
        tags={"tenant": "t"},
        run_id="1",
    )
    assert (stored.key, stored.size, stored.adopted) == (final, len(expected), False)
    assert stored.sha256 == hashlib.sha256(expected).hexdigest()
    assert stack.read(final) == expected
    head = stack.s3.head_object(Bucket=stack.export_bucket, Key=final)
    assert head["ContentType"] == "text/csv"
    assert head["ETag"].endswith('-4"')  # four parts: A (copy), B+C+D's head, D's rest (copy), E
    tags = stack.s3.get_object_tagging(Bucket=stack.export_bucket, Key=final)["TagSet"]
    assert tags == [{"Key": "tenant", "Value": "t"}]
    # The same run assembling again (a retried step) finds its own object and leaves it.
    again = assemble_object(
        stack.s3, stack.export_bucket, final, pieces, content_type="text/csv", tags={}, run_id="1"
    )
    assert (again.size, again.sha256, again.adopted) == (len(expected), stored.sha256, True)
    # Another run never overwrites it.
    with pytest.raises(ObjectExists, match="never overwritten"):
        assemble_object(
            stack.s3, stack.export_bucket, final, pieces, content_type="text/csv", tags={}, run_id="2"
        )
    assert stack.read(final) == expected
    assert stack.pending_uploads() == []


def test_the_loader_keeps_an_exact_log_count_per_utc_day(stack: Any, records: Any) -> None:
    """loader.recount_days: the DAYS marker of each UTC day holds its log count, idempotently."""
    from tracking_export_aws.aws.tracking_source import DynamoTrackingSource
    from tracking_export_aws.ingest.loader import recount_days

    logs = [
        records.log("cnt", 1, "2026-03-01T10:00:00Z", 60),
        records.log("cnt", 2, "2026-03-01T23:30:00Z", 60),
        records.log("cnt", 3, "2026-03-02T00:10:00Z", 60),
        records.log("cnt", 4, "2026-03-02T12:00:00Z", 60),
        records.log("cnt", 5, "2026-03-02T13:00:00Z", 60),
    ]
    stack.load(records.catalogue("cnt") + logs)
    stack.load(logs)  # the same logs again: overwritten, not added

    def counts() -> dict[str, int]:
        items = stack.dynamodb.query(
            TableName=stack.tracking_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "T#cnt#DAYS"}},
        )["Items"]
        return {i["sk"]["S"]: int(i["logCount"]["N"]) for i in items}

    assert counts() == {"2026-03-01": 2, "2026-03-02": 3}
    assert recount_days(stack.dynamodb, stack.tracking_table, "cnt", ["2026-03-02"]) == {"2026-03-02": 3}
    with pytest.raises(ValueError):
        recount_days(stack.dynamodb, stack.tracking_table, "cnt", ["March 2nd"])
    # The row estimate of a Paris day (UTC+1): 2026-03-02 local is 03-01T23:00Z..03-02T23:00Z,
    # 1/24 of UTC 03-01 (2 logs) plus 23/24 of UTC 03-02 (3 logs) = 0.083 + 2.875 -> 3.
    from datetime import UTC, datetime

    source = DynamoTrackingSource("cnt", stack.tracking_table, stack.dynamodb)
    try:
        paris_day = (datetime(2026, 3, 1, 23, tzinfo=UTC), datetime(2026, 3, 2, 23, tzinfo=UTC))
        whole = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
        assert source.estimated_logs([paris_day, whole]) == [3, 5]
    finally:
        source.close()


def test_a_single_run_about_to_time_out_fails_cleanly_before_the_timeout(stack: Any, records: Any) -> None:
    """Issue 7 §1: no silent timeout (runs/guard.py, the one deadline mechanism). The invocation's
    remaining time drops under the reserve after the first day: the run stops, aborts its
    upload, is recorded failed and notified, and its deltaMode window does not move."""
    from tracking_export_aws.runs.service import FINISH_RESERVE_SECONDS

    stack.put_tenant("slow", {"timezone": "Europe/Paris"})
    stack.put_definition(
        "slow", "slow-delta", _definition("slow-delta", parameters="<deltaMode>yes</deltaMode>")
    )
    stack.load(
        [
            *records.catalogue("slow"),
            records.log("slow", 1, "2026-03-01T10:00:00Z", 60),
            records.log("slow", 2, "2026-03-02T10:00:00Z", 60),
        ]
    )
    checks: list[int] = []

    def remaining_seconds() -> float:
        checks.append(1)
        return 800.0 if len(checks) == 1 else FINISH_RESERVE_SECONDS - 1  # plenty, then almost nothing

    request = ExportRequest.from_event(
        {"tenantId": "slow", "exportGuid": "slow-delta", "scheduledTime": "2026-03-03T01:00:00Z"}
    )
    result = wiring.export_service(stack.settings()).run(request, remaining_seconds=remaining_seconds)
    assert result.outcome == "failed"
    assert result.error.startswith(f"the run was stopped with {FINISH_RESERVE_SECONDS - 1} s")
    assert "distributed path" in result.error
    assert len(checks) == 2  # after the first day, then after the second
    assert stack.object_keys() == [] and stack.pending_uploads() == []
    (note,) = stack.notifications()
    assert note.message["outcome"] == "failed" and note.message["error"] == result.error
    (record,) = stack.ledger().runs("slow", "slow-delta")
    assert record.status == "failed"
    assert stack.ledger().previous_success_start("slow", "slow-delta") is None


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_finish_step_retried_after_the_notification_failed_notifies_once(
    distributed: Distributed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The finish step records the outcome with its notification (the outbox), then delivers;
    SNS fails the first time: the retried step finds its own finished record and delivers only
    the channel still pending (the bus took it the first time and does not get it twice)."""
    guid = "notify-retry"
    distributed.stack.put_definition(TENANT, guid, _definition(guid, parameters="<deltaMode>yes</deltaMode>"))
    coordinator = distributed.coordinator.build("_get_coordinator")
    channels = {channel.name: channel for channel in coordinator.notifier.channels}
    real_deliver = channels["sns"].deliver
    calls: list[str] = []

    def deliver(message: dict[str, Any]) -> str:
        calls.append(message["outcome"])
        if len(calls) == 1:
            raise ConnectionError("SNS did not answer")
        return str(real_deliver(message))

    monkeypatch.setattr(channels["sns"], "deliver", deliver)
    distributed.stack.events()
    capsys.readouterr()
    result = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=MAX_ROWS)
    assert result["executionStatus"] == "SUCCEEDED" and result["outcome"] == "succeeded"
    assert calls == ["succeeded", "succeeded"]  # the retried finish step published again, once
    # Counted once (beside the export function's count of the hand-off): the attempt that raised
    # counted nothing.
    assert _by_outcome(metric(emf_documents(capsys.readouterr().out), "ExportRuns")) == [
        {"outcome": "distributed", "service": "tracking-export", "value": 1.0},
        {"outcome": "succeeded", "service": "tracking-export", "value": 1.0},
    ]
    assert len(distributed.stack.events()) == 1  # the bus took it once
    (record,) = distributed.stack.ledger().runs(TENANT, guid)
    assert record.status == "succeeded"
    assert record.pending_channels == () and set(record.notified_channels) == {"sns", "eventbridge"}
    assert distributed.stack.ledger().previous_success_start(TENANT, guid) is not None
    assert distributed.stack.object_keys(WORK_PREFIX) == []


REPORTED = """<emailReport><targetEmail>lms-admin@dist.example</targetEmail></emailReport>
    <generateEndFile><fileName>{guid}.done</fileName><fileContent>OK</fileContent></generateEndFile>"""


def test_a_failed_distributed_run_tells_its_recipients_without_reading_the_configuration(
    distributed: Distributed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: the fail step builds its message from the run's plan, recipients included (the
    tenant's notificationEmails and the definition's targetEmail); the coordinator reads no
    configuration. Here the configuration is gone by the time the run fails."""
    guid = "fails-loudly"
    stack = distributed.stack
    stack.put_tenant(TENANT, {"timezone": "Europe/Paris", "notificationEmails": ["training@dist.example"]})
    key = stack.put_definition(TENANT, guid, _definition(guid, consolidators=REPORTED.format(guid=guid)))
    worker = distributed.worker.build("_get_worker")
    real_render = worker.render

    def render(plan: Any, shard: Any, remaining_seconds: Any = None) -> Any:
        stack.s3.delete_object(Bucket=stack.config_bucket, Key=key)
        stack.s3.delete_object(Bucket=stack.config_bucket, Key=f"tenants/{TENANT}/tenant.json")
        if shard.last:
            raise RuntimeError("the last shard could not read its day")
        return real_render(plan, shard, remaining_seconds)

    monkeypatch.setattr(worker, "render", render)
    try:
        result = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=MAX_ROWS)
    finally:
        stack.put_tenant(TENANT, {"timezone": "Europe/Paris"})
    assert (result["executionStatus"], result["outcome"], result["path"]) == (
        "FAILED",
        "failed",
        "distributed",
    )
    assert result["recipients"] == ["lms-admin@dist.example", "training@dist.example"]
    assert result["error"].startswith("shard ") and "internal error (RuntimeError)" in result["error"], (
        result["executionFailures"]
    )
    # The window the run covered, as the plan computed it (a whole-history export: kind all).
    assert result["window"] == {"kind": "all", "firstDay": None, "lastDay": None, "start": None, "end": None}
    assert stack.object_keys(f"tenants/{TENANT}/") == [] and stack.object_keys(WORK_PREFIX) == []


def test_an_end_file_taken_meanwhile_fails_the_run_and_its_execution(distributed: Distributed) -> None:
    """The finish step is the single path's (runs/finish.py): an end file whose name another
    writer took after the plan chose it is never overwritten; the run is recorded failed and
    notified once, and the execution fails with it (the state machine's "Run ended" choice)."""
    guid = "end-taken"
    stack = distributed.stack
    stack.put_definition(TENANT, guid, _definition(guid, consolidators=REPORTED.format(guid=guid)))
    done = f"tenants/{TENANT}/{guid}.done"
    coordinator = distributed.coordinator.build("_get_coordinator")
    real_assemble = coordinator.assemble

    def assemble(plan: Any) -> Any:
        assert plan.end_file.key == done  # chosen free when the run was prepared
        stack.s3.put_object(Bucket=stack.export_bucket, Key=done, Body=b"another writer's")
        return real_assemble(plan)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(coordinator, "assemble", assemble)
        result = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=MAX_ROWS)
    assert (result["executionStatus"], result["outcome"]) == ("FAILED", "failed")
    assert result["error"] == f"s3://{stack.export_bucket}/{done} already exists; it is never overwritten"
    assert stack.read(done) == b"another writer's"
    (record,) = stack.ledger().runs(TENANT, guid)
    assert (record.status, record.error) == ("failed", result["error"])
    assert stack.ledger().previous_success_start(TENANT, guid) is None
    assert stack.object_keys(WORK_PREFIX) == []


def test_the_window_is_computed_once_per_run_on_either_path(
    distributed: Distributed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan computes the window once, when the run is prepared; the engine renders with it
    (the single path's file and every shard) and the steps never compute it again."""
    from tracking_export import engine
    from tracking_export_aws.runs import plan as planning

    computed: list[Any] = []
    compute = planning.compute_window

    def counted(*args: Any) -> Any:
        computed.append(args)
        return compute(*args)

    def again(*_: Any) -> Any:
        raise AssertionError("the window was computed again")

    monkeypatch.setattr(planning, "compute_window", counted)
    monkeypatch.setattr(engine, "compute_window", again)
    guid = "windowed"
    single, spread = _same_file_both_ways(distributed, guid, _definition(guid))
    assert len(computed) == 2  # one run each
    assert distributed.stack.read(single["objectKey"]) == distributed.stack.read(spread["objectKey"])


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_coordinator_counts_each_run_it_ends_as_the_single_path_does(
    distributed: Distributed, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """FailedRunsAlarm and the dashboard read ExportRuns: the export function counts a run it
    hands to the state machine as ``distributed``, and the step that records the run (finish or
    fail) counts its outcome, with its rows and bytes."""
    guid = "counted"
    distributed.stack.put_definition(TENANT, guid, _definition(guid))
    service = {"service": "tracking-export"}
    capsys.readouterr()

    done = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=MAX_ROWS)

    assert done["outcome"] == "succeeded" and done["rows"] > 0
    documents = emf_documents(capsys.readouterr().out)
    # The export function's count of the hand-off (no rows nor bytes of its own), then the run's.
    assert _by_outcome(metric(documents, "ExportRuns")) == [
        {"outcome": "distributed", **service, "value": 1.0},
        {"outcome": "succeeded", **service, "value": 1.0},
    ]
    assert metric(documents, "ExportedRows") == [
        {**service, "value": 0.0},
        {**service, "value": float(done["rows"])},
    ]
    assert metric(documents, "ExportedBytes") == [
        {**service, "value": 0.0},
        {**service, "value": float(done["bytes"])},
    ]

    worker = distributed.worker.build("_get_worker")
    real_render = worker.render

    def render(plan: Any, shard: Any, remaining_seconds: Any = None) -> Any:
        if shard.index == 1:
            raise RuntimeError("the shard could not read its day")
        return real_render(plan, shard, remaining_seconds)

    monkeypatch.setattr(worker, "render", render)
    failed = distributed.run(guid, "2026-03-12T01:00:00Z", max_rows=MAX_ROWS)

    assert (failed["outcome"], failed["executionStatus"]) == ("failed", "FAILED")
    documents = emf_documents(capsys.readouterr().out)
    assert _by_outcome(metric(documents, "ExportRuns")) == [
        {"outcome": "distributed", **service, "value": 1.0},
        {"outcome": "failed", **service, "value": 1.0},
    ]
    assert metric(documents, "ExportedRows") == [{**service, "value": 0.0}, {**service, "value": 0.0}]


def _by_outcome(counts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ExportRuns counts in outcome order (the export function's and the steps' are flushed by
    different invocations)."""
    return sorted(counts, key=lambda count: str(count["outcome"]))


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_transient_error_in_a_render_step_is_retried_by_the_state_machine(
    distributed: Distributed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB throttles a worker (after the SDK's own retries): the step raises
    TransientAwsError, the state machine's Retry runs it again with backoff, and the run ends
    as if nothing happened: one file, one succeeded notification, no failure told."""
    from botocore.exceptions import ClientError

    guid = "healed"
    distributed.stack.put_definition(TENANT, guid, _definition(guid))
    worker = distributed.worker.build("_get_worker")
    real_render = worker.render
    failures: list[int] = []

    def render(plan: Any, shard: Any, remaining_seconds: Any = None) -> Any:
        if shard.index == 1 and not failures:
            failures.append(shard.index)
            throttled = {"Error": {"Code": "ProvisionedThroughputExceededException"}}
            raise ClientError(throttled, "Query")  # type: ignore[arg-type]
        return real_render(plan, shard, remaining_seconds)

    monkeypatch.setattr(worker, "render", render)
    result = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=MAX_ROWS)
    assert failures == [1]  # it did fail once
    assert (result["outcome"], result["executionStatus"]) == ("succeeded", "SUCCEEDED")
    assert result["rows"] > 0 and result["path"] == "distributed"
    assert distributed.stack.notifications() == []  # exactly one notification (returned above)
    assert distributed.stack.object_keys(WORK_PREFIX) == []
    (record,) = distributed.stack.ledger().runs(TENANT, guid)
    assert record.status == "succeeded" and record.error is None


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_permanent_error_in_a_step_is_not_retried(
    distributed: Distributed, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    guid = "refused"
    distributed.stack.put_definition(TENANT, guid, _definition(guid))
    coordinator = distributed.coordinator.build("_get_coordinator")
    calls: list[int] = []

    def assemble(plan: Any) -> Any:
        calls.append(1)
        raise ClientError({"Error": {"Code": "AccessDenied"}}, "UploadPartCopy")  # type: ignore[arg-type]

    monkeypatch.setattr(coordinator, "assemble", assemble)
    result = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=MAX_ROWS)
    assert calls == [1]
    assert (result["outcome"], result["executionStatus"]) == ("failed", "FAILED")
    assert result["error"] == "AWS error 'AccessDenied' in UploadPartCopy; the run can be retried"


def test_the_distributed_finish_archives_the_older_files_as_the_single_path_does(
    distributed: Distributed,
) -> None:
    """``<archive>`` on the distributed path: the coordinator's finish step moves the earlier
    single run's file and end file to archive/ once the assembled file and its end file exist."""
    guid = "archived"
    stack = distributed.stack
    end_file = (
        "<generateEndFile><fileName>archived_%i.done</fileName>"
        "<fileContent>ok</fileContent></generateEndFile>"
    )
    stack.put_definition(TENANT, guid, _definition(guid, consolidators=f"{end_file}<archive/>"))
    single = distributed.run(guid, "2026-03-11T01:00:00Z", max_rows=None)
    assert single["outcome"] == "succeeded"
    first = stack.read(f"tenants/{TENANT}/archived_1.csv")
    stack.notifications()
    spread = distributed.run(guid, "2026-03-12T01:00:00Z", max_rows=MAX_ROWS)
    assert spread["outcome"] == "succeeded" and spread["path"] == "distributed", spread.get("error")
    assert stack.object_keys(f"tenants/{TENANT}/") == [
        f"tenants/{TENANT}/archive/archived_1.csv",
        f"tenants/{TENANT}/archive/archived_1.done",
        f"tenants/{TENANT}/archived_2.csv",
        f"tenants/{TENANT}/archived_2.done",
    ]
    assert stack.read(f"tenants/{TENANT}/archive/archived_1.csv") == first
    assert stack.read(f"tenants/{TENANT}/archive/archived_1.done") == b"ok"
