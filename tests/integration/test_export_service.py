"""The export service end to end over real HTTP: moto server (S3, SNS, SQS, EventBridge) and
dynalite (DynamoDB), built by ``tracking_export_aws.runtime.wiring`` from the functions' environment.

Spec: export-definition.md §4 (actions and consolidators), §5 (deltaMode), §6 (run outcome);
architecture.md (notifications, no partial object, at-least-once delivery, tenant isolation).
Every expected cell below is derived by hand from the records and the spec (Paris is UTC+1
in February and early March: DST starts on 29 March 2026).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tracking_export import cli
from tracking_export.definition import load_definition
from tracking_export.engine import run_export
from tracking_export.limits import Limits
from tracking_export.source import InMemorySource
from tracking_export_aws.aws.s3_sink import MIB
from tracking_export_aws.runs.service import ExportRequest, ExportService
from tracking_export_aws.runtime import wiring

SEED_XML = Path(__file__).resolve().parents[1] / "fixtures" / "seed-example.xml"
PARIS = {"timezone": "Europe/Paris"}

DELTA_XML = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="delta-daily">
    <providers>
      <trackingLogProvider>
        <columns>
          <logDate/>
          <firstLaunchDate/>
          <timeGlobal/>
        </columns>
        <parameters>
          <deltaMode>yes</deltaMode>
        </parameters>
      </trackingLogProvider>
    </providers>
  </export>
</export-config>
"""

# Same key, but not loadable: an unknown column (spec §1: a definition with an error never runs).
DELTA_XML_BROKEN = DELTA_XML.replace("<timeGlobal/>", "<timeGlobal/>\n          <noSuchColumn/>")


def _service(stack: Any, **changes: Any) -> ExportService:
    service = wiring.export_service(stack.settings())
    return dataclasses.replace(service, **changes) if changes else service


def _scheduled(tenant: str, guid: str, instant: str) -> ExportRequest:
    """What the schedule sends (scheduler-payload.json's shape)."""
    return ExportRequest.from_event({"tenantId": tenant, "exportGuid": guid, "scheduledTime": instant})


def _replay(tenant: str, guid: str, instant: str) -> ExportRequest:
    """A manual run at ``instant`` (replay-run-at.json's shape)."""
    return ExportRequest.from_event({"tenantId": tenant, "exportGuid": guid, "runAt": instant})


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=";"))


def _csv(*lines: str) -> bytes:
    return "".join(line + "\r\n" for line in lines).encode("utf-8")


# --- 1. full run of the seed definition -------------------------------------------------------


