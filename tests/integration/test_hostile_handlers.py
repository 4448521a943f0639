"""The hostile-input corpus (tests/hostile) through both Lambda handlers, over HTTP (moto
server, dynalite): malformed events are refused or ignored with their reason, hostile
definitions and tenant.json files end in one ``config-invalid`` notification, and a run's
notification never quotes a data value or an internal path.

Expected messages are the ones tests/unit/test_hostile_inputs.py checks field by field;
here the point is that the handlers deliver them and nothing crashes or is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hostile.expected import DEFINITIONS, EXPORT_EVENTS, S3_EVENTS, SECRET

from tracking_export_aws.runs.service import InvalidRequest

HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
EVENT_BUCKET = "tracking-export-local-config"  # the bucket the corpus's S3 events name
CONFIG_KEY = "tenants/acme/exports/daily-tracking-log.xml"

GOOD = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="daily-tracking-log">
    <providers>
      <trackingLogProvider>
        <columns>
          <candidateId/>
          <candidateEmail/>
          <firstLaunchDate/>
        </columns>
      </trackingLogProvider>
    </providers>
    <consolidators>
      <moveToFolder><fileName>log_%Y%m%d.csv</fileName></moveToFolder>
      <generateEndFile><fileName>%e_%Y%m%d_%i.done</fileName><fileContent>OK</fileContent></generateEndFile>
    </consolidators>
  </export>
</export-config>
"""


def _upload_event(key: str = CONFIG_KEY) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": EVENT_BUCKET}, "object": {"key": key}},
            }
        ]
    }


