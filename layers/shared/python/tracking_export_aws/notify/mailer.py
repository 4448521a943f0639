"""The e-mail channel of run notifications: one Amazon SES (v2) message per run outcome.

:class:`EmailChannel` turns the run's notification message (the dict the export service
and config sync publish: ``tenantId``, ``exportGuid``, ``outcome``, ``window``, ``rows``,
``bytes``, ``sha256``, ``objectKey``, ``skippedCount``, ``error``, ``recipients``,
``downloadUrl``…) into one ``SendEmail`` call with a plain-text and an HTML part. It
holds no state: sending each outcome exactly once is the notification outbox's job,
which calls :meth:`EmailChannel.deliver` until it returns (a raised error means "try
again later") and records the returned dict. See docs/email.md.

What the e-mail says comes only from the message's run facts (counts, window, key,
checksum, failure reason, download link); the skipped records' keys and reasons are
never copied, so no learner data reaches a mailbox.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import ClientError

from tracking_export.addresses import MAX_ADDRESSES, address_problem, validate_address
from tracking_export_aws.aws.clients import Endpoints, client

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_sesv2 import SESV2Client

OUTCOMES = {
    "succeeded": "succeeded",
    "failed": "failed",
    "config-invalid": "configuration invalid",
}
# SES answers these when the message itself cannot be sent (an unverified recipient in the
# sandbox, a malformed message): sending it again would fail the same way, so the result
# reports them instead of raising. Every other error raises, and the outbox retries.
PERMANENT_ERRORS = frozenset({"MessageRejected", "BadRequestException"})
MAX_SUBJECT = 200
MAX_REASON = 2000
MAX_ERRORS_LISTED = 20
MAX_ERROR_LINE = 300
_SIGV4_DATE = "%Y%m%dT%H%M%SZ"


class EmailSettings(Endpoints, Protocol):
    """What the e-mail channel reads of a function's settings (``runtime.settings.EmailSettings``;
    this package imports no settings)."""

    @property
    def email_sender(self) -> str | None: ...

    @property
    def email_configuration_set(self) -> str | None: ...


class EmailChannel:
    """Sends run notifications by e-mail through SES v2 ``SendEmail``.

    ``ses`` is a boto3 ``sesv2`` client; ``sender`` the From address, whose own identity
    or whose domain's is verified in SES; an empty or None ``sender`` disables the
    channel (``deliver`` then sends nothing and says so). ``configuration_set``, when
    given, is named on every message (event publishing: bounces, complaints).
    """

    name = "email"

    def __init__(
        self,
        ses: SESV2Client | None,
        sender: str | None,
        configuration_set: str | None = None,
        *,
        max_recipients: int = MAX_ADDRESSES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sender = validate_address(sender) if sender else None
        if self.sender is not None and ses is None:
            raise ValueError("an enabled e-mail channel needs an SES client")
        if not 1 <= max_recipients <= MAX_ADDRESSES:
            raise ValueError(f"max_recipients must be 1..{MAX_ADDRESSES}, got {max_recipients}")
        self._ses = ses
        self._configuration_set = configuration_set or None
        self._max_recipients = max_recipients
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: EmailSettings) -> EmailChannel:
        """The channel the environment configures (``EMAIL_SENDER``, ``EMAIL_CONFIGURATION_SET``).

        Without a sender it is disabled and makes no SES client.
        """
        if not settings.email_sender:
            return cls(None, None)
        return cls(client("sesv2", settings), settings.email_sender, settings.email_configuration_set)

    @property
    def enabled(self) -> bool:
        return self.sender is not None

    def deliver(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Send ``message`` as one e-mail; returns what was done, for the run record.

        ``status`` is ``sent`` (with ``messageId``), ``disabled`` (no sender configured),
        ``no-recipients``, ``suppressed`` (every address is on SES's suppression list) or
        ``rejected`` (SES refused the message for good: ``error`` says why). Addresses
        left out are listed: ``suppressed`` (with SES's reason), ``invalid`` (with the
        reason), ``dropped`` (past the recipient cap). A transient SES error (throttling,
        quota, network, a 5xx) raises, so the caller retries.
        """
        outcome = message.get("outcome")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        result: dict[str, Any] = {"channel": self.name, "recipients": [], "suppressed": []}
        ses = self._ses
        if self.sender is None or ses is None:
            return {**result, "status": "disabled"}
        recipients, invalid, dropped = self._recipients(message.get("recipients"))
        if invalid:
            result["invalid"] = invalid
        if dropped:
            result["dropped"] = dropped
        if not recipients:
            return {**result, "status": "no-recipients"}
        to, suppressed, unchecked = self._check_suppression(ses, recipients)
        result["suppressed"] = suppressed
        if unchecked:
            result["suppressionUnchecked"] = unchecked
        if not to:
            return {**result, "status": "suppressed"}
        subject = subject_of(message)
        raw = self._mime(message, subject, to)
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": to},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": "outcome", "Value": str(outcome)}],
        }
        if self._configuration_set:
            request["ConfigurationSetName"] = self._configuration_set
        result.update(recipients=to, subject=subject)
        try:
            response = ses.send_email(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in PERMANENT_ERRORS:
                raise
            detail = exc.response.get("Error", {}).get("Message", "")
            return {**result, "status": "rejected", "error": f"{code}: {detail}"}
        return {**result, "status": "sent", "messageId": response["MessageId"]}

    def _recipients(self, listed: Any) -> tuple[list[str], list[dict[str, str]], list[str]]:
        """(usable addresses in order, duplicates dropped; invalid ones; those past the cap)."""
        usable: list[str] = []
        invalid: list[dict[str, str]] = []
        dropped: list[str] = []
        seen: set[str] = set()
        items = listed if isinstance(listed, list | tuple) else []
        for item in items:
            address = item.strip() if isinstance(item, str) else item
            problem = address_problem(address)
            if problem is not None:
                invalid.append({"address": str(item)[:MAX_ERROR_LINE], "reason": problem})
                continue
            if address.lower() in seen:
                continue
            seen.add(address.lower())
            (usable if len(usable) < self._max_recipients else dropped).append(address)
        return usable, invalid, dropped

    @staticmethod
    def _check_suppression(
        ses: SESV2Client, addresses: list[str]
    ) -> tuple[list[str], list[dict[str, str]], list[str]]:
        """(addresses to send to, those on the account's suppression list, those not checked).

        SES accepts a message to a suppressed address and silently drops that recipient
        (a bounce event, nothing in the answer), so the list is read first. A lookup that
        fails for another reason than "not listed" leaves the address in: SES still drops
        it if it is listed, and the e-mail reaches the others.
        """
        send: list[str] = []
        suppressed: list[dict[str, str]] = []
        unchecked: list[str] = []
        for address in addresses:
            try:
                found = ses.get_suppressed_destination(EmailAddress=address)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NotFoundException":
                    unchecked.append(address)
                send.append(address)
                continue
            reason = found.get("SuppressedDestination", {}).get("Reason", "listed")
            suppressed.append({"address": address, "reason": str(reason)})
        return send, suppressed, unchecked

    def _mime(self, message: Mapping[str, Any], subject: str, to: Sequence[str]) -> bytes:
        assert self.sender is not None
        facts = facts_of(message, now=self._clock())
        mail = EmailMessage(policy=SMTP)
        mail["From"] = self.sender
        mail["To"] = ", ".join(to)
        mail["Subject"] = subject
        mail["Date"] = format_datetime(self._clock().astimezone(UTC), usegmt=True)
        # An automatic report: vacation responders and ticket systems must not answer it.
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(text_body(subject, facts), charset="utf-8")
        mail.add_alternative(html_body(subject, facts), subtype="html", charset="utf-8")
        return mail.as_bytes()


# --------------------------------------------------------------------------- content


def subject_of(message: Mapping[str, Any]) -> str:
    """``Export <guid> of <tenant>: <outcome>``, on one line, at most 200 characters."""
    outcome = OUTCOMES.get(str(message.get("outcome")), str(message.get("outcome")))
    guid = message.get("exportGuid") or "(no export)"
    subject = f"Export {guid} of {message.get('tenantId')}: {outcome}"
    if message.get("outcome") == "succeeded" and isinstance(message.get("rows"), int):
        subject += f", {message['rows']:,} rows"
    return _one_line(subject)[:MAX_SUBJECT]


def facts_of(message: Mapping[str, Any], *, now: datetime) -> list[tuple[str, str | list[str]]]:
    """The (label, value) lines both parts show, in order; a list value is shown as a list.

    ``now`` dates nothing in the e-mail; it only tells whether a download link has expired.
    """
    facts: list[tuple[str, str | list[str]]] = [
        ("Tenant", str(message.get("tenantId"))),
        ("Export", str(message.get("exportGuid") or "-")),
        ("Outcome", OUTCOMES.get(str(message.get("outcome")), str(message.get("outcome")))),
    ]
    for label, key in (("Scheduled time", "scheduledTime"), ("Run time", "runAt")):
        if message.get(key):
            facts.append((label, str(message[key])))
    if message.get("runNumber") is not None:
        facts.append(("Run number", str(message["runNumber"])))
    if message.get("outcome") == "config-invalid":
        return facts + _config_facts(message)
    facts.append(("Window", window_text(message.get("window"))))
    if message.get("outcome") == "failed":
        facts.append(("Failure", _cut(str(message.get("error") or "unknown error"), MAX_REASON)))
        return facts
    facts.append(("Rows", _count(message.get("rows"))))
    size = message.get("bytes")
    facts.append(("Bytes", f"{size:,} ({_size(size)})" if isinstance(size, int) else "-"))
    facts.append(("SHA-256", str(message.get("sha256") or "-")))
    object_key = message.get("objectKey")
    if object_key:
        where = f"s3://{message['bucket']}/{object_key}" if message.get("bucket") else str(object_key)
        facts.append(("File", where))
    else:
        facts.append(("File", "none written (no rows, deleteEmptyFiles)"))
    if message.get("endFileKey"):
        facts.append(("End file", str(message["endFileKey"])))
    facts.append(("Skipped records", skipped_text(message)))
    link = _download_link(message)
    if link is not None:
        url, expiry = link
        facts.append(("Download", url))
        facts.append(("Link expires", _expiry_text(expiry, now)))
    return facts


def _config_facts(message: Mapping[str, Any]) -> list[tuple[str, str | list[str]]]:
    facts: list[tuple[str, str | list[str]]] = []
    if message.get("configKey"):
        facts.append(("Configuration", str(message["configKey"])))
    errors = [str(e) for e in message.get("errors") or []]
    given = message.get("errorCount")
    count = given if isinstance(given, int) else len(errors)
    shown = [_cut(_one_line(e), MAX_ERROR_LINE) for e in errors[:MAX_ERRORS_LISTED]]
    if count > len(shown):
        shown.append(f"... and {count - len(shown)} more")
    facts.append(("Errors", shown or [_cut(str(message.get("error") or "-"), MAX_REASON)]))
    facts.append(("Schedule", "unchanged"))
    return facts


def window_text(window: Any) -> str:
    """The run's window in words: local days, a time frame, or all data."""
    if not isinstance(window, Mapping):
        return "not computed (the run failed before)"
    kind = window.get("kind")
    if kind == "timeFrame":
        return f"time frame {window.get('start')} to {window.get('end')}"
    first, last = window.get("firstDay"), window.get("lastDay")
    if kind == "delta":
        if first and last:
            return f"delta, local days {first} to {last}"
        # The export's first run: everything up to the end of its local day.
        return f"delta, all data up to the end of local day {last}" if last else "delta, all data"
    return "all data"


def skipped_text(message: Mapping[str, Any]) -> str:
    """``3 (trackingLog 2, learner 1)``: the exact count and, of those listed, how many per kind."""
    count = message.get("skippedCount")
    if not isinstance(count, int) or count == 0:
        return "0"
    listed = [s for s in message.get("skipped") or [] if isinstance(s, Mapping)]
    kinds = Counter(str(s.get("kind")) for s in listed)
    if not kinds:
        return f"{count:,}"
    parts = ", ".join(f"{kind} {n:,}" for kind, n in sorted(kinds.items()))
    scope = "" if len(listed) >= count else f"; of the first {len(listed):,} listed"
    return f"{count:,} ({parts}{scope})"


def _download_link(message: Mapping[str, Any]) -> tuple[str, datetime | None] | None:
    """(URL, expiry) of the download link, if the message has one with an http(s) URL.

    The expiry is ``downloadUrlExpiresAt`` when the message gives it, else the one the
    presigned URL itself states (``X-Amz-Date`` + ``X-Amz-Expires``).
    """
    url = message.get("downloadUrl")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("https", "http"):
        return None
    expires_at = message.get("downloadUrlExpiresAt")
    if isinstance(expires_at, str):
        try:
            return url, datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
        except ValueError:
            pass
    query = parse_qs(urlsplit(url).query)
    try:
        signed = datetime.strptime(query["X-Amz-Date"][0], _SIGV4_DATE).replace(tzinfo=UTC)
        return url, signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))
    except (KeyError, ValueError):
        return url, None


