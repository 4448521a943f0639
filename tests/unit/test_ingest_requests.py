"""What the ingest function accepts (docs/ingestion.md): object keys, events, erasure requests, lines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tracking_export_aws.aws.s3_events import IgnoredRecord, S3ObjectEvent
from tracking_export_aws.ingest.erasure import ErasureRequest, InvalidErasureRequest, is_erasure_event
from tracking_export_aws.ingest.loader import RejectedRecord, parse_line, retention_expiry
from tracking_export_aws.ingest.retention import settings_tenant
from tracking_export_aws.ingest.service import (
    IngestRequest,
    incoming_name,
    read_ingest_event,
    safe_name,
    sanitised_name,
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("tenants/acme/incoming/day.jsonl", ("acme", "day.jsonl")),
        ("tenants/acme/incoming/2020/02/day.jsonl.gz", ("acme", "2020/02/day.jsonl.gz")),
        ("tenants/acme/processed/day.jsonl", None),
        ("tenants/acme/rejected/day.jsonl", None),
        ("tenants/Acme/incoming/day.jsonl", None),
        ("tenants/acme/incoming/", None),
        ("incoming/acme/day.jsonl", None),
    ],
)
def test_only_incoming_keys_of_a_valid_tenant_are_ingested(key: str, expected: Any) -> None:
    assert incoming_name(key) == expected


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("day.jsonl", "day.jsonl"),
        ("2020/02/day..jsonl", "2020/02/day..jsonl"),
        (".hidden.jsonl", ".hidden.jsonl"),
        ("../../globex/incoming/x.jsonl", "__/__/globex/incoming/x.jsonl"),
        ("a/./b.jsonl", "a/_/b.jsonl"),
        ("a/.../b.jsonl", "a/___/b.jsonl"),
        ("a\\b.jsonl", "a_b.jsonl"),
        ("a\x00b\x1fc\x7f.jsonl", "a_b_c_.jsonl"),
    ],
)
def test_a_name_that_could_resolve_elsewhere_gets_a_safe_one(name: str, safe: str) -> None:
    assert safe_name(name) == (name if name == safe else None)
    assert sanitised_name(name) == safe


def test_requests_come_from_s3_notifications_eventbridge_and_continuations() -> None:
    s3 = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": "b"},
                    "object": {"key": "tenants/acme/incoming/a+b%2B.jsonl", "eTag": "e"},
                },
            }
        ]
    }
    bridge = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "b"}, "object": {"key": "a+b%2B.jsonl"}},
    }
    follow = IngestRequest(bucket="b", key="k", etag="etag", offset=1024).as_event()
    # S3 notifications are form-encoded; EventBridge keys are the keys themselves.
    assert read_ingest_event(s3) == [S3ObjectEvent("b", "tenants/acme/incoming/a b+.jsonl", etag="e")]
    assert read_ingest_event(bridge) == [S3ObjectEvent("b", "a+b%2B.jsonl")]
    assert read_ingest_event(follow) == [IngestRequest(bucket="b", key="k", etag="etag", offset=1024)]
    assert read_ingest_event({"ingest": {"bucket": "b", "key": "k", "offset": True}}) == [
        IgnoredRecord(None, "ingest.offset: Input should be a valid integer")
    ]


def test_erasure_requests_name_a_valid_tenant_and_an_integer_learner() -> None:
    event = {"detail-type": "Learner Erasure Requested", "detail": {"tenantId": "acme", "learnerId": 42}}
    assert is_erasure_event(event) and is_erasure_event({"erase": {}})
    assert not is_erasure_event({"Records": []})
    assert ErasureRequest.from_event(event) == ErasureRequest("acme", 42)
    assert ErasureRequest.from_event({"erase": {"tenantId": "acme", "learnerId": 7}}) == ErasureRequest(
        "acme", 7
    )
    for bad, message in (
        ({"erase": {"tenantId": "acme", "learnerId": "42"}}, "learnerId must be an integer"),
        ({"erase": {"tenantId": "acme", "learnerId": True}}, "learnerId must be an integer"),
        ({"erase": {"tenantId": "../x", "learnerId": 1}}, "invalid tenant id"),
        ({"detail": "nope"}, "carries tenantId and learnerId"),
    ):
        with pytest.raises(InvalidErasureRequest, match=message):
            ErasureRequest.from_event(bad)


def test_a_line_is_a_record_or_a_rejection_without_its_content() -> None:
    assert parse_line(1, b'{"type":"entity","tenantId":"acme","entityId":1}') == {
        "type": "entity",
        "tenantId": "acme",
        "entityId": 1,
    }
    assert parse_line(2, b"secret") == RejectedRecord(
        2, None, None, None, "is not JSON (Expecting value at column 1)"
    )
    assert parse_line(3, b"[1]") == RejectedRecord(3, None, None, None, "is not a JSON object")
    rejected = parse_line(4, b'{"type":"secret"}')
    assert isinstance(rejected, RejectedRecord) and rejected.field == "type"
    assert "secret" not in rejected.rule
    assert parse_line(5, b"\xff\xfe") == RejectedRecord(5, None, None, None, "is not UTF-8")


def test_retention_counts_from_the_log_start() -> None:
    started = datetime(2020, 2, 10, 9, 30, tzinfo=UTC)
    assert retention_expiry(started, None) is None
    assert retention_expiry(started, 1) == int(datetime(2020, 2, 11, 9, 30, tzinfo=UTC).timestamp())


def test_retention_is_applied_when_a_tenant_json_changes() -> None:
    assert settings_tenant("tenants/acme/tenant.json") == "acme"
    assert settings_tenant("tenants/acme/exports/x.xml") is None
    assert settings_tenant("tenants/NOPE/tenant.json") is None


# -- config-sync's retention request (docs/ingestion.md) ---------------------------------------


def test_config_sync_s_retention_request_is_an_async_invoke_the_ingest_handler_reads() -> None:
    from botocore.stub import Stubber
    from function_environments import template_settings

    from tracking_export_aws.aws import clients
    from tracking_export_aws.ingest.retention import retention_event
    from tracking_export_aws.runtime import wiring
    from tracking_export_aws.runtime.settings import ConfigSyncSettings

    settings = template_settings(ConfigSyncSettings, INGEST_FUNCTION_NAME="stack-ingest")
    # No function (the local stack's empty INGEST_FUNCTION_NAME): no request.
    assert wiring.retention_requester(template_settings(ConfigSyncSettings, INGEST_FUNCTION_NAME="")) is None
    event = retention_event("stack-config", "tenants/acme/tenant.json")
    # The same S3 notification shape S3 itself sends, so the handler's one reader applies.
    assert read_ingest_event(event) == [S3ObjectEvent("stack-config", "tenants/acme/tenant.json")]
    assert settings_tenant("tenants/acme/tenant.json") == "acme"
    clients.clear_cache()
    try:
        request = wiring.retention_requester(settings)
        assert request is not None
        with Stubber(clients.client("lambda", settings)) as stub:
            stub.add_response(
                "invoke",
                {"StatusCode": 202},
                {
                    "FunctionName": "stack-ingest",
                    "InvocationType": "Event",
                    "Payload": (
                        b'{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", '
                        b'"s3": {"bucket": {"name": "stack-config"}, '
                        b'"object": {"key": "tenants/acme/tenant.json"}}}]}'
                    ),
                },
            )
            request("stack-config", "tenants/acme/tenant.json")
            stub.assert_no_pending_responses()
    finally:
        clients.clear_cache()