def test_seed_definition_full_run_matches_engine_and_preview(
    stack: Any, records: Any, tmp_path: Path
) -> None:
    dataset = [*records.catalogue("acme"), *records.seed_logs("acme")]
    stack.put_tenant("acme", PARIS)
    stack.put_definition("acme", "seed-example", SEED_XML.read_bytes())
    stack.load(dataset)
    run_at = "2020-02-11T07:00:00Z"  # 08:00 in Paris

    result = _service(stack).run(_scheduled("acme", "seed-example", run_at))

    # Default file name %e_%Y%m%d_%H%M%S.csv, run time in the tenant's zone, inside tenants/acme/.
    key = "tenants/acme/seed-example_20200211_080000.csv"
    assert result.outcome == "succeeded", result
    assert stack.object_keys() == [key]
    body = stack.read(key)

    # Same bytes as the engine over the same records in memory (same definition, same now) ...
    now = datetime(2020, 2, 11, 7, 0, tzinfo=UTC)
    expected = io.BytesIO()
    report = run_export(
        load_definition(SEED_XML.read_bytes(), name="seed-example.xml"),
        InMemorySource("acme", dataset),
        expected,
        tenant_id="acme",
        timezone="Europe/Paris",
        now=now,
    )
    assert body == expected.getvalue()
    # ... and as the command-line preview over the JSONL dataset.
    jsonl = tmp_path / "acme.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in dataset), encoding="utf-8")
    preview = tmp_path / "preview.csv"
    argv = ["render", "--definition", str(SEED_XML), "--dataset", str(jsonl), "--tenant", "acme"]
    argv += ["--timezone", "Europe/Paris", "--now", run_at, "--output", str(preview)]
    assert cli.main(argv) == 0
    assert preview.read_bytes() == body

    # The seed's example, by hand (data-contract.md): two rows, Paris time, default formats.
    rows = _rows(body)
    assert [(r["firstLaunchDate"], r["completionTime"], r["firstCompletionDate"]) for r in rows] == [
        ("2020-02-10 10:30:00", "2020-02-10 10:33:00", ""),
        ("2020-02-10 18:00:00", "2020-02-10 18:01:00", "2020-02-10 18:01:00"),
    ]
    assert [(r["progression"], r["score"], r["status"], r["timeGlobal"]) for r in rows] == [
        ("40", "", "incomplete", "180"),
        ("100", "4", "completed", "60"),
    ]
    for row in rows:
        assert (row["candidateName"], row["candidateFirstname"], row["logDate"]) == (
            "Martin",
            "Laurie",
            "2020-02-10",
        )
        assert (row["trainingTitle"], row["sessionTitle"], row["contentTitle"]) == (
            "First steps",
            "Session 01",
            "Welcome to our team",
        )
        assert (row["trainingContentFolder"], row["trainingContentMandatory"]) == ("Onboarding", "Y")
    assert report.rows == 2

    # One notification: SNS with filterable attributes, and one EventBridge event.
    digest = hashlib.sha256(body).hexdigest()
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "exportGuid": "seed-example", "outcome": "succeeded"}
    message = note.message
    assert (message["outcome"], message["rows"], message["bytes"]) == ("succeeded", 2, len(body))
    assert (message["objectKey"], message["sha256"], message["bucket"]) == (key, digest, stack.export_bucket)
    assert message["window"]["kind"] == "all"
    [event] = stack.events()
    assert (event["source"], event["detail-type"]) == ("tracking-log-export", "Export Run Succeeded")
    # The event bus (account-wide) gets the same message without the recipients' addresses.
    assert "recipients" in message
    assert event["detail"] == {k: v for k, v in message.items() if k != "recipients"}

    # One run record: succeeded, with rows, bytes, key and checksum, its notification delivered.
    [run] = stack.ledger().runs("acme", "seed-example")
    assert (run.status, run.rows, run.bytes_written, run.object_key, run.sha256) == (
        "succeeded",
        2,
        len(body),
        key,
        digest,
    )
    assert run.run_number == 1 and run.duration_ms is not None and run.error is None
    assert (run.pending_channels, run.notified_channels) == ((), ("eventbridge", "sns"))
    assert run.notification == message


# --- 2. deltaMode over consecutive days ---------------------------------------------------------


