"""The export use case: one scheduled run of one tenant's export, start to notification.

    claim the run (a duplicate delivery stops here) -> tenant settings and definition
    -> window -> rows from DynamoDB -> file streamed into an S3 multipart upload
    -> end file -> run record -> one notification

Any failure aborts the upload (no partial object), records the run as failed (the
deltaMode window does not move) and still ends in one ``failed`` notification.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tracking_export.engine import run_export
from tracking_export.errors import DefinitionError
from tracking_export.filename import object_key, render_file_name
from tracking_export.model import ExportDefinition
from tracking_export.source import TrackingSource, parse_instant
from tracking_export_aws import keys
from tracking_export_aws.config_store import ConfigStore
from tracking_export_aws.config_sync import checked_definition
from tracking_export_aws.ledger import Claim, RunLedger
from tracking_export_aws.notifier import Notifier
from tracking_export_aws.s3_sink import MIB, MultipartSink
from tracking_export_aws.template_tables import clean_older_than_tag

if TYPE_CHECKING:
    from tracking_export_aws.distributed import Router
    from tracking_export_aws.time_guard import TimeGuard

# A run may take the whole Lambda timeout (900 s); a second delivery inside the lease
# is a duplicate, one after it takes over a run that died.
LEASE_SECONDS = 960
DOWNLOAD_LINK_SECONDS = 7 * 24 * 3600
CONTENT_TYPES = {"CSV": "text/csv", "TSV": "text/tab-separated-values"}


class InvalidRequest(ValueError):
    """The event does not name a valid tenant and export; nothing can be run or notified."""


@dataclass(frozen=True)
class ExportRequest:
    """What to run: the scheduler payload, or an EventBridge scheduled event's ``detail``."""

    tenant_id: str
    export_guid: str
    scheduled_time: datetime | None = None
    run_at: datetime | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ExportRequest:
        if not isinstance(event, Mapping):
            raise InvalidRequest("the event must be a JSON object")
        payload: Mapping[str, Any] = event
        scheduled = event.get("scheduledTime")
        detail = event.get("detail")
        if isinstance(detail, Mapping) and "tenantId" not in event:
            payload = detail  # EventBridge scheduled event; its `time` is the scheduled time
            scheduled = detail.get("scheduledTime") or event.get("time")
        try:
            tenant = keys.validate_tenant_id(payload.get("tenantId"))
            guid = keys.validate_export_guid(payload.get("exportGuid"))
        except keys.InvalidKeyError as exc:
            raise InvalidRequest(str(exc)) from None
        return cls(
            tenant_id=tenant,
            export_guid=guid,
            scheduled_time=_optional_instant("scheduledTime", scheduled),
            run_at=_optional_instant("runAt", payload.get("runAt") or event.get("runAt")),
        )


