"""``<archive>`` and ``cleanFolder`` over moto server and dynalite (spec §4, issue 19 item 6;
docs/decisions.md "Files in the export bucket").

Runs over several days with a clock moved by hand; after each run the folder and its archive/
are listed and their bytes compared with what each run wrote. Faults are raised inside the
service's own S3 client (tests/faults.py); a crash is an exception nothing in the service
catches, followed by Lambda's retry of the same invocation.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import RECORDER
from faults import Clock, fault

from tracking_export_aws.runs.service import ExportRequest, ExportService
from tracking_export_aws.runtime import wiring

DAY1 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 02:00 in Paris
FOLDER = "tenants/acme/out"


def _definition(
    guid: str,
    *,
    file_name: str,
    archive: bool = True,
    end_file: str | None = None,
    clean_days: int | None = None,
    delete_empty: bool = False,
) -> str:
    consolidators = [
        "<moveToFolder><folderPath>out</folderPath>"
        f"<fileName>{file_name}</fileName>"
        f"<deleteEmptyFiles>{'yes' if delete_empty else 'no'}</deleteEmptyFiles></moveToFolder>"
    ]
    if end_file is not None:
        consolidators.append(
            f"<generateEndFile><fileName>{end_file}</fileName><fileContent>done</fileContent></generateEndFile>"
        )
    if archive:
        consolidators.append("<archive/>")
    if clean_days is not None:
        consolidators.append(f"<cleanFolder><cleanOlderThan>{clean_days}</cleanOlderThan></cleanFolder>")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="{guid}">
    <providers>
      <trackingLogProvider>
        <columns><logDate/><timeGlobal/></columns>
        <parameters><deltaMode>yes</deltaMode></parameters>
      </trackingLogProvider>
    </providers>
    <consolidators>{"".join(consolidators)}</consolidators>
  </export>
</export-config>
"""


class Crash(BaseException):
    """The process going down: nothing in the service catches it."""


@pytest.fixture
def acme(stack: Any, records: Any) -> Any:
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    # One log on each of the days the runs cover (2 to 6 March), so every run writes rows.
    stack.load(
        [
            *records.catalogue("acme"),
            *(records.log("acme", day, f"2026-03-0{day}T09:00:00Z", 60 * day) for day in range(2, 7)),
        ]
    )
    return stack


def _service(stack: Any, clock: Clock) -> ExportService:
    service = dataclasses.replace(wiring.export_service(stack.settings()), clock=clock, heartbeat_seconds=0)
    _NAMES["stack"] = stack.names()
    return service


# The test's stack names (one test at a time): its runs are checked against ExportFunction's IAM.
_NAMES: dict[str, dict[str, str]] = {}


def _run(service: ExportService, guid: str, when: datetime, invocation: str = "inv") -> Any:
    request = ExportRequest.from_event(
        {"tenantId": "acme", "exportGuid": guid, "scheduledTime": when.isoformat()}
    )
    with RECORDER.running("ExportFunction", _NAMES["stack"], {"LogLevel": "WARNING"}):
        return service.run(request, invocation_id=f"{invocation}-{guid}-{when:%d}")


def _listing(stack: Any, prefix: str) -> dict[str, bytes]:
    return {key: stack.read(key) for key in stack.object_keys(prefix)}


