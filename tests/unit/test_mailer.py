"""The e-mail channel (issue 11): one SES v2 message per run outcome, read back from moto.

Each test sends through moto's in-process SES and reads the message moto stored
(``ses_backends[account][region].sent_messages``): one raw MIME message whose envelope,
headers and both parts are parsed here. moto does not implement SES's account
suppression list (``GetSuppressedDestination``), so :class:`SuppressionList` answers
that one call the way SES does and hands everything else to moto's client.
Expected texts are written from docs/email.md, not read back from the code.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from function_environments import template_settings
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import RawMessage, ses_backends

from tools.template_tables import load_template
from tracking_export_aws.notify.mailer import EmailChannel
from tracking_export_aws.runtime.settings import ExportSettings, SettingsError

REGION = "us-east-1"
SENDER = "exports@mail.example.com"
NOW = datetime(2026, 3, 2, 11, 5, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


class SuppressionList:
    """A sesv2 client whose account suppression list holds ``listed`` (address -> reason)."""

    def __init__(self, ses: Any, listed: dict[str, str] | None = None) -> None:
        self._ses = ses
        self.listed = listed or {}
        self.lookups: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ses, name)

    def get_suppressed_destination(self, EmailAddress: str) -> dict[str, Any]:
        self.lookups.append(EmailAddress)
        reason = self.listed.get(EmailAddress)
        if reason is None:
            error = {"Code": "NotFoundException", "Message": f"{EmailAddress} is not on the suppression list"}
            raise ClientError(
                {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 404}}, "GetSuppressedDestination"
            )
        return {"SuppressedDestination": {"EmailAddress": EmailAddress, "Reason": reason}}


@pytest.fixture()
def ses() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("sesv2", region_name=REGION)
        client.create_email_identity(EmailIdentity="mail.example.com")  # a verified domain identity
        yield client


def sent() -> list[RawMessage]:
    messages = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert all(isinstance(m, RawMessage) for m in messages)
    return list(messages)


def parsed(message: RawMessage) -> EmailMessage:
    mail = email.message_from_string(message.raw_data, policy=default_policy)
    assert isinstance(mail, EmailMessage)
    return mail


def parts(mail: EmailMessage) -> tuple[str, str]:
    """(plain text, HTML) of a multipart/alternative message, line ends as "\\n"."""
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    page = mail.get_body(("html",))
    assert text is not None and page is not None
    assert text.get_content_charset() == "utf-8" and page.get_content_charset() == "utf-8"
    return str(text.get_content()).replace("\r\n", "\n"), str(page.get_content()).replace("\r\n", "\n")


def succeeded(**over: Any) -> dict[str, Any]:
    """A run notification as the export service builds it (runs/service.py)."""
    message: dict[str, Any] = {
        "tenantId": "acme",
        "exportGuid": "delta-daily",
        "scheduledTime": "2026-03-02T11:00:00+00:00",
        "runAt": "2026-03-02T11:00:00+00:00",
        "runNumber": 4,
        "attempt": 1,
        "outcome": "succeeded",
        "window": {
            "kind": "delta",
            "firstDay": "2026-03-01",
            "lastDay": "2026-03-02",
            "start": None,
            "end": None,
        },
        "rows": 1234,
        "skippedCount": 3,
        "skipped": [
            {"kind": "trackingLog", "key": 9001, "reason": "learner 77 (Laurie Martin) is invalid"},
            {"kind": "trackingLog", "key": 9002, "reason": "learner 77 (Laurie Martin) is invalid"},
            {"kind": "learner", "key": 77, "reason": "name: expected text, got 'Laurie Martin'"},
        ],
        "bytes": 56789,
        "bucket": "exports-bucket",
        "objectKey": "tenants/acme/exports/delta-daily_20260302_120000.csv",
        "sha256": "ab" * 32,
        "endFileKey": None,
        "recipients": ["ops@acme.example", "lead@acme.example"],
        "durationMs": 5120,
    }
    message.update(over)
    return message


# --------------------------------------------------------------------------- succeeded


def test_a_succeeded_run_sends_one_email_with_both_parts(ses: Any) -> None:
    channel = EmailChannel(SuppressionList(ses), SENDER, clock=lambda: NOW)
    result = channel.deliver(succeeded())

    (message,) = sent()
    assert result["status"] == "sent"
    assert result["messageId"] == message.id
    assert result["recipients"] == ["ops@acme.example", "lead@acme.example"]
    assert result["suppressed"] == []
    assert message.source == SENDER
    # moto adds the To header's addresses to the envelope's (Destination): two of each.
    assert sorted(set(message.destinations)) == ["lead@acme.example", "ops@acme.example"]

    mail = parsed(message)
    assert mail["From"] == SENDER
    assert mail["To"] == "ops@acme.example, lead@acme.example"
    assert mail["Subject"] == "Export delta-daily of acme: succeeded, 1,234 rows"
    assert mail["Auto-Submitted"] == "auto-generated"
    text, page = parts(mail)
    for line in (
        "Tenant: acme",
        "Export: delta-daily",
        "Outcome: succeeded",
        "Run number: 4",
        "Window: delta, local days 2026-03-01 to 2026-03-02",
        "Rows: 1,234",
        "Bytes: 56,789 (55.5 KiB)",
        "SHA-256: " + "ab" * 32,
        "File: s3://exports-bucket/tenants/acme/exports/delta-daily_20260302_120000.csv",
        "Skipped records: 3 (learner 1, trackingLog 2)",
    ):
        assert line + "\n" in text, line
    assert "Download" not in text and "Failure" not in text
    assert '<th align="left" valign="top">Rows</th><td>1,234</td>' in page
    assert "tenants/acme/exports/delta-daily_20260302_120000.csv" in page
    assert "learner 1, trackingLog 2" in page
    # No learner data: the skipped records' keys and reasons stay out of the e-mail.
    assert "Laurie" not in message.raw_data and "9001" not in message.raw_data


def test_the_download_link_and_its_expiry_are_in_both_parts(ses: Any) -> None:
    url = (
        "https://exports-bucket.s3.amazonaws.com/tenants/acme/x.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Date=20260302T110000Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host&X-Amz-Signature=abc"
    )
    EmailChannel(SuppressionList(ses), SENDER, clock=lambda: NOW).deliver(
        succeeded(downloadUrl=url, downloadUrlExpiresInSeconds=604800)
    )
    (message,) = sent()
    text, page = parts(parsed(message))
    # 2 March 11:00:00Z + 604,800 s (7 days), as the URL itself says.
    assert f"Download: {url}\n" in text
    assert "Link expires: 2026-03-09 11:00 UTC\n" in text
    assert f'<a href="{url.replace("&", "&amp;")}">download the file</a>' in page
    assert "2026-03-09 11:00 UTC" in page


def test_an_explicit_expiry_wins_over_the_url_s_own(ses: Any) -> None:
    url = "https://b.s3.amazonaws.com/k?X-Amz-Date=20260302T110000Z&X-Amz-Expires=604800"
    EmailChannel(SuppressionList(ses), SENDER, clock=lambda: NOW).deliver(
        succeeded(downloadUrl=url, downloadUrlExpiresAt="2026-03-02T17:00:00+00:00")
    )
    text, _ = parts(parsed(sent()[0]))
    assert "Link expires: 2026-03-02 17:00 UTC\n" in text


def test_a_link_that_is_not_http_is_left_out(ses: Any) -> None:
    EmailChannel(SuppressionList(ses), SENDER).deliver(succeeded(downloadUrl="javascript:alert(1)"))
    text, page = parts(parsed(sent()[0]))
    assert "javascript" not in text and "javascript" not in page


def test_a_run_that_wrote_no_file_says_so(ses: Any) -> None:
    EmailChannel(SuppressionList(ses), SENDER).deliver(
        succeeded(rows=0, bytes=0, objectKey=None, sha256=None, skippedCount=0, skipped=[])
    )
    mail = parsed(sent()[0])
    assert mail["Subject"] == "Export delta-daily of acme: succeeded, 0 rows"
    text, _ = parts(mail)
    assert "Rows: 0\n" in text and "Skipped records: 0\n" in text
    assert "File: none written (no rows, deleteEmptyFiles)\n" in text


@pytest.mark.parametrize(
    ("window", "text"),
    [
        (
            {"kind": "delta", "firstDay": None, "lastDay": "2026-03-02"},
            "delta, all data up to the end of local day 2026-03-02",
        ),
        ({"kind": "all", "firstDay": None, "lastDay": None}, "all data"),
        (
            {"kind": "timeFrame", "start": "2026-02-23T11:00:00+00:00", "end": "2026-03-02T11:00:00+00:00"},
            "time frame 2026-02-23T11:00:00+00:00 to 2026-03-02T11:00:00+00:00",
        ),
    ],
)
def test_each_kind_of_window_in_words(ses: Any, window: dict[str, Any], text: str) -> None:
    EmailChannel(SuppressionList(ses), SENDER).deliver(succeeded(window=window))
    assert f"Window: {text}\n" in parts(parsed(sent()[0]))[0]


# --------------------------------------------------------------------------- failed, config-invalid


def test_a_failed_run_gives_its_reason_escaped_in_html(ses: Any) -> None:
    message = succeeded(
        outcome="failed",
        error="UnencodableCellError: row 5, column 2 ('<b>title</b>'): cannot be written in ISO-8859-1",
        window=None,
        objectKey=None,
    )
    for key in ("rows", "bytes", "sha256", "skippedCount", "skipped"):
        del message[key]
    result = EmailChannel(SuppressionList(ses), SENDER).deliver(message)
    assert result["status"] == "sent"
    mail = parsed(sent()[0])
    assert mail["Subject"] == "Export delta-daily of acme: failed"
    text, page = parts(mail)
    assert (
        "Failure: UnencodableCellError: row 5, column 2 ('<b>title</b>'): cannot be written in ISO-8859-1\n"
        in text
    )
    assert "Window: not computed (the run failed before)\n" in text
    assert "Rows:" not in text
    assert "&lt;b&gt;title&lt;/b&gt;" in page and "<b>title</b>" not in page


def test_a_config_invalid_report_lists_the_errors(ses: Any) -> None:
    message = {
        "outcome": "config-invalid",
        "tenantId": "acme",
        "exportGuid": "weekly",
        "configKey": "tenants/acme/exports/weekly.xml",
        "errorCount": 2,
        "errors": ["line 3: dateFormat: unknown token 'yyyy'", "line 4: <script>: unknown column"],
        "error": "tenants/acme/exports/weekly.xml: 2 error(s); the existing schedule is unchanged",
        "recipients": ["ops@acme.example"],
    }
    EmailChannel(SuppressionList(ses), SENDER).deliver(message)
    mail = parsed(sent()[0])
    assert mail["Subject"] == "Export weekly of acme: configuration invalid"
    text, page = parts(mail)
    assert "Configuration: tenants/acme/exports/weekly.xml\n" in text
    assert (
        "Errors:\n  - line 3: dateFormat: unknown token 'yyyy'\n  - line 4: <script>: unknown column\n"
        in text
    )
    assert "Schedule: unchanged\n" in text
    assert "<li>line 4: &lt;script&gt;: unknown column</li>" in page and "<script>" not in page


def test_a_long_error_list_is_cut_with_a_count(ses: Any) -> None:
    errors = [f"line {n}: bad" for n in range(1, 31)]
    EmailChannel(SuppressionList(ses), SENDER).deliver(
        {"outcome": "config-invalid", "tenantId": "acme", "exportGuid": "w", "errors": errors,
         "errorCount": 30, "recipients": ["ops@acme.example"]}
    )  # fmt: skip
    text, _ = parts(parsed(sent()[0]))
    assert "  - line 20: bad\n  - ... and 10 more\n" in text and "line 21" not in text


# --------------------------------------------------------------------------- recipients


def test_suppressed_addresses_are_left_out_and_reported(ses: Any) -> None:
    client = SuppressionList(ses, {"lead@acme.example": "BOUNCE"})
    result = EmailChannel(client, SENDER).deliver(succeeded())
    assert result["status"] == "sent"
    assert result["recipients"] == ["ops@acme.example"]
    assert result["suppressed"] == [{"address": "lead@acme.example", "reason": "BOUNCE"}]
    (message,) = sent()
    assert set(message.destinations) == {"ops@acme.example"}
    assert parsed(message)["To"] == "ops@acme.example"


def test_when_every_address_is_suppressed_nothing_is_sent(ses: Any) -> None:
    client = SuppressionList(ses, {"lead@acme.example": "BOUNCE", "ops@acme.example": "COMPLAINT"})
    result = EmailChannel(client, SENDER).deliver(succeeded())
    assert result["status"] == "suppressed"
    assert result["recipients"] == []
    assert {s["address"]: s["reason"] for s in result["suppressed"]} == {
        "lead@acme.example": "BOUNCE",
        "ops@acme.example": "COMPLAINT",
    }
    assert sent() == []


def test_a_failed_suppression_lookup_still_sends_and_says_so(ses: Any) -> None:
    class Throttled(SuppressionList):
        def get_suppressed_destination(self, EmailAddress: str) -> dict[str, Any]:
            error = {"Code": "TooManyRequestsException", "Message": "slow down"}
            raise ClientError({"Error": error}, "GetSuppressedDestination")

    result = EmailChannel(Throttled(ses), SENDER).deliver(succeeded())
    assert result["status"] == "sent"
    assert result["suppressionUnchecked"] == ["ops@acme.example", "lead@acme.example"]
    assert len(sent()) == 1


def test_invalid_duplicate_and_excess_recipients(ses: Any) -> None:
    listed = ["A@acme.example", "a@acme.example", "not-an-address", " b@acme.example ", "c@acme.example"]
    result = EmailChannel(SuppressionList(ses), SENDER, max_recipients=2).deliver(
        succeeded(recipients=listed)
    )
    assert result["recipients"] == ["A@acme.example", "b@acme.example"]
    assert result["invalid"] == [{"address": "not-an-address", "reason": "no '@'"}]
    assert result["dropped"] == ["c@acme.example"]
    assert set(sent()[0].destinations) == {"A@acme.example", "b@acme.example"}


@pytest.mark.parametrize("recipients", [[], None, ["nope"]])
def test_no_usable_recipient_sends_nothing(ses: Any, recipients: Any) -> None:
    client = SuppressionList(ses)
    result = EmailChannel(client, SENDER).deliver(succeeded(recipients=recipients))
    assert result["status"] == "no-recipients"
    assert sent() == [] and client.lookups == []


# --------------------------------------------------------------------------- SES errors


def test_an_unverified_sender_is_reported_as_rejected_not_raised(ses: Any) -> None:
    result = EmailChannel(SuppressionList(ses), "exports@other.example").deliver(succeeded())
    assert result["status"] == "rejected"
    assert result["error"].startswith("MessageRejected: ")
    assert sent() == []


@pytest.mark.parametrize(
    ("code", "status"),
    [("TooManyRequestsException", 429), ("LimitExceededException", 400), ("SendingPausedException", 400),
     ("InternalFailure", 500)],
)  # fmt: skip
def test_transient_errors_raise_so_the_outbox_retries(code: str, status: int) -> None:
    client = boto3.client("sesv2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("send_email", service_error_code=code, http_status_code=status)
        with pytest.raises(ClientError) as raised:
            EmailChannel(SuppressionList(client), SENDER).deliver(succeeded())
        assert raised.value.response["Error"]["Code"] == code
        stub.assert_no_pending_responses()


def test_the_configuration_set_and_outcome_tag_are_named_on_the_call(ses: Any) -> None:
    calls: list[dict[str, Any]] = []
    ses.meta.events.register(
        "provide-client-params.sesv2.SendEmail", lambda params, **_: calls.append(params)
    )
    EmailChannel(SuppressionList(ses), SENDER, "exports-feedback").deliver(succeeded())
    (call,) = calls
    assert call["ConfigurationSetName"] == "exports-feedback"
    assert call["FromEmailAddress"] == SENDER
    assert call["Destination"] == {"ToAddresses": ["ops@acme.example", "lead@acme.example"]}
    assert call["EmailTags"] == [{"Name": "outcome", "Value": "succeeded"}]
    assert set(call["Content"]) == {"Raw"}


# --------------------------------------------------------------------------- configuration


def test_without_a_sender_the_channel_is_disabled_and_calls_nothing() -> None:
    settings = template_settings(ExportSettings, EMAIL_SENDER="")
    channel = EmailChannel.from_settings(settings)
    assert not channel.enabled
    assert channel.deliver(succeeded()) == {
        "channel": "email",
        "recipients": [],
        "suppressed": [],
        "status": "disabled",
    }


def test_settings_read_the_sender_and_configuration_set(ses: Any) -> None:
    settings = template_settings(
        ExportSettings, REGION, EMAIL_SENDER=SENDER, EMAIL_CONFIGURATION_SET="exports-feedback"
    )
    assert (settings.email_sender, settings.email_configuration_set) == (SENDER, "exports-feedback")
    channel = EmailChannel.from_settings(settings)
    assert channel.enabled and channel.sender == SENDER


def test_a_malformed_sender_is_a_settings_error_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"EMAIL_SENDER: .*no '@'"):
        template_settings(ExportSettings, EMAIL_SENDER="mail.example.com")


def test_an_unknown_outcome_is_a_programming_error(ses: Any) -> None:
    with pytest.raises(ValueError, match="outcome"):
        EmailChannel(SuppressionList(ses), SENDER).deliver(succeeded(outcome="duplicate"))


# --------------------------------------------------------------------------- template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def test_template_parameters_default_to_no_email(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["EmailSender"]["Default"] == "" and params["EmailConfigurationSet"]["Default"] == ""
    assert template["Conditions"]["EmailEnabled"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "EmailSender"}, ""]}]
    }
    env = template["Resources"]["ExportFunction"]["Properties"]["Environment"]["Variables"]
    assert env["EMAIL_SENDER"] == {"Ref": "EmailSender"}
    # The operator's configuration set, else the stack's own (bounces to the operations topic).
    assert env["EMAIL_CONFIGURATION_SET"] == {
        "Fn::If": [
            "CreateEmailFeedback",
            {"Ref": "EmailFeedbackConfigurationSet"},
            {"Ref": "EmailConfigurationSet"},
        ]
    }


def test_send_permission_exists_only_with_a_sender_and_names_only_its_identity(
    template: dict[str, Any],
) -> None:
    policy = template["Resources"]["ExportEmailPolicy"]
    assert policy["Type"] == "AWS::IAM::Policy"
    assert policy["Condition"] == "EmailEnabled"
    # The functions that send run outcomes and config-invalid reports, and the distributed
    # run's coordinator and the stuck-runs function (which end runs).
    assert policy["Properties"]["Roles"] == [
        {"Ref": "ExportFunctionRole"},
        {"Ref": "ExportCoordinatorFunctionRole"},
        {"Ref": "RunRecoveryFunctionRole"},
        {"Ref": "StuckRunsFunctionRole"},
        {"Ref": "ConfigSyncFunctionRole"},
    ]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    send = statements["SendRunEmails"]
    assert send["Action"] == "ses:SendEmail"
    identity = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/"
    domain = {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "EmailSender"}]}]}
    configuration_set = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/"
    assert send["Resource"] == [
        {"Fn::Sub": identity + "${EmailSender}"},
        {"Fn::Sub": [identity + "${SenderDomain}", {"SenderDomain": domain}]},
        {
            "Fn::If": [
                "HasEmailConfigurationSet",
                {"Fn::Sub": configuration_set + "${EmailConfigurationSet}"},
                {"Fn::Sub": configuration_set + "${EmailFeedbackConfigurationSet}"},
            ]
        },
    ]
    # The suppression list has no resource-level permission in IAM: read-only, on "*".
    assert statements["ReadSuppressionList"]["Action"] == "ses:GetSuppressedDestination"
    assert statements["ReadSuppressionList"]["Resource"] == "*"
    assert set(statements) == {"SendRunEmails", "ReadSuppressionList"}