def _optional_instant(name: str, value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    parsed = parse_instant(value)
    if parsed is None:
        raise InvalidRequest(f"{name} must be an ISO 8601 instant with an offset or Z, got {value!r}")
    return parsed


@dataclass
class ExportService:
    """Runs exports; every collaborator is injected (AWS adapters in Lambda, fakes in tests)."""

    config: ConfigStore
    ledger: RunLedger
    notifier: Notifier
    s3: Any
    export_bucket: str
    source_for: Callable[[str], TrackingSource]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    part_size: int = 8 * MIB
    # Routes runs above MAX_ROWS_PER_WORKER estimated rows to the state machine (distributed.py).
    router: Router | None = None
    # Set per invocation from the Lambda context: the single path stops cleanly before the timeout.
    time_guard: TimeGuard | None = None

    def run(self, request: ExportRequest) -> dict[str, Any]:
        """Run one delivery of a scheduled export; returns the notification message sent
        (``outcome`` succeeded/failed) or, for a duplicate delivery, a ``duplicate`` summary."""
        wall_start = self.clock()
        run_time = request.run_at or request.scheduled_time or wall_start
        run_key = request.scheduled_time or request.run_at or wall_start
        claim = self.ledger.claim(
            request.tenant_id, request.export_guid, run_key, wall_start, LEASE_SECONDS, run_start=run_time
        )
        base = {
            "tenantId": request.tenant_id,
            "exportGuid": request.export_guid,
            "scheduledTime": run_key.isoformat(),
            "runAt": run_time.isoformat(),
        }
        if not claim.claimed:
            existing = claim.existing
            return {
                **base,
                "outcome": "duplicate",
                "existingStatus": existing.status if existing else None,
                "objectKey": existing.object_key if existing else None,
            }
        started = time.monotonic()
        message: dict[str, Any] = {**base, "runNumber": claim.run_number, "attempt": claim.attempt}
        context = _RunContext()
        try:
            self._export(request, claim, run_time, message, context)
            if message.get("outcome") == "distributed":
                return message  # the state machine records and notifies this run
        except Exception as exc:  # every failure is recorded and notified, then reported
            message.update(
                outcome="failed",
                error=_reason(exc),
                durationMs=int((time.monotonic() - started) * 1000),
                window=context.window,
                objectKey=None,
            )
            self.ledger.record_failure(
                claim,
                finished_at=self.clock(),
                error=message["error"],
                duration_ms=message["durationMs"],
                window=context.window,
            )
            self.notifier.publish(message)
            return message
        message["durationMs"] = int((time.monotonic() - started) * 1000)
        self.ledger.record_success(
            claim,
            finished_at=self.clock(),
            window=message["window"],
            rows=message["rows"],
            bytes_written=message["bytes"],
            object_key=message["objectKey"],
            sha256=message["sha256"],
            duration_ms=message["durationMs"],
            skipped=message["skippedCount"],
            skipped_records=message["skipped"],
        )
        self.notifier.publish(message)
        return message

    def _export(
        self,
        request: ExportRequest,
        claim: Claim,
        run_time: datetime,
        message: dict[str, Any],
        context: _RunContext,
    ) -> None:
        tenant, guid = request.tenant_id, request.export_guid
        settings = self.config.tenant_settings(tenant)
        definition_xml = self.config.export_definition(tenant, guid)
        definition = checked_definition(definition_xml, guid)
        previous = (
            self.ledger.previous_success_start(tenant, guid) if definition.parameters.delta_mode else None
        )
        local_time = run_time.astimezone(settings.zone)
        file_name = render_file_name(
            definition.move_to_folder, definition.file_action, local_time, claim.run_number or 1, guid
        )
        key = object_key(tenant, definition.move_to_folder, file_name)
        tags = {"tenant": tenant, "export": guid, **clean_older_than_tag(definition.clean_older_than_days)}
        source = self.source_for(tenant)
        recipients = sorted({*settings.notification_emails, *definition.email_report.target_emails})
        try:
            if self.router is not None:
                route = self.router.route(
                    claim=claim,
                    source=source,
                    definition=definition,
                    definition_xml=definition_xml,
                    timezone=settings.timezone,
                    run_time=run_time,
                    previous_success_start=previous,
                    object_key=key,
                    content_type=_content_type(definition),
                    tags=tags,
                    recipients=recipients,
                    message=message,
                )
                message.update(route.as_dict(), shards=1)
                if route.path == "distributed":
                    message.update(outcome="distributed", shards=None, executionArn=route.execution_arn)
                    return
            with MultipartSink(
                self.s3,
                self.export_bucket,
                key,
                part_size=self.part_size,
                content_type=_content_type(definition),
                tags=tags,
            ) as sink:
                guard = self.time_guard
                report = run_export(
                    definition,
                    guard.source(source) if guard else source,
                    guard.out(sink) if guard else sink,
                    tenant_id=tenant,
                    timezone=settings.timezone,
                    now=run_time,
                    previous_success_start=previous,
                )
                context.window = report.window.as_dict()
                if report.rows == 0 and definition.move_to_folder.delete_empty_files:
                    sink.abort()
                    written_key, sha256, size = None, None, 0
                else:
                    _, sha256, size = sink.complete()
                    written_key = key
        finally:
            source.close()
        end_file_key = None
        if written_key is not None and definition.generate_end_file is not None:
            end_file_key = self._write_end_file(tenant, definition)
        message.update(
            outcome="succeeded",
            window=report.window.as_dict(),
            rows=report.rows,
            skippedCount=report.skipped_count,
            skipped=[s.as_dict() for s in report.skipped],
            bytes=size,
            bucket=self.export_bucket,
            objectKey=written_key,
            sha256=sha256,
            endFileKey=end_file_key,
            recipients=recipients,
        )
        if written_key is not None and definition.email_report.include_download_link:
            message["downloadUrl"] = self.s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.export_bucket, "Key": written_key},
                ExpiresIn=DOWNLOAD_LINK_SECONDS,
            )
            message["downloadUrlExpiresInSeconds"] = DOWNLOAD_LINK_SECONDS

    def _write_end_file(self, tenant: str, definition: ExportDefinition) -> str:
        end = definition.generate_end_file
        assert end is not None
        key = object_key(tenant, definition.move_to_folder, end.file_name)
        self.s3.put_object(Bucket=self.export_bucket, Key=key, Body=end.file_content.encode("utf-8"))
        return key


class _RunContext:
    """What a failed run had learnt before failing (for its record and notification)."""

    window: dict[str, Any] | None = None


def _content_type(definition: ExportDefinition) -> str:
    base = CONTENT_TYPES[definition.file_action.format]
    return "application/gzip" if definition.file_action.compression == "gzip" else base


def _reason(exc: BaseException) -> str:
    """A readable reason for the notification: the domain message, not a traceback."""
    if isinstance(exc, DefinitionError):
        return "invalid export definition:\n" + "\n".join(str(i) for i in exc.issues)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"
