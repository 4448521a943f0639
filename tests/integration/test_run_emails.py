"""Run e-mails through the notification outbox (issue 11, docs/email.md), over moto server and
dynalite: the e-mails are read back from moto's SES, the run record from the run-history table.

Each test verifies its own sender domain in moto's SES (``CreateEmailIdentity``) and reads back
only that sender's messages, so tests sharing the session's moto server never see each other's.
Faults are raised inside botocore's call (an event hook on the channel's own client), as in
test_run_faults.py.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from faults import Clock, fault
from nightly_export import NIGHTLY_TENANT, nightly_xml, put_nightly

from tools.local_endpoints import SentEmail, sent_emails
from tracking_export_aws.aws.s3_events import S3ObjectEvent
from tracking_export_aws.config.results import ConfigRejected
from tracking_export_aws.notify.mailer import EmailChannel
from tracking_export_aws.notify.notifier import NotificationError
from tracking_export_aws.runs.service import ExportRequest, ExportService
from tracking_export_aws.runtime import wiring
from tracking_export_aws.runtime.settings import ConfigSyncSettings, ExportSettings

REGION = "us-east-1"
T0 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 02:00 in Paris
TENANT = NIGHTLY_TENANT
# The nightly export, reported by e-mail to the definition's targetEmail too, with a link.
NIGHTLY_XML = nightly_xml(
    consolidators="""
      <emailReport>
        <targetEmail>lms-admin@acme.example</targetEmail>
        <includeDownloadLink>yes</includeDownloadLink>
      </emailReport>"""
)
KEY = "tenants/acme/nightly.csv"
# Both addresses, sorted: the tenant's notificationEmails and the definition's targetEmail.
RECIPIENTS = ["lms-admin@acme.example", "training@acme.example"]


@pytest.fixture
def sender(stack: Any) -> str:
    """A From address whose domain this test verified in moto's SES."""
    domain = f"mail-{uuid.uuid4().hex[:8]}.example.com"
    stack.client("sesv2").create_email_identity(EmailIdentity=domain)
    return f"exports@{domain}"


@pytest.fixture
def acme(stack: Any, records: Any) -> Any:
    put_nightly(stack, records, NIGHTLY_XML)
    return stack


def _service(stack: Any, sender: str, clock: Clock) -> ExportService:
    service = wiring.export_service(stack.settings(ExportSettings, EMAIL_SENDER=sender))
    return dataclasses.replace(service, clock=clock, heartbeat_seconds=0)


def _email_channel(service: Any) -> EmailChannel:
    [channel] = [c for c in service.notifier.channels if c.name == "email"]
    assert isinstance(channel, EmailChannel)
    return channel


def _request() -> ExportRequest:
    return ExportRequest.from_event(
        {"tenantId": "acme", "exportGuid": "nightly", "scheduledTime": T0.isoformat()}
    )


def _mails(sender: str) -> list[SentEmail]:
    return sent_emails(REGION, sender=sender)


def _assert_success_email(mail: SentEmail, stack: Any) -> None:
    """The run's e-mail as docs/email.md describes it, values worked out by hand: the first
    deltaMode run at 02:00 Paris on 2026-03-03 covers all data up to the end of its local day
    (export-definition.md), which holds the two loaded logs."""
    assert mail.to == RECIPIENTS
    assert mail.subject == "Export nightly of acme: succeeded, 2 rows"
    lines = mail.text.splitlines()
    assert lines[0] == mail.subject
    for expected in (
        "Tenant: acme",
        "Export: nightly",
        "Outcome: succeeded",
        "Run number: 1",
        "Window: delta, all data up to the end of local day 2026-03-03",
        "Rows: 2",
        f"File: s3://{stack.export_bucket}/{KEY}",
        "Skipped records: 0",
    ):
        assert expected in lines, expected
    [link] = [line for line in lines if line.startswith("Download: ")]
    assert link.startswith(f"Download: {stack.moto}/{stack.export_bucket}/{KEY}?")
    # The link lives an hour from the run (the service's clock), DOWNLOAD_LINK_SECONDS' default.
    assert any(line.startswith("Link expires: 2026-03-03 02:00 UTC") for line in lines)
    assert 'href="' in mail.html and "download the file</a>" in mail.html
    assert "Laurie" not in mail.text and "Martin" not in mail.text  # no learner data