def test_delta_mode_over_consecutive_days(stack: Any, records: Any) -> None:
    log = records.log
    stack.put_tenant("acme", PARIS)
    stack.put_definition("acme", "delta-daily", DELTA_XML)
    stack.load([*records.catalogue("acme"), log("acme", 1001, "2026-03-01T10:00:00Z", 101)])
    stack.load([log("acme", 1002, "2026-03-02T08:00:00Z", 102)])
    service = _service(stack)
    ledger = stack.ledger()
    header = "logDate;firstLaunchDate;timeGlobal"

    def run(request: ExportRequest) -> tuple[dict[str, Any], bytes]:
        result = service.run(request)
        assert result.outcome == "succeeded", result
        return result, stack.read(result.objectKey)

    # Day 1 (2 March), first run of the export (no history): all data up to the end of 2 March
    # in Paris, the day before included.
    first, body = run(_scheduled("acme", "delta-daily", "2026-03-02T12:00:00Z"))
    assert body == _csv(header, "2026-03-01;2026-03-01 11:00:00;101", "2026-03-02;2026-03-02 09:00:00;102")
    assert first.window.kind == "delta"
    assert (first.window.firstDay, first.window.lastDay) == (None, "2026-03-02")

    # Logged after day 1's run: late on day 1 (21:00 Paris), 00:30 on day 2 in Paris (still 2 March
    # in UTC), and on day 2 before its run.
    stack.load(
        [
            log("acme", 1003, "2026-03-02T20:00:00Z", 103),
            log("acme", 1004, "2026-03-02T23:30:00Z", 104),
            log("acme", 1005, "2026-03-03T08:00:00Z", 105),
        ]
    )
    # Day 2: whole days from day 1 (when the previous successful run started) through day 2.
    second, body = run(_scheduled("acme", "delta-daily", "2026-03-03T12:00:00Z"))
    assert (second.window.firstDay, second.window.lastDay) == ("2026-03-02", "2026-03-03")
    assert body == _csv(
        header,
        "2026-03-02;2026-03-02 09:00:00;102",
        "2026-03-02;2026-03-02 21:00:00;103",  # logged late on day 1, after day 1's run
        "2026-03-03;2026-03-03 00:30:00;104",
        "2026-03-03;2026-03-03 09:00:00;105",
    )

    # Day 3: the scheduled run covers day 2 (late activity of day 2 included) through day 3.
    stack.load(
        [log("acme", 1006, "2026-03-03T18:00:00Z", 106), log("acme", 1007, "2026-03-04T06:00:00Z", 107)]
    )
    third, body = run(_scheduled("acme", "delta-daily", "2026-03-04T07:00:00Z"))
    assert (third.window.firstDay, third.window.lastDay) == ("2026-03-03", "2026-03-04")
    assert body == _csv(
        header,
        "2026-03-03;2026-03-03 00:30:00;104",
        "2026-03-03;2026-03-03 09:00:00;105",
        "2026-03-03;2026-03-03 19:00:00;106",
        "2026-03-04;2026-03-04 07:00:00;107",
    )

    # Then five runs in a row on day 3, no new activity: the delta period is today each time,
    # so five identical files (distinct names: the run time is in the default file name).
    today_only = _csv(header, "2026-03-04;2026-03-04 07:00:00;107")
    five = [run(_replay("acme", "delta-daily", f"2026-03-04T{hour:02d}:00:00Z")) for hour in range(9, 14)]
    assert [body for _, body in five] == [today_only] * 5
    assert len({result.objectKey for result, _ in five}) == 5
    assert {(r.window.firstDay, r.window.lastDay) for r, _ in five} == {("2026-03-04", "2026-03-04")}
    assert ledger.previous_success_start("acme", "delta-daily") == datetime(2026, 3, 4, 13, tzinfo=UTC)

    # Day 4: the run fails (the definition became invalid); the window does not move.
    stack.load([log("acme", 1008, "2026-03-05T10:00:00Z", 108)])
    stack.put_definition("acme", "delta-daily", DELTA_XML_BROKEN)
    objects_before = stack.object_keys()
    stack.notifications()  # forget the successful runs' notifications
    failed = service.run(_scheduled("acme", "delta-daily", "2026-03-05T12:00:00Z"))
    assert failed.outcome == "failed"
    assert "noSuchColumn" in failed.error
    assert stack.object_keys() == objects_before
    assert ledger.previous_success_start("acme", "delta-daily") == datetime(2026, 3, 4, 13, tzinfo=UTC)
    [note] = stack.notifications()
    assert note.attributes["outcome"] == "failed" and note.message["error"] == failed.error

    # Day 5: fixed again; the run covers everything the failed one should have (day 3 onwards).
    stack.put_definition("acme", "delta-daily", DELTA_XML)
    stack.load([log("acme", 1009, "2026-03-06T10:00:00Z", 109)])
    fifth, body = run(_scheduled("acme", "delta-daily", "2026-03-06T12:00:00Z"))
    assert (fifth.window.firstDay, fifth.window.lastDay) == ("2026-03-04", "2026-03-06")
    assert body == _csv(
        header,
        "2026-03-04;2026-03-04 07:00:00;107",
        "2026-03-05;2026-03-05 11:00:00;108",  # the failed run's day
        "2026-03-06;2026-03-06 11:00:00;109",
    )
    statuses = [r.status for r in ledger.runs("acme", "delta-daily")]
    assert statuses.count("succeeded") == 9 and statuses.count("failed") == 1


# --- 3. a failure in the middle of the upload ----------------------------------------------------