def _schedules(stack: Any) -> list[dict[str, Any]]:
    schedules: list[dict[str, Any]] = stack.scheduler.list_schedules(GroupName=stack.schedule_group)[
        "Schedules"
    ]
    return schedules


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_export_handler_refuses_every_hostile_event(
    make_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = make_stack()
    export, _ = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    stack.put_definition("acme", "daily-tracking-log", GOOD)

    for name, message in sorted(EXPORT_EVENTS.items()):
        event = json.loads((HOSTILE / "events" / name).read_text(encoding="utf-8"))
        with pytest.raises(InvalidRequest) as info:  # raised: the DLQ keeps the event
            export.handler(event, lambda_context)
        assert str(info.value) == message, name

    assert stack.object_keys() == []
    assert stack.notifications() == []
    assert stack.ledger().runs("acme", "daily-tracking-log") == []


def test_config_sync_ignores_every_hostile_s3_event(
    make_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = make_stack(config_bucket=EVENT_BUCKET)
    _, sync = handlers(stack)
    stack.put_definition("acme", "daily-tracking-log", GOOD)

    for name, (record, reason) in sorted(S3_EVENTS.items()):
        event = json.loads((HOSTILE / "s3-events" / name).read_text(encoding="utf-8"))
        results = sync.handler(event, lambda_context)["results"]
        assert results == [{"action": "ignored", "record": record, "reason": reason}], name

    # A key that decodes to a path outside the tenant's exports is read, then refused by the key rule.
    event = json.loads((HOSTILE / "s3-events" / "key-encoded-traversal.json").read_text(encoding="utf-8"))
    [result] = sync.handler(event, lambda_context)["results"]
    assert result["action"] == "ignored"
    assert result["reason"].startswith("'tenants/../globex/exports/x.xml' is not an export configuration key")

    assert _schedules(stack) == []
    assert stack.notifications() == []


def test_one_bad_record_does_not_stop_the_good_one(
    make_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = make_stack(config_bucket=EVENT_BUCKET)
    _, sync = handlers(stack)
    stack.put_definition("acme", "daily-tracking-log", GOOD)
    [good] = _upload_event()["Records"]

    results = sync.handler({"Records": ["junk", good, {"eventName": 1}]}, lambda_context)["results"]

    assert [r["action"] for r in results] == ["ignored", "scheduled", "ignored"]
    assert results[0]["reason"] == "the record: must be a JSON object"
    assert results[2]["reason"].startswith("eventName: Input should be a valid string; s3: is required")
    assert len(_schedules(stack)) == 1


# The corpus's definitions carry guid="hostile"; config-sync reads them as that export's file.
HOSTILE_KEY = "tenants/acme/exports/hostile.xml"


def test_config_sync_refuses_every_hostile_definition(
    make_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = make_stack(config_bucket=EVENT_BUCKET)
    _, sync = handlers(stack)

    for name, (path, line, message) in sorted(DEFINITIONS.items()):
        stack.put_definition("acme", "hostile", (HOSTILE / "definitions" / name).read_bytes())
        [result] = sync.handler(_upload_event(HOSTILE_KEY), lambda_context)["results"]

        assert result["action"] == "invalid", name
        [error] = result["errors"]
        where = f"line {line}: " if line is not None else ""
        assert error.startswith(f"{where}{path}: ") and message in error, (name, error)
        [note] = stack.notifications()
        assert note.attributes["outcome"] == "config-invalid"
        assert note.message["errors"] == [error]

    assert _schedules(stack) == []


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (
            b" " * (1024 * 1024) + GOOD.encode(),
            f"the definition is {1024 * 1024 + len(GOOD.encode())} bytes; at most 1048576 are allowed",
        ),
        (
            GOOD.replace("<candidateId/>", "<a>" * 50_000 + "</a>" * 50_000),
            "elements are nested more than 16 deep here",
        ),
        (
            '{"guid": "daily-tracking-log", "columns": ' + "[" * 50_000 + "]" * 50_000 + "}",
            "nested more than 16",
        ),
    ],
)
def test_config_sync_refuses_huge_and_deep_definitions(
    definition: str | bytes, message: str, make_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = make_stack(config_bucket=EVENT_BUCKET)
    _, sync = handlers(stack)
    stack.put_definition("acme", "daily-tracking-log", definition)

    [result] = sync.handler(_upload_event(), lambda_context)["results"]

    assert result["action"] == "invalid"
    [error] = result["errors"]
    assert message in error
    assert _schedules(stack) == []


def test_config_sync_reports_an_invalid_tenant_json(
    make_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = make_stack(config_bucket=EVENT_BUCKET)
    _, sync = handlers(stack)
    stack.put_tenant("acme", {"timezone": "Europe/" + "P" * 300})
    stack.put_definition("acme", "daily-tracking-log", GOOD)

    [result] = sync.handler(_upload_event(), lambda_context)["results"]

    problem = (
        "timezone: unknown time zone 'Europe/PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP'… (307 characters); "
        "expected an IANA time zone name such as Europe/Paris or UTC"
    )
    assert (result["action"], result["errors"]) == ("invalid", [f"tenants/acme/tenant.json: {problem}"])
    [note] = stack.notifications()
    assert note.attributes["outcome"] == "config-invalid"
    # The report is about the uploaded definition, which cannot be scheduled; its error names tenant.json.
    assert note.message["configKey"] == "tenants/acme/exports/daily-tracking-log.xml"
    assert note.message["errors"] == [f"tenants/acme/tenant.json: {problem}"]
    assert note.message["error"] == (
        "tenants/acme/exports/daily-tracking-log.xml: 1 error(s); the last valid version stays in use"
    )
    assert _schedules(stack) == []


def test_a_run_with_an_invalid_tenant_json_fails_naming_it(
    make_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    stack = make_stack()
    export, _ = handlers(stack)
    stack.put_tenant("acme", {"timezone": "UTC", "notificationEmails": ["a@" + "a." * 16000]})
    stack.put_definition("acme", "daily-tracking-log", GOOD)

    result = export.handler(
        {"tenantId": "acme", "exportGuid": "daily-tracking-log", "scheduledTime": "2026-11-28T01:00:00Z"},
        lambda_context,
    )

    assert result["outcome"] == "failed"
    assert result["error"] == (
        "invalid configuration tenants/acme/tenant.json: notificationEmails: item 0 is not an e-mail "
        "address: an e-mail address has at most 254 characters (this one 32002)"
    )
    [note] = stack.notifications()
    assert note.message["error"] == result["error"]
    assert stack.object_keys() == []


def test_a_run_over_hostile_data_names_records_never_values(
    make_stack: Any, handlers: Any, lambda_context: Any
) -> None:
    from tracking_export.source import read_jsonl
    from tracking_export_aws.ingest.loader import load_dataset

    stack = make_stack()
    export, _ = handlers(stack)
    stack.put_tenant("acme", {"timezone": "UTC"})
    stack.put_definition("acme", "daily-tracking-log", GOOD)
    records = [r for _, r in read_jsonl(HOSTILE / "data" / "hostile-records.jsonl") if isinstance(r, dict)]
    # The loader refuses what it cannot key (a log without a readable start or id); the rest,
    # hostile values included, is stored for the export to meet.
    load_dataset(records, stack.tracking_table, stack.dynamodb, workers=1)

    result = export.handler(
        {"tenantId": "acme", "exportGuid": "daily-tracking-log", "scheduledTime": "2026-11-28T01:00:00Z"},
        lambda_context,
    )

    assert result["outcome"] == "succeeded", result
    assert result["rows"] == 1
    assert stack.read(result["objectKey"]) == (
        b"candidateId;candidateEmail;firstLaunchDate\r\n1;laurie@acme.example;2020-02-10 09:30:00\r\n"
    )
    # The end file renders its tokens, next to the export.
    assert result["endFileKey"] == f"tenants/acme/daily-tracking-log_20261128_{result['runNumber']}.done"
    [note] = stack.notifications()
    text = json.dumps(note.message)
    assert SECRET not in text and "home.example" not in text
    reasons = {(s["kind"], s["key"]): s["reason"] for s in note.message["skipped"]}
    assert reasons[("learner", 2)] == "field 'email' must be a string, got a list"
    assert reasons[("trackingLog", 9002)] == (
        "field 'status' must be one of completed, incomplete, notAttempted, pendingFeedback"
    )
    assert reasons[("tracking", 503)] == "content (unreadable key) does not exist"


def test_a_new_export_past_the_per_tenant_cap_gets_no_schedule(
    make_stack: Any, handlers: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(config_bucket=EVENT_BUCKET)
    _, sync = handlers(stack)
    monkeypatch.setenv("MAX_EXPORTS_PER_TENANT", "2")  # read when the service is built, on first use
    for guid in ("first", "second", "third"):
        stack.put_definition("acme", guid, GOOD.replace('guid="daily-tracking-log"', f'guid="{guid}"'))
    stack.put_definition("globex", "other", GOOD.replace('guid="daily-tracking-log"', 'guid="other"'))

    def upload(tenant: str, guid: str) -> dict[str, Any]:
        [result] = sync.handler(_upload_event(f"tenants/{tenant}/exports/{guid}.xml"), lambda_context)[
            "results"
        ]
        return dict(result)

    # Three definitions are stored, the cap is two: whichever comes first without a schedule is
    # refused once the count is past the cap — here all three exist before the first event.
    refused = upload("acme", "first")
    assert (refused["action"], refused["errors"]) == (
        "invalid",
        [
            "the tenant has more than 2 export definitions; this new export gets no schedule "
            "(delete unused definitions first; setting MAX_EXPORTS_PER_TENANT)"
        ],
    )
    [note] = stack.notifications()
    assert (note.attributes["outcome"], note.message["configKey"]) == (
        "config-invalid",
        "tenants/acme/exports/first.xml",
    )
    assert upload("globex", "other")["action"] == "scheduled"  # another tenant's count is its own

    stack.s3.delete_object(Bucket=stack.config_bucket, Key="tenants/acme/exports/third.xml")
    assert upload("acme", "first")["action"] == "scheduled"
    assert upload("acme", "second")["action"] == "scheduled"
    # Past the cap again, an export that has its schedule still gets its updates.
    stack.put_definition("acme", "third", GOOD.replace('guid="daily-tracking-log"', 'guid="third"'))
    assert upload("acme", "third")["action"] == "invalid"
    assert upload("acme", "second")["action"] == "scheduled"
    assert sorted(s["Name"] for s in _schedules(stack)) == ["acme--first", "acme--second", "globex--other"]