def test_one_email_per_run_even_when_the_delivery_comes_again(acme: Any, sender: str) -> None:
    clock = Clock(T0)
    service = _service(acme, sender, clock)
    assert service.notifier.channel_names == ["sns", "eventbridge", "email"]

    result = service.run(_request(), invocation_id="inv-1")
    assert result.outcome == "succeeded"
    [mail] = _mails(sender)
    _assert_success_email(mail, acme)
    record = acme.ledger().get("acme", "nightly", T0)
    assert record.notified_channels == ("email", "eventbridge", "sns")
    report = record.deliveries["email"]
    assert (report["status"], report["messageId"], report["recipients"]) == (
        "sent",
        mail.message_id,
        RECIPIENTS,
    )
    assert report["suppressed"] == []

    # Scheduler delivers the same payload again, later: no second e-mail (nor file, nor message).
    clock.advance(3600)
    again = service.run(_request(), invocation_id="inv-2")
    assert (again.outcome, again.redelivered) == ("duplicate", [])
    assert len(_mails(sender)) == 1
    assert len(acme.notifications()) == 1


def test_a_failed_send_is_sent_once_by_the_redelivery(acme: Any, sender: str) -> None:
    clock = Clock(T0)
    service = _service(acme, sender, clock)
    throttled = ClientError(
        {"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate exceeded."}},
        "SendEmail",
    )
    with (
        fault(_email_channel(service)._ses, "SendEmail", throttled) as raised,
        pytest.raises(NotificationError) as err,
    ):
        service.run(_request(), invocation_id="inv-1")
    assert raised == [1] and err.value.failed == ["email"]
    assert _mails(sender) == []
    record = acme.ledger().get("acme", "nightly", T0)
    assert (record.status, record.pending_channels) == ("succeeded", ("email",))
    assert "email" not in record.deliveries

    # Lambda's retry of the invocation: the e-mail goes out, once; the other channels stay quiet.
    clock.advance(60)
    retry = service.run(_request(), invocation_id="inv-1")
    assert (retry.outcome, retry.redelivered) == ("duplicate", ["email"])
    [mail] = _mails(sender)
    _assert_success_email(mail, acme)
    assert len(acme.notifications()) == 1  # SNS took it on the first attempt, and only then
    record = acme.ledger().get("acme", "nightly", T0)
    assert record.pending_channels == ()
    assert record.deliveries["email"]["messageId"] == mail.message_id

    clock.advance(3600)
    service.run(_request(), invocation_id="inv-2")
    assert len(_mails(sender)) == 1


def test_a_failed_run_is_emailed_with_its_reason_to_both_lists(acme: Any, sender: str) -> None:
    service = _service(acme, sender, Clock(T0))
    # The run's definition is valid (so its targetEmail is known) but the data cannot be read
    # (for good: a transient error would be handed to Lambda's retry, test_run_healing.py;
    # the tracking reads have their own, unvalidated client: aws/clients.py).
    tracking = service.source_for("acme").client  # type: ignore[attr-defined]
    with fault(tracking, "Query", ClientError({"Error": {"Code": "AccessDeniedException"}}, "Query")):
        result = service.run(_request(), invocation_id="inv-1")
    assert result.outcome == "failed"
    [mail] = _mails(sender)
    assert mail.to == RECIPIENTS
    assert mail.subject == "Export nightly of acme: failed"
    assert f"Failure: {result.error}" in mail.text.splitlines()


