"""The run lifecycle's parts with fakes (docs/run-lifecycle.md): message fitting, channels,
the ledger's outbox and leases (moto in-process), the heartbeat and the deadline guard."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from notification_samples import failed_run

from tools.template_tables import table_definitions
from tracking_export.source import InMemorySource, Raw, TimeRange
from tracking_export_aws.aws.clients import clear_cache, client
from tracking_export_aws.aws.s3_links import DownloadLinks, credentials_expiry
from tracking_export_aws.notify.notifier import (
    MAX_MESSAGE_BYTES,
    EventBridgeChannel,
    NotificationError,
    Notifier,
    fit_message,
)
from tracking_export_aws.runs.guard import Guard, GuardedSource, Heartbeat, RunDeadlineExceeded
from tracking_export_aws.runs.ledger import LeaseLostError, RunLedger
from tracking_export_aws.runs.plan import candidate_keys

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"
T0 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)


def _bytes(message: Mapping[str, Any]) -> int:
    return len(json.dumps(message, ensure_ascii=False).encode())


# -- fitting a message into 256 KB ------------------------------------------------------------


def test_a_small_message_is_unchanged() -> None:
    message = {"outcome": "succeeded", "tenantId": "acme", "skippedCount": 1, "skipped": [{"key": 1}]}
    assert fit_message(message) == message


def test_twenty_thousand_skipped_records_are_cut_with_the_exact_count_left_out() -> None:
    # The engine lists at most 1,000 of them; the count says 20,000.
    skipped = [
        {"kind": "trackingLog", "key": n, "reason": "progression: not an integer " * 4} for n in range(1000)
    ]
    message = {"outcome": "succeeded", "tenantId": "acme", "skippedCount": 20_000, "skipped": skipped}
    fitted = fit_message(message, limit=50_000)
    kept = len(fitted["skipped"])
    assert 0 < kept < 1000
    assert fitted["skipped"] == skipped[:kept]  # the first ones, in order
    assert fitted["skippedOmitted"] == 20_000 - kept  # every record not listed
    assert _bytes(fitted) <= 50_000
    # One more entry would not have fitted.
    assert _bytes({**fitted, "skipped": skipped[: kept + 1], "skippedOmitted": 20_000 - kept - 1}) > 50_000


def test_a_list_the_engine_capped_reports_what_it_left_out_even_when_it_fits() -> None:
    message = {"outcome": "succeeded", "tenantId": "acme", "skippedCount": 1500, "skipped": [{"key": 1}]}
    assert fit_message(message)["skippedOmitted"] == 1499


def test_thousands_of_recipients_and_errors_fit_with_their_counts() -> None:
    recipients = [f"learner{n:05d}@acme.example" for n in range(20_000)]
    errors = [f"line {n}: unknown column <c{n}>" for n in range(10_000)]
    message = {
        "outcome": "config-invalid",
        "tenantId": "acme",
        "recipients": recipients,
        "errorCount": 10_000,
        "errors": errors,
        "error": "x" * 100_000,
    }
    fitted = fit_message(message)
    assert _bytes(fitted) <= MAX_MESSAGE_BYTES
    assert fitted["recipientsOmitted"] == 20_000 - len(fitted["recipients"])
    assert fitted["errorsOmitted"] == 10_000 - len(fitted["errors"])
    assert fitted["errorCount"] == 10_000
    assert fitted["error"].endswith("(92000 characters omitted)")


# -- channels and the notifier --------------------------------------------------------------------


class FakeChannel:
    def __init__(self, name: str, failures: int = 0) -> None:
        self.name = name
        self.failures = failures
        self.delivered: list[Mapping[str, Any]] = []

    def deliver(self, message: Mapping[str, Any]) -> str:
        if self.failures:
            self.failures -= 1
            raise RuntimeError(f"{self.name} unavailable")
        self.delivered.append(message)
        return f"{self.name}-id-{len(self.delivered)}"


MESSAGE = failed_run(error="boom")


def test_a_failing_channel_does_not_stop_the_others_and_is_named() -> None:
    sns, bus, email = FakeChannel("sns", failures=1), FakeChannel("eventbridge"), FakeChannel("email")
    recorded: list[tuple[str, Any]] = []

    def record(name: str, answer: Any) -> None:
        recorded.append((name, answer))

    notifier = Notifier([sns, bus, email])
    with pytest.raises(NotificationError) as err:
        notifier.publish(MESSAGE, on_delivered=record)
    assert err.value.failed == ["sns"]
    # Each channel that took it is recorded with its own answer.
    assert recorded == [("eventbridge", "eventbridge-id-1"), ("email", "email-id-1")]
    # The retry delivers only what is missing.
    assert notifier.publish(MESSAGE, only=["sns"], on_delivered=record) == ["sns"]
    assert recorded[-1] == ("sns", "sns-id-1")
    assert (len(sns.delivered), len(bus.delivered), len(email.delivered)) == (1, 1, 1)


def test_channel_names_are_distinct_and_messages_checked() -> None:
    with pytest.raises(ValueError, match="distinct"):
        Notifier([FakeChannel("sns"), FakeChannel("sns")])
    with pytest.raises(ValueError, match="outcome"):
        Notifier([FakeChannel("sns")]).publish({**MESSAGE, "outcome": "ok"})


class RecordingEvents:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]}


@pytest.mark.parametrize("include_private", [False, True])
def test_the_event_bus_gets_links_and_addresses_only_when_the_operator_opts_in(include_private: bool) -> None:
    events = RecordingEvents()
    message = {
        "outcome": "succeeded",
        "tenantId": "acme",
        "downloadUrl": "https://example/x?X-Amz-Signature=abc",
        "downloadUrlExpiresAt": "2026-03-03T02:00:00+00:00",
        "recipients": ["a@acme.example"],
    }
    EventBridgeChannel(events, include_private=include_private).deliver(message)
    detail = json.loads(events.entries[0]["Detail"])
    assert ("downloadUrl" in detail, "recipients" in detail) == (include_private, include_private)
    assert detail["downloadUrlExpiresAt"] == "2026-03-03T02:00:00+00:00"


# -- the ledger: leases, takeover, outbox ---------------------------------------------------------


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunLedger]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        clear_cache()
        dynamodb = client("dynamodb", region="us-east-1")
        definition = table_definitions(TEMPLATE_PATH)["RunHistoryTable"]
        dynamodb.create_table(TableName="runs", **definition)
        yield RunLedger(dynamodb, "runs")
    clear_cache()


def test_heartbeat_keeps_the_run_and_release_gives_it_back(ledger: RunLedger) -> None:
    first = ledger.claim("acme", "nightly", T0, T0, 120, invocation_id="inv-1")
    # Renewed at T0+100 s, the lease holds at T0+150 s ...
    assert ledger.renew(first, T0 + timedelta(seconds=100), 120)
    assert not ledger.claim(
        "acme", "nightly", T0, T0 + timedelta(seconds=150), 120, invocation_id="inv-2"
    ).claimed
    # ... and released, the next delivery takes it over at once.
    ledger.release(first)
    second = ledger.claim("acme", "nightly", T0, T0 + timedelta(seconds=151), 120, invocation_id="inv-2")
    assert (second.claimed, second.run_number, second.attempt) == (True, 1, 2)
    assert not ledger.renew(first, T0 + timedelta(seconds=152), 120)  # the first attempt lost it
    with pytest.raises(LeaseLostError):
        ledger.record_window(first, {"kind": "all"})


def test_a_retry_of_the_same_invocation_takes_over_inside_the_lease(ledger: RunLedger) -> None:
    ledger.claim("acme", "nightly", T0, T0, 120, invocation_id="inv-1")
    retry = ledger.claim("acme", "nightly", T0, T0 + timedelta(seconds=60), 120, invocation_id="inv-1")
    assert (retry.claimed, retry.attempt) == (True, 2)


def test_outbox_delivers_each_channel_once_under_a_delivery_lease(ledger: RunLedger) -> None:
    claim = ledger.claim("acme", "nightly", T0, T0, 120)
    ledger.record_window(claim, {"kind": "delta", "firstDay": "2026-03-02"})
    ledger.record_failure(
        claim,
        finished_at=T0,
        error="boom",
        duration_ms=5,
        notification={**MESSAGE, "window": {"kind": "delta"}},
        channels=["eventbridge", "sns"],
    )
    record = ledger.get("acme", "nightly", T0)
    assert record is not None
    assert (record.status, record.pending_channels, record.window) == (
        "failed",
        ("eventbridge", "sns"),
        {"kind": "delta", "firstDay": "2026-03-02"},  # the window recorded while running
    )
    # A failed run whose notification is owed is not run again, it is delivered.
    assert not ledger.claim("acme", "nightly", T0, T0 + timedelta(hours=1), 120).claimed
    taken = ledger.take_delivery("acme", "nightly", T0, T0, 60)
    assert taken is not None and taken.notification == {**MESSAGE, "window": {"kind": "delta"}}
    assert ledger.take_delivery("acme", "nightly", T0, T0 + timedelta(seconds=30), 60) is None  # leased
    ledger.mark_delivered("acme", "nightly", T0, "sns", "sns-message-1")
    ledger.end_delivery("acme", "nightly", T0)
    again = ledger.take_delivery("acme", "nightly", T0, T0 + timedelta(seconds=31), 60)
    assert again is not None and again.pending_channels == ("eventbridge",)
    report = {"status": "sent", "recipients": ["a@acme.example"], "suppressed": [{"address": "b@x.example"}]}
    ledger.mark_delivered("acme", "nightly", T0, "eventbridge", report)
    ledger.end_delivery("acme", "nightly", T0)
    assert ledger.take_delivery("acme", "nightly", T0, T0 + timedelta(minutes=5), 60) is None
    done = ledger.get("acme", "nightly", T0)
    assert done is not None and (done.pending_channels, done.notified_channels) == (
        (),
        ("eventbridge", "sns"),
    )
    # What each channel answered is kept with the run, in the write that marked it delivered.
    assert done.deliveries == {"sns": "sns-message-1", "eventbridge": report}
    # Fully notified, the failed run is final.
    assert not ledger.claim("acme", "nightly", T0, T0 + timedelta(hours=2), 120).claimed


def test_a_finished_run_is_never_claimed_again_even_by_its_own_invocation(ledger: RunLedger) -> None:
    claim = ledger.claim("acme", "nightly", T0, T0, 120, invocation_id="inv-1")
    ledger.record_failure(claim, finished_at=T0, error="boom", duration_ms=1)
    assert not ledger.claim("acme", "nightly", T0, T0, 120, invocation_id="inv-1").claimed


# -- heartbeat, guard, names, credentials ----------------------------------------------------------


def test_heartbeat_notices_a_lost_lease() -> None:
    beats = threading.Event()

    def renew() -> bool:
        beats.set()
        return False

    with Heartbeat(renew, 0.001) as heartbeat:
        assert beats.wait(5)
    assert heartbeat.lost
    guard = Guard(heartbeat, None, 60, "acme/nightly/x")
    with pytest.raises(LeaseLostError):
        guard.check()


def test_guard_stops_a_run_before_the_function_times_out() -> None:
    remaining = [300.0]
    guard = Guard(None, lambda: remaining[0], 60, "acme/nightly/x")
    guard.check()
    remaining[0] = 59.0
    with pytest.raises(RunDeadlineExceeded, match="59 s of the function's time left"):
        guard.check()


class _PagedSource(InMemorySource):
    """Serves each range as pages of one log, and records how far it was read."""

    def __init__(self, pages: int) -> None:
        super().__init__("acme", [])
        self.pages = pages
        self.served = 0

    def log_pages_in_ranges(self, ranges: Sequence[TimeRange]) -> Iterator[Iterator[list[Raw]]]:
        for _ in ranges:
            yield self._pages()

    def _pages(self) -> Iterator[list[Raw]]:
        for n in range(self.pages):
            self.served += 1
            yield [{"logId": n}]


def test_a_guarded_source_streams_pages_and_checks_the_guard_before_each() -> None:
    remaining = [300.0]
    inner = _PagedSource(pages=3)
    source = GuardedSource(inner, Guard(None, lambda: remaining[0], 60, "acme/nightly/x"))
    day = datetime(2026, 11, 28, tzinfo=UTC)
    (pages,) = source.log_pages_in_ranges([(day, day + timedelta(days=1))])
    assert next(pages) == [{"logId": 0}]
    # Page by page, as the inner source serves them: a day is never gathered whole.
    assert inner.served == 1
    remaining[0] = 10.0
    with pytest.raises(RunDeadlineExceeded):
        next(pages)
    assert inner.served == 1


def test_colliding_names_get_a_deterministic_run_number_suffix() -> None:
    assert candidate_keys("tenants/acme/daily/log.csv.gz", ".csv.gz", 7)[:3] == [
        "tenants/acme/daily/log.csv.gz",
        "tenants/acme/daily/log-r7.csv.gz",
        "tenants/acme/daily/log-r7-2.csv.gz",
    ]
    assert candidate_keys("tenants/acme/done", "", 2)[:2] == ["tenants/acme/done", "tenants/acme/done-r2"]


def test_credentials_expiry_is_read_when_the_credentials_say_it() -> None:
    expiry = T0 + timedelta(minutes=20)

    class Credentials:
        _expiry_time = expiry

    class Signer:
        _credentials = Credentials()

    class Presigner:
        _request_signer = Signer()

    assert credentials_expiry(Presigner()) == expiry
    assert credentials_expiry(object()) is None


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_links_are_sigv4_on_the_regional_endpoint(region: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from function_environments import template_settings

    from tracking_export_aws.aws.clients import s3_presigner
    from tracking_export_aws.runtime.settings import ExportSettings

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = template_settings(ExportSettings, region=region)
    url = s3_presigner(settings).generate_presigned_url(
        "get_object", Params={"Bucket": "exports", "Key": "tenants/acme/a.csv"}, ExpiresIn=600
    )
    assert url.startswith(f"https://exports.s3.{region}.amazonaws.com/tenants/acme/a.csv?")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "X-Amz-Expires=600" in url


# -- never overwrite: the sink's conditional writes (moto honours If-None-Match) -------------------


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        clear_cache()
        s3 = client("s3", region="us-east-1")
        s3.create_bucket(Bucket="exports")
        yield s3
    clear_cache()


@pytest.mark.parametrize("size", [100, 6 * 1024 * 1024], ids=["put", "multipart"])
def test_the_sink_never_replaces_an_object(s3: Any, size: int) -> None:
    from tracking_export_aws.aws.s3_sink import MIB, MultipartSink, ObjectExists, object_metadata

    s3.put_object(Bucket="exports", Key="tenants/acme/a.csv", Body=b"first")
    sink = MultipartSink(s3, "exports", "tenants/acme/a.csv", part_size=5 * MIB, metadata={"export-run": "r"})
    sink.write(b"x" * size)
    with pytest.raises(ObjectExists, match="never overwritten"):
        sink.complete()
    assert s3.get_object(Bucket="exports", Key="tenants/acme/a.csv")["Body"].read() == b"first"
    assert s3.list_multipart_uploads(Bucket="exports").get("Uploads", []) == []
    # A new key is written, with the metadata naming its run.
    fresh = MultipartSink(
        s3, "exports", "tenants/acme/b.csv", part_size=5 * MIB, metadata={"export-run": "r"}
    )
    fresh.write(b"x" * size)
    fresh.complete()
    assert object_metadata(s3, "exports", "tenants/acme/b.csv") == {"export-run": "r"}
    assert object_metadata(s3, "exports", "tenants/acme/none.csv") is None


def test_complete_multipart_upload_failing_aborts_the_upload(s3: Any) -> None:
    from tracking_export_aws.aws.s3_sink import MIB, MultipartSink

    def refuse(**_: Any) -> None:
        raise ConnectionResetError("injected: reset during CompleteMultipartUpload")

    s3.meta.events.register("before-parameter-build.s3.CompleteMultipartUpload", refuse)
    try:
        sink = MultipartSink(s3, "exports", "tenants/acme/c.csv", part_size=5 * MIB)
        sink.write(b"y" * (6 * MIB))
        with pytest.raises(ConnectionResetError):
            sink.complete()
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.CompleteMultipartUpload", refuse)
    assert s3.list_objects_v2(Bucket="exports").get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket="exports").get("Uploads", []) == []


def test_a_half_claimed_run_is_given_back_at_once(ledger: RunLedger) -> None:
    dynamodb = ledger.client

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if "runCounter" in params.get("UpdateExpression", ""):
            raise ConnectionResetError("injected: reset while numbering the run")

    dynamodb.meta.events.register("before-parameter-build.dynamodb.UpdateItem", refuse)
    try:
        with pytest.raises(ConnectionResetError):
            ledger.claim("acme", "nightly", T0, T0, 120, invocation_id="inv-1")
    finally:
        dynamodb.meta.events.unregister("before-parameter-build.dynamodb.UpdateItem", refuse)
    record = ledger.get("acme", "nightly", T0)
    assert record is not None and (record.status, record.lease_until) == ("running", 0)
    # Another delivery, a second later, takes it over and numbers it.
    claim = ledger.claim("acme", "nightly", T0, T0 + timedelta(seconds=1), 120, invocation_id="inv-2")
    assert (claim.claimed, claim.run_number, claim.attempt) == (True, 1, 2)


def test_a_403_on_a_missing_key_is_read_as_absent_through_a_listing() -> None:
    from botocore.exceptions import ClientError

    from tracking_export_aws.aws.s3_sink import object_metadata

    class PrefixOnlyListing:
        """S3 as a role whose ListBucket is limited to prefixes answers HeadObject on a missing key."""

        def __init__(self, keys: list[str]) -> None:
            self.keys = keys

        def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
            raise ClientError(
                {"Error": {"Code": "403"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "HeadObject"
            )

        def list_objects_v2(self, Bucket: str, Prefix: str, MaxKeys: int) -> dict[str, Any]:
            return {"Contents": [{"Key": k} for k in self.keys if k.startswith(Prefix)][:MaxKeys]}

    assert object_metadata(PrefixOnlyListing(["tenants/acme/a.csv.gz"]), "b", "tenants/acme/a.csv") is None
    with pytest.raises(ClientError):  # there, but unreadable: a real refusal
        object_metadata(PrefixOnlyListing(["tenants/acme/a.csv"]), "b", "tenants/acme/a.csv")


def test_a_link_never_outlives_the_credentials_that_sign_it() -> None:
    class Credentials:
        _expiry_time = T0 + timedelta(minutes=20)

    class Signer:
        _credentials = Credentials()

    class Presigner:
        _request_signer = Signer()

        def generate_presigned_url(self, method: str, Params: dict[str, str], ExpiresIn: int) -> str:
            return f"https://exports.s3.eu-west-1.amazonaws.com/{Params['Key']}?X-Amz-Expires={ExpiresIn}"

    links = DownloadLinks(Presigner(), "exports", 3600)
    link = links.link("tenants/acme/a.csv", T0)
    # 20 minutes of credentials, less a minute of margin: not the hour asked for.
    assert link.expires_in_seconds == 19 * 60
    assert link.expires_at == T0 + timedelta(minutes=19)
    assert link.url == "https://exports.s3.eu-west-1.amazonaws.com/tenants/acme/a.csv?X-Amz-Expires=1140"
    Credentials._expiry_time = T0 + timedelta(seconds=30)
    too_soon = links.link("tenants/acme/a.csv", T0)
    assert (too_soon.url, too_soon.omitted) == (None, "the signing credentials expire too soon")