def _expiry_text(expiry: datetime | None, now: datetime) -> str:
    if expiry is None:
        return "unknown"
    when = expiry.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{when} (already expired)" if expiry <= now else when


def text_body(subject: str, facts: list[tuple[str, str | list[str]]]) -> str:
    """The plain-text part: the subject, then one ``Label: value`` line per fact."""
    lines = [subject, ""]
    for label, value in facts:
        if isinstance(value, list):
            lines.append(f"{label}:")
            lines.extend(f"  - {item}" for item in value)
        else:
            lines.append(f"{label}: {value}")
    lines += ["", "This message was sent automatically by the tracking-log export service."]
    return "\n".join(lines) + "\n"


def html_body(subject: str, facts: list[tuple[str, str | list[str]]]) -> str:
    """The HTML part: the same facts in a table, every value escaped."""
    rows = []
    for label, value in facts:
        if isinstance(value, list):
            cell = "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in value) + "</ul>"
        elif label == "Download":
            cell = f'<a href="{html.escape(value, quote=True)}">download the file</a>'
        elif label == "Failure":
            cell = f"<pre>{html.escape(value)}</pre>"
        else:
            cell = html.escape(value)
        rows.append(f'<tr><th align="left" valign="top">{html.escape(label)}</th><td>{cell}</td></tr>')
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        f"<p><strong>{html.escape(subject)}</strong></p>"
        f'<table cellpadding="4">{"".join(rows)}</table>'
        "<p>This message was sent automatically by the tracking-log export service.</p>"
        "</body></html>\n"
    )


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _one_line(text: str) -> str:
    """Control characters (CR, LF, tab...) become spaces: a header or list item stays one line."""
    return "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text).strip()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