BIG_CELL = "x" * 60_000
BIG_COLUMNS = f'<constantValue value="{BIG_CELL}"/>' * 10  # about 600 kB a row
# Far over the default caps (docs/limits.md), which are settings: raised here to build a
# multi-part file from a dozen rows.
BULKY_LIMITS = Limits.from_env({"MAX_TEXT_LENGTH": "60000", "MAX_FIXED_ROW_TEXT": "600000"})
BULKY_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="bulky-export">
    <providers>
      <trackingLogProvider>
        <columns>
          <logDate/>
          <timeGlobal/>
          {BIG_COLUMNS}
        </columns>
        <parameters>
          <deltaMode>yes</deltaMode>
        </parameters>
      </trackingLogProvider>
    </providers>
  </export>
</export-config>
"""


class PartTwoFails:
    """An S3 client whose ``upload_part`` fails on part 2; everything else goes to the real client."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.parts_tried: list[int] = []
        self.aborted = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def upload_part(self, **kwargs: Any) -> Any:
        self.parts_tried.append(kwargs["PartNumber"])
        if kwargs["PartNumber"] == 2:
            raise ConnectionResetError("injected: connection reset while uploading part 2")
        return self.real.upload_part(**kwargs)

    def abort_multipart_upload(self, **kwargs: Any) -> Any:
        self.aborted += 1
        return self.real.abort_multipart_upload(**kwargs)


def test_failure_during_upload_leaves_nothing_and_keeps_the_window(stack: Any, records: Any) -> None:
    # 12 rows of ~600 kB: about 7 MB, two parts of 5 MiB.
    logs = [records.log("acme", 2000 + n, f"2026-03-02T{8 + n:02d}:00:00Z", n) for n in range(12)]
    stack.put_tenant("acme", PARIS)
    stack.put_definition("acme", "bulky-export", BULKY_XML)
    stack.load([*records.catalogue("acme"), *logs])

    ok = _service(stack, part_size=5 * MIB, limits=BULKY_LIMITS).run(
        _scheduled("acme", "bulky-export", "2026-03-02T21:00:00Z")
    )
    assert ok.outcome == "succeeded", ok
    assert ok.rows == 12 and ok.bytes > 5 * MIB
    window_before = stack.ledger().previous_success_start("acme", "bulky-export")
    assert window_before == datetime(2026, 3, 2, 21, tzinfo=UTC)
    stack.notifications(), stack.events()  # forget the successful run's notification

    failing = PartTwoFails(stack.s3)
    result = _service(stack, s3=failing, part_size=5 * MIB, limits=BULKY_LIMITS).run(
        _scheduled("acme", "bulky-export", "2026-03-03T21:00:00Z")
    )

    assert failing.parts_tried == [1, 2] and failing.aborted == 1  # it really failed mid-upload
    assert result.outcome == "failed"
    assert stack.object_keys() == [ok.objectKey]  # no object for the failed run
    assert stack.pending_uploads() == []  # and no multipart upload left behind
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "exportGuid": "bulky-export", "outcome": "failed"}
    # An unexpected exception is named by its type only: its text stays in the function's log.
    assert note.message["error"] == (
        "internal error (ConnectionResetError); the details are in the export function's log"
    )
    assert note.message["objectKey"] is None
    [event] = stack.events()
    assert event["detail-type"] == "Export Run Failed"
    assert stack.ledger().previous_success_start("acme", "bulky-export") == window_before
    latest = stack.ledger().runs("acme", "bulky-export")[0]
    assert (latest.status, latest.error) == ("failed", note.message["error"])

    # A repeated delivery of the failed run changes nothing: one outcome, one notification.
    again = _service(stack, part_size=5 * MIB, limits=BULKY_LIMITS).run(
        _scheduled("acme", "bulky-export", "2026-03-03T21:00:00Z")
    )
    assert (again.outcome, again.existingStatus) == ("duplicate", "failed")
    assert stack.notifications() == [] and stack.object_keys() == [ok.objectKey]
    # The next scheduled run covers the failed run's day too (the window did not move).
    nxt = _service(stack, part_size=5 * MIB, limits=BULKY_LIMITS).run(
        _scheduled("acme", "bulky-export", "2026-03-04T21:00:00Z")
    )
    assert nxt.outcome == "succeeded", nxt
    assert nxt.objectKey in stack.object_keys() and stack.pending_uploads() == []
    assert nxt.window.firstDay == "2026-03-02"  # still from the last successful run's day
    assert stack.ledger().previous_success_start("acme", "bulky-export") == datetime(
        2026, 3, 4, 21, tzinfo=UTC
    )