def test_the_run_record_names_suppressed_addresses_and_they_get_nothing(acme: Any, sender: str) -> None:
    service = _service(acme, sender, Clock(T0))
    ses = _email_channel(service)._ses
    event = "before-call.sesv2.GetSuppressedDestination"

    def suppression_list(params: dict[str, Any], **_: Any) -> Any:
        # moto has no suppression list: answer as SES does for a listed address.
        if "training" in params["url_path"]:
            listed = {"EmailAddress": "training@acme.example", "Reason": "BOUNCE"}
            return AWSResponse("", 200, {}, None), {"SuppressedDestination": listed}
        return None

    ses.meta.events.register(event, suppression_list)
    try:
        service.run(_request(), invocation_id="inv-1")
    finally:
        ses.meta.events.unregister(event, suppression_list)
    [mail] = _mails(sender)
    assert mail.to == ["lms-admin@acme.example"]
    report = acme.ledger().get("acme", "nightly", T0).deliveries["email"]
    assert report["status"] == "sent"
    assert report["suppressed"] == [{"address": "training@acme.example", "reason": "BOUNCE"}]


def test_a_rejected_email_is_recorded_not_retried(acme: Any, stack: Any) -> None:
    # A sender nobody verified: SES refuses the message for good (MessageRejected).
    unverified = f"exports@unverified-{uuid.uuid4().hex[:8]}.example.com"
    service = _service(acme, unverified, Clock(T0))
    assert service.run(_request(), invocation_id="inv-1").outcome == "succeeded"
    assert _mails(unverified) == []
    record = acme.ledger().get("acme", "nightly", T0)
    assert record.pending_channels == ()
    report = record.deliveries["email"]
    assert report["status"] == "rejected" and report["error"].startswith("MessageRejected")
    assert report["recipients"] == RECIPIENTS


def test_config_invalid_reports_are_emailed_once_to_the_tenant_s_addresses(stack: Any, sender: str) -> None:
    stack.put_tenant("acme", TENANT)
    sync = wiring.config_sync_service(stack.settings(ConfigSyncSettings, EMAIL_SENDER=sender))
    settings_key = "tenants/acme/tenant.json"
    assert sync.apply(S3ObjectEvent(stack.config_bucket, settings_key)).action == "settings-valid"

    # An invalid definition: its targetEmail cannot be trusted, the tenant's addresses are told.
    key = stack.put_definition("acme", "nightly", NIGHTLY_XML.replace("<timeGlobal/>", "<noSuchColumn/>"))
    change = S3ObjectEvent(stack.config_bucket, key)
    assert sync.apply(change).action == "invalid"
    [mail] = _mails(sender)
    assert mail.to == ["training@acme.example"]
    assert mail.subject == "Export nightly of acme: configuration invalid"
    lines = mail.text.splitlines()
    assert f"Configuration: {key}" in lines and "Schedule: unchanged" in lines
    assert any("noSuchColumn" in line for line in lines)
    # S3 delivers the same event again: no second e-mail.
    again = sync.apply(change)
    assert isinstance(again, ConfigRejected) and again.reported is False
    assert len(_mails(sender)) == 1

    # An invalid tenant.json: the addresses of the last valid one are told.
    stack.put_tenant("acme", {**TENANT, "timeZone": "Europe/Paris"})
    result = sync.apply(S3ObjectEvent(stack.config_bucket, settings_key))
    assert result.action == "invalid"
    mails = _mails(sender)
    assert len(mails) == 2
    assert mails[1].to == ["training@acme.example"]
    assert mails[1].subject == "Export (no export) of acme: configuration invalid"
    assert f"Configuration: {settings_key}" in mails[1].text.splitlines()


def test_config_invalid_for_a_valid_definition_also_reaches_its_target_email(stack: Any, sender: str) -> None:
    stack.put_tenant("acme", TENANT)
    sync = wiring.config_sync_service(stack.settings(ConfigSyncSettings, EMAIL_SENDER=sender))
    sync.apply(S3ObjectEvent(stack.config_bucket, "tenants/acme/tenant.json"))
    # A valid definition refused for another reason (one export more than the cap of 1): the
    # tenant's addresses and the definition's targetEmail are told.
    sync = dataclasses.replace(sync, limits=sync.limits.model_copy(update={"max_exports_per_tenant": 1}))
    stack.put_definition("acme", "weekly", NIGHTLY_XML.replace("nightly", "weekly"))
    key = stack.put_definition("acme", "nightly", NIGHTLY_XML)
    assert sync.apply(S3ObjectEvent(stack.config_bucket, key)).action == "invalid"
    [mail] = _mails(sender)
    assert mail.to == RECIPIENTS