def _tags(stack: Any, key: str) -> dict[str, str]:
    tag_set = stack.s3.get_object_tagging(Bucket=stack.export_bucket, Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def test_runs_over_days_keep_only_the_newest_file_and_end_file_in_the_folder(acme: Any) -> None:
    acme.put_definition(
        "acme",
        "daily",
        _definition("daily", file_name="daily_%Y%m%d.csv", end_file="daily_%Y%m%d.done", clean_days=30),
    )
    clock = Clock(DAY1)
    service = _service(acme, clock)
    written: dict[str, bytes] = {}
    for day in range(3):
        when = DAY1 + timedelta(days=day)
        clock.now = when
        result = _run(service, "daily", when)
        assert result.outcome == "succeeded", result
        stamp = f"{when:%Y%m%d}"
        written[stamp] = acme.read(f"{FOLDER}/daily_{stamp}.csv")
        earlier = sorted(s for s in written if s != stamp)
        # The folder: this run's file and end file only; archive/: every earlier pair, unchanged.
        assert sorted(_listing(acme, f"{FOLDER}/").items()) == sorted(
            {
                f"{FOLDER}/daily_{stamp}.csv": written[stamp],
                f"{FOLDER}/daily_{stamp}.done": b"done",
                **{f"{FOLDER}/archive/daily_{s}.csv": written[s] for s in earlier},
                **{f"{FOLDER}/archive/daily_{s}.done": b"done" for s in earlier},
            }.items()
        )
        assert result.objectKey == f"{FOLDER}/daily_{stamp}.csv"
    # Three distinct files (a run over no new day would repeat bytes, these do not).
    assert len(set(written.values())) == 3
    # cleanFolder: the end file is tagged as its export; archived copies keep the tag (written just
    # now by S3's clock, so none of the 30 days is used up) and their export metadata.
    expected_tags = {"tenant": "acme", "export": "daily", "clean-older-than": "30"}
    assert _tags(acme, f"{FOLDER}/daily_20260305.done") == expected_tags
    assert _tags(acme, f"{FOLDER}/archive/daily_20260303.csv") == expected_tags
    assert _tags(acme, f"{FOLDER}/archive/daily_20260303.done") == expected_tags
    head = acme.s3.head_object(Bucket=acme.export_bucket, Key=f"{FOLDER}/archive/daily_20260303.csv")
    assert head["Metadata"]["export-run"] == "acme/daily/2026-03-03T01:00:00.000000Z"
    assert head["ContentType"] == "text/csv"


def test_a_fixed_file_name_keeps_its_name_and_each_older_file_is_archived_under_its_run_time(
    acme: Any,
) -> None:
    """A fixed fileName with <archive>: before a run chooses its name, the file an earlier run
    left at that name goes to archive/ (runs/archive.make_room), so every run's file is
    latest.csv; in archive/ the first takes the name, the next ones their run time."""
    acme.put_definition("acme", "fixed", _definition("fixed", file_name="latest.csv"))
    clock = Clock(DAY1)
    service = _service(acme, clock)
    written = {}
    for day in range(4):
        clock.now = DAY1 + timedelta(days=day)
        assert _run(service, "fixed", clock.now).objectKey == f"{FOLDER}/latest.csv"
        written[day] = acme.read(f"{FOLDER}/latest.csv")
    assert len(set(written.values())) == 4  # each day's file is its own (its window differs)
    assert _listing(acme, f"{FOLDER}/") == {
        f"{FOLDER}/archive/latest.csv": written[0],
        f"{FOLDER}/archive/latest-20260304T010000Z.csv": written[1],
        f"{FOLDER}/archive/latest-20260305T010000Z.csv": written[2],
        f"{FOLDER}/latest.csv": written[3],
    }


def test_two_exports_sharing_a_folder_each_archive_only_their_own(acme: Any) -> None:
    acme.put_definition("acme", "alpha", _definition("alpha", file_name="%e_%Y%m%d.csv"))
    # beta does not archive: alpha must leave its files alone all the same.
    acme.put_definition("acme", "beta", _definition("beta", file_name="%e_%Y%m%d.csv", archive=False))
    # An object no run wrote (a readme an operator dropped there) is nobody's older file.
    acme.s3.put_object(Bucket=acme.export_bucket, Key=f"{FOLDER}/README.txt", Body=b"hello")
    clock = Clock(DAY1)
    service = _service(acme, clock)
    for day in range(2):
        clock.now = DAY1 + timedelta(days=day)
        for guid in ("alpha", "beta"):
            assert _run(service, guid, clock.now).outcome == "succeeded"
    assert acme.object_keys("tenants/acme/") == [
        f"{FOLDER}/README.txt",
        f"{FOLDER}/alpha_20260304.csv",
        f"{FOLDER}/archive/alpha_20260303.csv",
        f"{FOLDER}/beta_20260303.csv",
        f"{FOLDER}/beta_20260304.csv",
    ]


def test_a_crash_between_copy_and_delete_is_finished_by_the_retry(acme: Any) -> None:
    acme.put_definition(
        "acme", "daily", _definition("daily", file_name="daily_%Y%m%d.csv", end_file="daily_%Y%m%d.done")
    )
    clock = Clock(DAY1)
    service = _service(acme, clock)
    assert _run(service, "daily", DAY1).outcome == "succeeded"
    first = acme.read(f"{FOLDER}/daily_20260303.csv")
    day2 = DAY1 + timedelta(days=1)
    clock.now = day2
    # Killed right after the first copy: the file is in archive/ and still in the folder.
    with fault(service.s3, "DeleteObject", Crash()), pytest.raises(Crash):
        _run(service, "daily", day2)
    assert acme.object_keys(f"{FOLDER}/") == [
        f"{FOLDER}/archive/daily_20260303.csv",
        f"{FOLDER}/daily_20260303.csv",
        f"{FOLDER}/daily_20260303.done",
        f"{FOLDER}/daily_20260304.csv",
        f"{FOLDER}/daily_20260304.done",
    ]
    assert acme.notifications()[-1].message["outcome"] == "succeeded"  # day 1's only
    # Lambda's retry of the same invocation takes the run over and finishes the move.
    result = _run(service, "daily", day2)
    assert (result.outcome, result.attempt) == ("succeeded", 2)
    second = acme.read(f"{FOLDER}/daily_20260304.csv")
    assert _listing(acme, f"{FOLDER}/") == {
        f"{FOLDER}/archive/daily_20260303.csv": first,
        f"{FOLDER}/archive/daily_20260303.done": b"done",
        f"{FOLDER}/daily_20260304.csv": second,
        f"{FOLDER}/daily_20260304.done": b"done",
    }
    [note] = acme.notifications()
    assert (
        note.message["outcome"] == "succeeded" and note.message["objectKey"] == f"{FOLDER}/daily_20260304.csv"
    )


def test_a_failed_archive_step_leaves_the_run_succeeded_and_the_next_run_moves_the_files(
    acme: Any,
) -> None:
    counted: list[int] = []
    acme.put_definition("acme", "daily", _definition("daily", file_name="daily_%Y%m%d.csv"))
    clock = Clock(DAY1)
    # The functions count ArchiveFailures (runtime/wiring.py); here the count is collected.
    service = dataclasses.replace(_service(acme, clock), on_archive_failures=counted.append)
    assert _run(service, "daily", DAY1).outcome == "succeeded"
    acme.notifications()
    day2 = DAY1 + timedelta(days=1)
    clock.now = day2
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteObject")
    with fault(service.s3, "DeleteObject", denied):
        result = _run(service, "daily", day2)
    assert result.outcome == "succeeded" and counted == [1]
    [note] = acme.notifications()
    assert note.message["outcome"] == "succeeded"
    # Copied, not deleted: nothing lost, and the copy is recognised by the next run.
    assert acme.object_keys(f"{FOLDER}/") == [
        f"{FOLDER}/archive/daily_20260303.csv",
        f"{FOLDER}/daily_20260303.csv",
        f"{FOLDER}/daily_20260304.csv",
    ]
    day3 = day2 + timedelta(days=1)
    clock.now = day3
    assert _run(service, "daily", day3).outcome == "succeeded"
    assert acme.object_keys(f"{FOLDER}/") == [
        f"{FOLDER}/archive/daily_20260303.csv",
        f"{FOLDER}/archive/daily_20260304.csv",
        f"{FOLDER}/daily_20260305.csv",
    ]
    assert counted == [1]


def test_an_empty_run_with_delete_empty_files_keeps_the_newest_file_in_place(acme: Any) -> None:
    acme.put_definition(
        "acme",
        "sparse",
        _definition(
            "sparse", file_name="sparse_%Y%m%d.csv", end_file="sparse_%Y%m%d.done", delete_empty=True
        ),
    )
    clock = Clock(DAY1)
    service = _service(acme, clock)
    written = {}
    # deltaMode, whole days through the run's day: 5 March takes the logs of the 2nd to the 5th;
    # 6 March the 5th's and 6th's; 8 March the 6th's; 9 March covers the 8th and 9th: none.
    for day, rows in ((5, 4), (6, 2), (8, 1)):
        clock.now = datetime(2026, 3, day, 1, 0, tzinfo=UTC)
        assert _run(service, "sparse", clock.now).rows == rows
        written[day] = acme.read(f"{FOLDER}/sparse_202603{day:02d}.csv")
    clock.now = datetime(2026, 3, 9, 1, 0, tzinfo=UTC)
    empty = _run(service, "sparse", clock.now)
    assert (empty.outcome, empty.rows, empty.objectKey) == ("succeeded", 0, None)
    # No file: the 8th's stays the newest in the folder; nothing moved.
    assert _listing(acme, f"{FOLDER}/") == {
        f"{FOLDER}/archive/sparse_20260305.csv": written[5],
        f"{FOLDER}/archive/sparse_20260305.done": b"done",
        f"{FOLDER}/archive/sparse_20260306.csv": written[6],
        f"{FOLDER}/archive/sparse_20260306.done": b"done",
        f"{FOLDER}/sparse_20260308.csv": written[8],
        f"{FOLDER}/sparse_20260308.done": b"done",
    }