def test_missing_definition_is_a_failed_run_with_a_notification(stack: Any) -> None:
    stack.put_tenant("acme", PARIS)

    result = _service(stack).run(_scheduled("acme", "gone-export", "2026-03-03T21:00:00Z"))

    assert result.outcome == "failed"
    assert "tenants/acme/exports/gone-export.xml" in result.error
    assert stack.object_keys() == []
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": "acme", "exportGuid": "gone-export", "outcome": "failed"}
    assert note.message["error"] == result.error
    [run] = stack.ledger().runs("acme", "gone-export")
    assert (run.status, run.error) == ("failed", result.error)


# --- 4. a duplicated scheduled delivery ------------------------------------------------------------


def test_duplicate_delivery_makes_one_file_and_one_notification(stack: Any, records: Any) -> None:
    stack.put_tenant("acme", PARIS)
    stack.put_definition("acme", "delta-daily", DELTA_XML)
    stack.load([*records.catalogue("acme"), *records.seed_logs("acme")])
    service = _service(stack)
    delivery = _scheduled("acme", "delta-daily", "2020-02-11T01:00:00Z")

    first = service.run(delivery)
    second = service.run(delivery)

    assert first.outcome == "succeeded"
    assert second.outcome == "duplicate"
    assert (second.existingStatus, second.objectKey) == ("succeeded", first.objectKey)
    assert stack.object_keys() == [first.objectKey]
    assert len(stack.notifications()) == 1
    assert len(stack.events()) == 1
    [run] = stack.ledger().runs("acme", "delta-daily")
    assert (run.status, run.run_number, run.attempt) == ("succeeded", 1, 1)
    assert stack.ledger().previous_success_start("acme", "delta-daily") == datetime(
        2020, 2, 11, 1, tzinfo=UTC
    )


# --- 6. an empty window and deleteEmptyFiles --------------------------------------------------------

QUIET_XML = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="quiet-export">
    <providers>
      <trackingLogProvider>
        <columns>
          <logDate/>
          <candidateId/>
        </columns>
        <parameters>
          <timeFrames>1</timeFrames>
          <timeFramesScale>less_than_n_days</timeFramesScale>
        </parameters>
      </trackingLogProvider>
    </providers>
    <consolidators>
      <moveToFolder>
        <folderPath>quiet</folderPath>
        <deleteEmptyFiles>{delete}</deleteEmptyFiles>
      </moveToFolder>
    </consolidators>
  </export>
</export-config>
"""


@pytest.mark.parametrize("delete", ["yes", "no"])
def test_empty_window(stack: Any, records: Any, delete: str) -> None:
    stack.put_tenant("acme", PARIS)
    stack.put_definition("acme", "quiet-export", QUIET_XML.format(delete=delete))
    stack.load([*records.catalogue("acme"), *records.seed_logs("acme")])  # all on 10 February 2020

    # The last 24 hours before 1 March 2020 hold no action.
    result = _service(stack).run(_scheduled("acme", "quiet-export", "2020-03-01T09:00:00Z"))

    assert result.outcome == "succeeded" and result.rows == 0
    [note] = stack.notifications()
    assert note.attributes["outcome"] == "succeeded"
    assert note.message["rows"] == 0
    assert stack.pending_uploads() == []
    if delete == "yes":
        assert stack.object_keys() == []
        assert note.message["objectKey"] is None
        assert note.message["bytes"] == 0
    else:
        key = "tenants/acme/quiet/quiet-export_20200301_100000.csv"
        assert stack.object_keys() == [key]
        assert stack.read(key) == b"logDate;candidateId\r\n"
        assert note.message["objectKey"] == key
        assert note.message["sha256"] == hashlib.sha256(b"logDate;candidateId\r\n").hexdigest()


# --- 7. end file, download link, tenant isolation ---------------------------------------------------

DAILY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="daily-tracking-log">
    <providers>
      <trackingLogProvider>
        <columns>
          <candidateId/>
          <candidateName/>
          <candidateEmail/>
          <firstLaunchDate/>
          <timeGlobal/>
        </columns>
      </trackingLogProvider>
    </providers>
    <consolidators>
      <moveToFolder>
        <folderPath>daily</folderPath>
        <fileName>tracking_log_%Y%m%d_%i.csv</fileName>
      </moveToFolder>
      <emailReport>
        <targetEmail>lms-admin@acme.example</targetEmail>
        <includeDownloadLink>yes</includeDownloadLink>
      </emailReport>
      <generateEndFile>
        <fileName>tracking_log.done</fileName>
        <fileContent>OK</fileContent>
      </generateEndFile>
    </consolidators>
  </export>
</export-config>
"""


