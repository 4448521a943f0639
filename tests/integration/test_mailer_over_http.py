"""The e-mail channel over HTTP against the moto server of the integration tests (issue 11).

The server runs in a thread of this process, so the message it stored is read back from
moto's SES backend by the id SES answered. moto's server has no suppression-list API:
the lookups fail (HTTP 404, not SES's NotFoundException), so the channel sends to every
address and lists them as unchecked — what it does when the lookup is unavailable.
"""

from __future__ import annotations

import email
import uuid
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tracking_export_aws.aws.clients import client
from tracking_export_aws.notify.mailer import EmailChannel

REGION = "us-east-1"


def test_one_email_over_http_read_back_from_moto(moto_endpoint: str) -> None:
    domain = f"mail-{uuid.uuid4().hex[:8]}.example.com"
    ses = client("sesv2", endpoint_url=moto_endpoint, region=REGION)
    ses.create_email_identity(EmailIdentity=domain)
    channel = EmailChannel(ses, f"exports@{domain}")
    message: dict[str, Any] = {
        "tenantId": "acme",
        "exportGuid": "daily",
        "outcome": "failed",
        "error": "ExportRunError: the tracking table could not be read",
        "window": {"kind": "all", "firstDay": None, "lastDay": None, "start": None, "end": None},
        "recipients": ["ops@acme.example", "lead@acme.example"],
    }

    result = channel.deliver(message)

    assert result["status"] == "sent"
    assert result["suppressionUnchecked"] == ["ops@acme.example", "lead@acme.example"]
    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    stored = [m for m in backend.sent_messages if m.id == result["messageId"]]
    assert len(stored) == 1
    assert stored[0].source == f"exports@{domain}"
    mail = email.message_from_string(stored[0].raw_data, policy=default_policy)
    assert isinstance(mail, EmailMessage)
    assert mail["Subject"] == "Export daily of acme: failed"
    assert mail["To"] == "ops@acme.example, lead@acme.example"
    text = mail.get_body(("plain",))
    page = mail.get_body(("html",))
    assert text is not None and page is not None
    assert "Failure: ExportRunError: the tracking table could not be read" in str(text.get_content())
    assert "Window: all data" in str(text.get_content())
    assert "<pre>ExportRunError: the tracking table could not be read</pre>" in str(page.get_content())
