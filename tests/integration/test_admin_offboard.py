"""``tracking-export-admin offboard`` on the local stack (moto server, dynalite): everything of one
tenant goes, nothing of the tenants next to it.

Three tenants share the stack: ``acme`` (offboarded), ``acme-2`` (its id extends acme's: a
prefix without its separator would take it) and ``acme--b`` (its schedule names start
``acme--``, as acme's do). Each has what a tenant accumulates: two versions of tenant.json,
a definition and a deleted one (a delete marker), a schedule (disabled: the tenant is
paused), tracking data, a run (export file, end file, run record, export state), config
pointers, a pause and a lifted one, a distributed run's
work files, an unfinished upload, files in incoming/, processed/ and rejected/, ingestion
progress and an erasure in progress. The test lists every schedule, object version, upload
and item of the stack before and after, and expects exactly acme's gone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nightly_export import nightly_xml

from tools.admin.main import main
from tools.admin.offboard import offboard_stores
from tools.admin.pause import pause_service
from tools.admin.target import from_env_file
from tracking_export_aws.aws.pauses import PauseRecords
from tracking_export_aws.aws.scheduler import ScheduleManager, schedule_name, tenant_schedule_names
from tracking_export_aws.ops.offboard import KINDS, Offboarding
from tracking_export_aws.runs.request import ExportRequest
from tracking_export_aws.runtime import wiring

ACME, EXTENDED, NEAR = "acme", "acme-2", "acme--b"
TENANTS = (ACME, EXTENDED, NEAR)
T0 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
DEFINITION = nightly_xml(
    folder="daily",
    consolidators="""
      <generateEndFile>
        <fileName>nightly.done</fileName>
        <fileContent>OK</fileContent>
      </generateEndFile>""",
)

Entry = tuple[str, ...]


@pytest.fixture
def fleet(stack: Any, records: Any, tmp_path: Path) -> Any:
    """The stack with the three tenants, an ingest bucket, and the env file naming it all."""
    ingest_bucket = stack.config_bucket.replace("it-config-", "it-ingest-")
    s3 = stack.s3
    s3.create_bucket(Bucket=ingest_bucket)
    schedules = ScheduleManager(
        stack.scheduler,
        stack.schedule_group,
        stack.export_function_arn,
        stack.scheduler_role_arn,
        stack.schedule_dlq_arn,
    )
    service = wiring.export_service(stack.settings())
    dynamodb = stack.dynamodb
    for tenant in TENANTS:
        stack.put_tenant(tenant, {"timezone": "Europe/Paris"})
        stack.put_tenant(
            tenant, {"timezone": "Europe/Paris", "notificationEmails": [f"ops@{tenant}.example"]}
        )
        stack.put_definition(tenant, "nightly", DEFINITION)
        gone = stack.put_definition(tenant, "retired", DEFINITION)
        s3.delete_object(Bucket=stack.config_bucket, Key=gone)
        schedules.upsert(tenant, "nightly", "cron(0 2 * * ? *)", "Europe/Paris")
        stack.load(
            [
                *records.catalogue(tenant),
                records.log(tenant, 1, "2026-03-01T09:00:00Z", 60),
                records.log(tenant, 2, "2026-03-02T09:00:00Z", 120),
            ]
        )
        result = service.run(ExportRequest(tenant, "nightly", scheduled_time=T0))
        assert result.outcome == "succeeded", result
        for pk, sk in ((f"T#{tenant}#E#nightly", "CONFIG"), (f"T#{tenant}#SETTINGS", "CONFIG")):
            dynamodb.put_item(TableName=stack.run_history_table, Item={"pk": {"S": pk}, "sk": {"S": sk}})
        for pk, sk, extra in (
            (f"T#{tenant}#INGEST", "E#etag-1", {"status": {"S": "done"}, "leaseUntil": {"N": "0"}}),
            (f"T#{tenant}#ERASURE#1", "R", {"salt": {"S": "x"}}),
        ):
            dynamodb.put_item(
                TableName=stack.tracking_table, Item={"pk": {"S": pk}, "sk": {"S": sk}, **extra}
            )
        s3.put_object(Bucket=stack.export_bucket, Key=f"_work/{tenant}/nightly/1-1/manifest.json", Body=b"{}")
        s3.create_multipart_upload(Bucket=stack.export_bucket, Key=f"tenants/{tenant}/daily/partial.csv")
        for folder in ("incoming", "processed", "rejected"):
            s3.put_object(Bucket=ingest_bucket, Key=f"tenants/{tenant}/{folder}/logs.jsonl", Body=b"{}\n")
    stack.notifications()
    # The template's IngestBucket on this stack: the ingest function's section names it.
    stack.extra_buckets[ingest_bucket] = "IngestBucket"
    env_file = stack.write_env_file(
        tmp_path / "env.json", "ExportFunction", "ConfigSyncFunction", "IngestFunction"
    )
    # The operator paused and resumed the export (a lifted pause), then paused the whole tenant
    # (its schedule disabled).
    pauses = pause_service(from_env_file(env_file))
    for tenant in TENANTS:
        pauses.pause(tenant, "nightly", by="ops")
        pauses.resume(tenant, "nightly", by="ops")
        pauses.pause(tenant, by="ops")
    stack.ingest_bucket = ingest_bucket
    stack.env_file = env_file
    yield stack
    for upload in s3.list_multipart_uploads(Bucket=ingest_bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=ingest_bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=ingest_bucket):
        for item in page.get("Versions", []):
            s3.delete_object(Bucket=ingest_bucket, Key=item["Key"], VersionId=item["VersionId"])
    s3.delete_bucket(Bucket=ingest_bucket)
    for summary in stack.scheduler.list_schedules(GroupName=stack.schedule_group)["Schedules"]:
        stack.scheduler.delete_schedule(Name=summary["Name"], GroupName=stack.schedule_group)


def _everything(stack: Any) -> set[Entry]:
    """Every schedule, object version, unfinished upload and table item of the stack."""
    found: set[Entry] = set()
    for summary in stack.scheduler.list_schedules(GroupName=stack.schedule_group)["Schedules"]:
        found.add(("schedule", summary["Name"]))
    for bucket in (stack.config_bucket, stack.export_bucket, stack.ingest_bucket):
        for page in stack.s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                found.add(("object", bucket, item["Key"], item["VersionId"]))
        for upload in stack.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            found.add(("upload", bucket, upload["Key"]))
    for table in (stack.tracking_table, stack.run_history_table):
        for page in stack.dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                found.add(("item", table, item["pk"]["S"], item["sk"]["S"]))
    return found


def _of(tenant: str) -> Callable[[Entry], bool]:
    """Whether an entry is the tenant's, by the layout of docs/table-design.md and the buckets
    (written out here, not taken from the code under test)."""

    def mine(entry: Entry) -> bool:
        if entry[0] == "schedule":
            return entry[1] == f"{tenant}--nightly"
        if entry[0] in ("object", "upload"):
            return entry[2].startswith((f"tenants/{tenant}/", f"_work/{tenant}/"))
        return entry[2].startswith(f"T#{tenant}#")

    return mine


def _admin(stack: Any, *arguments: str) -> int:
    return main(["--env-file", str(stack.env_file), *arguments])


def test_offboarding_removes_everything_of_the_tenant_and_nothing_of_its_neighbours(
    fleet: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _everything(fleet)
    acme = {entry for entry in before if _of(ACME)(entry)}
    # Each tenant has something of every kind, so the comparison below means something.
    for tenant in TENANTS:
        kinds = {(e[0], e[1]) if e[0] != "schedule" else ("schedule",) for e in before if _of(tenant)(e)}
        assert len(kinds) == 7, (tenant, kinds)  # schedule, 3 buckets' objects, 1 upload bucket, 2 tables
    # The delete marker of the retired definition is there, and counted.
    assert any(e[0] == "object" and e[2] == "tenants/acme/exports/retired.xml" for e in acme)

    assert _admin(fleet, "offboard", "--tenant", ACME, "--yes") == 0
    out = capsys.readouterr().out
    assert _everything(fleet) == before - acme
    assert "removed schedules: 1" in out
    assert f"tenant acme: {len(acme):,} removed" in out

    assert _admin(fleet, "offboard", "--tenant", ACME, "--yes") == 0
    assert "tenant acme: nothing to remove" in capsys.readouterr().out
    assert _everything(fleet) == before - acme


def test_a_dry_run_counts_each_kind_and_changes_nothing(
    fleet: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _everything(fleet)
    assert _admin(fleet, "--runner", "in-process", "offboard", "--tenant", ACME, "--dry-run", "--json") == 0
    survey = json.loads(capsys.readouterr().out)["survey"]
    assert _everything(fleet) == before
    # Counted by hand from the fixture: 1 schedule; config: tenant.json x2, nightly.xml, retired.xml
    # and its delete marker; exports: the file, the end file, the work file, the upload; ingest: 3
    # files; run history: the run, the export state, 2 config pointers, the tenant's pause and
    # the export's lifted one.
    assert survey["counts"]["schedules"] == 1
    assert survey["parts"]["config"] == {"tenant.json": 2, "definitions": 2, "delete markers": 1}
    assert survey["parts"]["exports"] == {
        "files": 2,
        "distributed-run work files": 1,
        "unfinished uploads": 1,
    }
    assert survey["parts"]["ingest"] == {"incoming/": 1, "processed/": 1, "rejected/": 1}
    assert survey["parts"]["history"] == {
        "runs": 1,
        "export states": 1,
        "config pointers": 2,
        "pauses": 1,
        "lifted pauses": 1,
    }
    tracking = survey["parts"]["tracking"]
    assert (tracking["logs"], tracking["day markers"], tracking["ingestion progress"]) == (2, 2, 1)
    assert tracking["erasure state"] == 1 and tracking["has-log markers"] == 1
    acme_items = {e for e in before if _of(ACME)(e) and e[0] == "item" and e[1] == fleet.tracking_table}
    assert sum(tracking.values()) == len(acme_items)
    assert survey["inProgress"] == [] and survey["readUnits"] > 0


def test_a_run_in_progress_is_named_and_nothing_is_removed_without_force(
    fleet: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    later = T0 + timedelta(days=1)
    fleet.ledger().claim(ACME, "nightly", later, datetime.now(UTC), 120, invocation_id="inv-live")
    before = _everything(fleet)
    assert _admin(fleet, "offboard", "--tenant", ACME, "--yes") == 1
    err = capsys.readouterr().err
    assert "run of export nightly at 2026-03-04T01:00:00.000000Z" in err and "inv-live" in err
    assert "--force" in err
    assert _everything(fleet) == before

    assert _admin(fleet, "offboard", "--tenant", ACME, "--yes", "--force") == 0
    assert "in progress when forced: run of export nightly" in capsys.readouterr().out
    assert _everything(fleet) == {e for e in before if not _of(ACME)(e)}


def test_an_ingestion_in_progress_is_named_too(fleet: Any, capsys: pytest.CaptureFixture[str]) -> None:
    until = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp())
    fleet.dynamodb.put_item(
        TableName=fleet.tracking_table,
        Item={
            "pk": {"S": "T#acme#INGEST"},
            "sk": {"S": "E#etag-2"},
            "status": {"S": "loading"},
            "leaseUntil": {"N": str(until)},
            "objectKey": {"S": "tenants/acme/incoming/big.jsonl"},
        },
    )
    before = _everything(fleet)
    assert _admin(fleet, "offboard", "--tenant", ACME, "--yes") == 1
    assert "ingestion of tenants/acme/incoming/big.jsonl: loading" in capsys.readouterr().err
    assert _everything(fleet) == before


def test_without_yes_the_operator_types_the_tenant_id(
    fleet: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _everything(fleet)
    monkeypatch.setattr("sys.stdin", io.StringIO("acme-2\n"))
    assert _admin(fleet, "offboard", "--tenant", ACME) == 1
    assert "not confirmed" in capsys.readouterr().err
    assert _everything(fleet) == before
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal: nobody confirms
    assert _admin(fleet, "offboard", "--tenant", ACME) == 1
    assert _everything(fleet) == before

    monkeypatch.setattr("sys.stdin", io.StringIO("acme\n"))
    assert _admin(fleet, "offboard", "--tenant", ACME) == 0
    assert _everything(fleet) == {e for e in before if not _of(ACME)(e)}


def test_an_invalid_tenant_id_is_a_usage_error(fleet: Any, capsys: pytest.CaptureFixture[str]) -> None:
    before = _everything(fleet)
    for bad in ("ACME", "acme#", "a", "../acme"):
        assert _admin(fleet, "offboard", "--tenant", bad, "--yes") == 2
        assert "invalid tenant id" in capsys.readouterr().err
    assert _everything(fleet) == before


def test_long_tenant_ids_whose_schedule_names_share_their_start_are_told_apart(stack: Any) -> None:
    # Names over 64 characters keep their first 47 and a hash: both tenants' start the same.
    first, second = "t" * 50, "t" * 50 + "-2"
    schedules = ScheduleManager(
        stack.scheduler,
        stack.schedule_group,
        stack.export_function_arn,
        stack.scheduler_role_arn,
        stack.schedule_dlq_arn,
    )
    for tenant in (first, second):
        schedules.upsert(tenant, "nightly", "cron(0 2 * * ? *)", "UTC")
    assert schedule_name(first, "nightly")[:47] == schedule_name(second, "nightly")[:47]
    assert tenant_schedule_names(stack.scheduler, stack.schedule_group, first) == [
        schedule_name(first, "nightly")
    ]
    assert tenant_schedule_names(stack.scheduler, stack.schedule_group, second) == [
        schedule_name(second, "nightly")
    ]
    for tenant in (first, second):
        schedules.delete(tenant, "nightly")


def test_the_tenant_is_paused_while_its_things_go_and_the_pause_goes_last(fleet: Any) -> None:
    target = from_env_file(fleet.env_file)
    pause_service(target).resume(ACME, by="ops")  # acme runs again before it leaves
    pauses = PauseRecords(fleet.dynamodb, fleet.run_history_table)
    assert pauses.get(ACME) is None
    service = wiring.export_service(fleet.settings())
    later = T0 + timedelta(days=1)
    seen: list[tuple[str, str]] = []

    def removed(kind: str, _parts: dict[str, int]) -> None:
        # A delivery already on its way while the tenant's things go starts no run (after the
        # run history, the last kind, the pause is gone too: docs/operations.md says what then).
        if kind != KINDS[-1]:
            answer = service.run(ExportRequest(ACME, "nightly", scheduled_time=later))
            seen.append((kind, answer.outcome))

    offboarding = Offboarding(offboard_stores(target), ACME)
    offboarding.remove(on_removed=removed)
    assert seen == [(kind, "paused") for kind in KINDS[:-1]]
    assert pauses.get(ACME) is None  # gone with the run history
    assert fleet.ledger().get(ACME, "nightly", later) is None
    assert offboarding.survey().empty
