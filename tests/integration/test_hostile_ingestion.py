"""Hostile files, keys and events through the ingest handler on the local stack (issue 18).

Each file of the corpus (tests/hostile/ingest_files.py) is dropped under
``tenants/acme/incoming/`` and ingested: it ends in ``processed/`` or ``rejected/`` with one
notification, its good lines stored and its bad lines named (line, type, field, rule); a
file that cannot be decoded is refused as a whole and not retried. Keys that could resolve
elsewhere are refused into the tenant's own ``rejected/`` under a safe name; events naming
another bucket, or shaped wrong, are ignored with their reason. Expected values come from
docs/ingestion.md and docs/limits.md, worked out by hand in the corpus.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import pytest
from hostile.ingest_files import FILES, TENANT, HostileFile, entity, learner, line
from ingest_bucket import Ingest, day_counts, table_items


def stored_types(stack: Any) -> Counter[str]:
    """Records in the table by type (markers and progress items carry no ``type``)."""
    return Counter(item["type"]["S"] for item in table_items(stack).values() if "type" in item)


def logged_markers(stack: Any) -> set[str]:
    return {pk for pk, _ in table_items(stack) if "#LOGGED#" in pk}


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_hostile_file_ends_somewhere_with_one_notification(
    name: str, stack: Any, ingest_for: Callable[..., Ingest]
) -> None:
    expected: HostileFile = FILES[name]
    ingest = ingest_for(stack)
    key = ingest.drop(TENANT, name, expected.body)

    results = ingest.run(key)  # never raises: a bad file is not a failure to retry

    final = results[-1]
    assert final["outcome"] == expected.outcome, final
    assert final["written"] == expected.written
    listed = [(r["line"], r["type"], r["field"], r["rule"]) for r in final["rejected"]]
    assert listed[: len(expected.rejected)] == expected.rejected
    assert final["rejectedCount"] == (expected.rejected_count or len(expected.rejected))
    assert len(final["rejected"]) == min(final["rejectedCount"], 100)
    if expected.reason is None:
        assert "reason" not in final
    else:
        assert final["reason"].startswith(expected.reason), final["reason"]
    folder = "processed" if expected.outcome == "ingested" else "rejected"
    moved_to = expected.moved_to or f"tenants/{TENANT}/{folder}/{name}"
    assert final["movedTo"] == moved_to
    assert ingest.keys("tenants/") == [moved_to]
    # What the table holds: the records written, and no derived item for a refused line.
    assert stored_types(stack) == Counter(expected.written)
    assert day_counts(stack, TENANT) == expected.days
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": TENANT, "outcome": expected.outcome}
    assert (note.message["writtenTotal"], note.message["rejectedCount"]) == (
        sum(expected.written.values()),
        final["rejectedCount"],
    )


def test_a_refused_log_leaves_no_marker_and_its_tracking_stays_unlaunched(
    stack: Any, ingest_for: Callable[..., Ingest]
) -> None:
    from tracking_export_aws.aws.tracking_source import DynamoTrackingSource

    ingest = ingest_for(stack)
    ingest.run(ingest.drop(TENANT, "numbers.jsonl", FILES["numbers-out-of-range.jsonl"].body))

    # Tracking 501 has stored logs; 502's and 503's only logs were refused.
    assert logged_markers(stack) == {"T#acme#LOGGED#501"}
    source = DynamoTrackingSource(TENANT, stack.tracking_table, stack.dynamodb)
    try:
        assert [t["trackingId"] for t in source.unlaunched_trackings()] == [502]
    finally:
        source.close()


def test_a_batch_dynamodb_refuses_is_split_until_the_refused_item_is_found(
    stack: Any, ingest_for: Callable[..., Ingest], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracking_export_aws.aws import dynamo

    # The ingestion's own item-size check turned off: dynalite refuses the big item in its batch.
    monkeypatch.setattr(dynamo, "MAX_ITEM_BYTES", 10 * 1024 * 1024)
    ingest = ingest_for(stack)
    lines = [line(entity(n)) for n in range(1, 31)]
    lines[16] = line(learner(17, presentation="x" * 450_000))  # line 17, in the first batch of 25
    [result] = ingest.run(ingest.drop(TENANT, "batch.jsonl", b"".join(lines)))

    assert result["outcome"] == "ingest-rejected"
    assert result["written"] == {"entity": 29}
    assert result["rejected"] == [
        {
            "line": 17,
            "type": "learner",
            "field": None,
            "rule": "was refused by DynamoDB (ValidationException)",
        }
    ]
    assert stored_types(stack) == Counter({"entity": 29})


def test_a_gzip_file_over_the_decompressed_cap_keeps_the_lines_before_it(
    stack: Any, ingest_for: Callable[..., Ingest]
) -> None:
    body = b"".join(line(entity(n)) for n in range(1, 101))
    first_ten = len(b"".join(line(entity(n)) for n in range(1, 11)))
    # The cap falls inside line 11.
    ingest = ingest_for(stack, INGEST_MAX_DECOMPRESSED_BYTES=str(first_ten + 5))
    [result] = ingest.run(ingest.drop(TENANT, "big.jsonl.gz", gzip.compress(body)))

    assert result["outcome"] == "ingest-rejected"
    assert result["written"] == {"entity": 10}
    cap = first_ten + 5
    assert result["reason"].startswith(
        f"the gzip data is over {cap} bytes once decompressed (setting INGEST_MAX_DECOMPRESSED_BYTES)"
    )
    assert ingest.keys("tenants/") == ["tenants/acme/rejected/big.jsonl.gz"]


def test_a_gzip_file_larger_than_a_range_is_loaded_in_several_invocations(
    stack: Any, ingest_for: Callable[..., Ingest]
) -> None:
    body = b"".join(line(entity(n)) for n in range(1, 201))
    ingest = ingest_for(stack, max_bytes=len(body) // 4)
    results = ingest.run(ingest.drop(TENANT, "ranges.jsonl.gz", gzip.compress(body)))

    assert [r["outcome"] for r in results][-1] == "ingested"
    assert len(results) >= 4
    assert (results[-1]["written"], results[-1]["invocations"]) == ({"entity": 200}, len(results))
    assert stored_types(stack) == Counter({"entity": 200})


# --- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "moved_to"),
    [
        ("../../globex/incoming/x.jsonl", "tenants/acme/rejected/__/__/globex/incoming/x.jsonl"),
        ("./x.jsonl", "tenants/acme/rejected/_/x.jsonl"),
        ("a/../../x.jsonl", "tenants/acme/rejected/a/__/__/x.jsonl"),
        ("a\\..\\b.jsonl", "tenants/acme/rejected/a_.._b.jsonl"),
        ("tab\there.jsonl", "tenants/acme/rejected/tab_here.jsonl"),
    ],
)
def test_a_key_that_could_resolve_elsewhere_is_refused_into_the_tenants_own_rejected_folder(
    name: str, moved_to: str, stack: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    key = ingest.drop(TENANT, name, line(entity(1)))

    [result] = ingest.run(key)

    assert result["outcome"] == "ingest-rejected"
    assert result["movedTo"] == moved_to
    assert result["reason"] == (
        "the object's name has a '.' or '..' segment, a backslash or a control character; "
        "it was not read (moved under a safe name)"
    )
    assert ingest.keys("tenants/") == [moved_to]
    assert table_items(stack) == {}
    [note] = stack.notifications()
    assert note.attributes == {"tenantId": TENANT, "outcome": "ingest-rejected"}


@pytest.mark.parametrize("name", ["my file+1%.jsonl", "été/relevé n°3.jsonl", "a%2Fb.jsonl"])
def test_keys_with_spaces_plus_percent_and_non_ascii_are_decoded_as_s3_encodes_them(
    name: str, stack: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    key = ingest.drop(TENANT, name, line(entity(1)))

    [result] = ingest.run(key)  # the S3 notification: form-encoded ('+' for a space)

    assert (result["outcome"], result["objectKey"]) == ("ingested", key)
    assert ingest.keys("tenants/") == [f"tenants/acme/processed/{name}"]


def test_an_eventbridge_event_names_its_key_as_is(stack: Any, ingest_for: Callable[..., Ingest]) -> None:
    ingest = ingest_for(stack)
    key = ingest.drop(TENANT, "my file+1%.jsonl", line(entity(1)))
    etag = stack.s3.head_object(Bucket=ingest.bucket, Key=key)["ETag"].strip('"')
    event = {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": ingest.bucket}, "object": {"key": key, "etag": etag}},
    }

    [result] = ingest.app.handler(event, ingest.context)["results"]

    assert (result["outcome"], result["objectKey"]) == ("ingested", key)


def test_an_encoded_slash_in_a_notification_is_a_slash(stack: Any, ingest_for: Callable[..., Ingest]) -> None:
    ingest = ingest_for(stack)
    key = ingest.drop(TENANT, "day.jsonl", line(entity(1)))
    event = ingest.event(key)
    event["Records"][0]["s3"]["object"]["key"] = quote_plus(key, safe="")  # tenants%2Facme%2F…

    assert ingest.invoke(event)["outcome"] == "ingested"


# --- events -----------------------------------------------------------------------------------


def test_an_event_naming_another_bucket_is_ignored_and_that_bucket_left_alone(
    stack: Any, ingest_for: Callable[..., Ingest]
) -> None:
    ingest = ingest_for(stack)
    other = stack.export_bucket
    key = f"tenants/{TENANT}/incoming/x.jsonl"
    stack.s3.put_object(Bucket=other, Key=key, Body=line(entity(1)))
    bridge = {"source": "aws.s3", "detail-type": "Object Created"}
    bridge["detail"] = {"bucket": {"name": other}, "object": {"key": key}}  # type: ignore[assignment]

    for event in (ingest.event(key, bucket=other), bridge, {"ingest": {"bucket": other, "key": key}}):
        [result] = ingest.app.handler(event, ingest.context)["results"]
        assert result["outcome"] == "ignored"
        assert result["reason"] == f"bucket '{other}' is not the ingest bucket"

    assert stack.object_keys("tenants/") == [key]
    assert table_items(stack) == {}
    assert stack.notifications() == []


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({"Records": [None]}, "the record: must be a JSON object"),
        ({"Records": "tenants/acme/incoming/x.jsonl"}, "Records: must be a list of S3 event records"),
        ([{"s3": {}}], "the event is not a JSON object"),
        (None, "the event is not a JSON object"),
        ("Records", "the event is not a JSON object"),
        ({}, "neither an S3 event notification (Records) nor an EventBridge S3 event"),
        ({"Records": [{"s3": None}]}, "eventName: is required; s3: must be a JSON object"),
        ({"source": "aws.s3", "detail": []}, "detail-type: is required; detail: must be a JSON object"),
        ({"ingest": "x"}, "ingest: must be a JSON object"),
        ({"ingest": {"bucket": "b", "key": 5}}, "ingest.key: Input should be a valid string"),
        (
            {"ingest": {"bucket": "b", "key": "k", "offset": -1}},
            "ingest.offset: Input should be greater than or equal to 0",
        ),
    ],
)
def test_a_malformed_event_is_ignored_with_its_reason_and_counted(
    event: Any, reason: str, stack: Any, ingest_for: Callable[..., Ingest], capsys: pytest.CaptureFixture[str]
) -> None:
    ingest = ingest_for(stack)

    results = ingest.app.handler(event, ingest.context)["results"]

    assert [(r["outcome"], r["reason"]) for r in results] == [("ignored", reason)]
    # The metric line (Powertools' EMF, on stdout) counts it.
    metrics = [json.loads(text) for text in capsys.readouterr().out.splitlines() if '"_aws"' in text]
    assert any(m.get("IgnoredEvents") == [1.0] or m.get("IgnoredEvents") == 1.0 for m in metrics), metrics
    assert stack.notifications() == []