def test_end_file_and_download_link(stack: Any, records: Any) -> None:
    stack.put_tenant("acme", {**PARIS, "notificationEmails": ["training@acme.example"]})
    stack.put_definition("acme", "daily-tracking-log", DAILY_XML)
    stack.load([*records.catalogue("acme"), *records.seed_logs("acme")])

    result = _service(stack).run(_scheduled("acme", "daily-tracking-log", "2020-02-11T01:00:00Z"))

    key, done = "tenants/acme/daily/tracking_log_20200211_1.csv", "tenants/acme/daily/tracking_log.done"
    assert result.outcome == "succeeded", result
    assert stack.object_keys() == sorted([key, done])
    assert stack.read(done) == b"OK"
    body = stack.read(key)
    assert body == _csv(
        "candidateId;candidateName;candidateEmail;firstLaunchDate;timeGlobal",
        "1;Martin;laurie@acme.example;2020-02-10 10:30:00;180",
        "1;Martin;laurie@acme.example;2020-02-10 18:00:00;60",
    )
    [note] = stack.notifications()
    message = note.message
    assert message["endFileKey"] == done
    assert message["recipients"] == ["lms-admin@acme.example", "training@acme.example"]
    assert message["downloadUrl"].startswith(f"{stack.moto}/{stack.export_bucket}/{key}?")
    # SigV4 always, for the default hour (the credentials here do not say when they expire).
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in message["downloadUrl"]
    assert "X-Amz-Expires=3600&" in message["downloadUrl"]
    assert message["downloadUrlExpiresInSeconds"] == 3600
    expires_at = datetime.fromisoformat(message["downloadUrlExpiresAt"])
    assert 3590 <= (expires_at - datetime.now(UTC)).total_seconds() <= 3600
    with urllib.request.urlopen(message["downloadUrl"], timeout=10) as response:
        assert response.read() == body
    # The event bus gets neither the link nor the addresses (no operator opt-in here).
    [event] = stack.events()
    assert not {"downloadUrl", "recipients"} & set(event["detail"])
    assert event["detail"]["downloadUrlExpiresAt"] == message["downloadUrlExpiresAt"]


def test_tenant_isolation(stack: Any, records: Any) -> None:
    globex = records.catalogue("globex", name="Globex-Surname", email="laurie@globex.example")
    # Same ids in both tenants; globex has one more log.
    globex_logs = [*records.seed_logs("globex"), records.log("globex", 9003, "2020-02-10T19:00:00Z", 30)]
    for tenant in ("acme", "globex"):
        stack.put_tenant(tenant, PARIS)
        stack.put_definition(tenant, "daily-tracking-log", DAILY_XML)
    stack.load([*records.catalogue("acme"), *records.seed_logs("acme"), *globex, *globex_logs])
    service = _service(stack)

    acme = service.run(_scheduled("acme", "daily-tracking-log", "2020-02-11T01:00:00Z"))
    other = service.run(_scheduled("globex", "daily-tracking-log", "2020-02-11T01:00:00Z"))

    assert acme.objectKey == "tenants/acme/daily/tracking_log_20200211_1.csv"
    assert other.objectKey == "tenants/globex/daily/tracking_log_20200211_1.csv"
    acme_body, globex_body = stack.read(acme.objectKey), stack.read(other.objectKey)
    assert acme.rows == 2 and b"globex" not in acme_body.lower()
    assert [r["candidateName"] for r in _rows(acme_body)] == ["Martin", "Martin"]
    assert other.rows == 3 and b"acme" not in globex_body.lower()
    assert [r["timeGlobal"] for r in _rows(globex_body)] == ["180", "60", "30"]
    notes = stack.notifications()
    assert sorted(n.attributes["tenantId"] for n in notes) == ["acme", "globex"]
