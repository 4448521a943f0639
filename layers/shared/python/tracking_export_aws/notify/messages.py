"""The notification message as a typed contract: one pydantic model per outcome the notifier
publishes, joined in :data:`Notification`, a union discriminated by ``outcome``.

The models describe what the services put in a message today (runs/service.py,
runs/steps.py, config/sync.py, ingest/service.py, ingest/erasure.py) plus what :func:`notifier.fit_message`
adds when it cuts a list (``{list}Omitted``). They forbid unknown fields: a producer that adds
a field without adding it here fails the Notifier's check (:func:`validate_notification`), which
is a programming error caught by tests/unit/test_messages.py, not a runtime condition.

The models check; they do not rewrite: the Notifier still publishes the producer's mapping, so
validating never changes a byte that subscribers receive.

The JSON Schemas in docs/schemas/ are generated from these models; regenerate them with
``python -m tools.schemas docs/schemas`` (a test compares them).

What a log line may carry is declared on the models, once: a field annotated with
:data:`LOGGED` may be logged, any other may not (download links, recipient addresses,
skipped records' keys). :func:`log_fields` reads a model through that declaration; the
marker changes neither validation nor the published schemas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SOURCE = "tracking-log-export"


class _LogMarker:
    """The type of :data:`LOGGED`."""

    def __repr__(self) -> str:
        return "LOGGED"


# ``name: Annotated[T, LOGGED]``: a log line may carry this field (pydantic keeps the marker in
# the field's metadata and otherwise ignores it).
LOGGED = _LogMarker()


def log_fields(model: BaseModel) -> dict[str, Any]:
    """The fields of ``model`` a log line may carry (annotated LOGGED) that it has, as JSON values."""
    marked = {name for name, info in type(model).model_fields.items() if LOGGED in info.metadata}
    return model.model_dump(mode="json", by_alias=True, include=marked & model.model_fields_set)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Window(_Strict):
    """The export window of a run (tracking_export.report.Window.as_dict); ISO dates and times."""

    kind: str
    firstDay: str | None
    lastDay: str | None
    start: str | None
    end: str | None


class SkippedRecord(_Strict):
    """A record the run left out of the file (tracking_export.report.SkippedRecord.as_dict)."""

    kind: str = Field(description='record type, or "line" for an unreadable dataset line')
    key: Any = Field(description="the record's id(s) or the line number")
    reason: str


class _Run(_Strict):
    """What every run outcome carries: which run of which export, and how it went."""

    tenantId: str = Field(min_length=1)
    exportGuid: str = Field(min_length=1)
    scheduledTime: str = Field(description="the run's key (ISO 8601): its scheduled time or runAt")
    runAt: str = Field(description="the run time the window is computed from (ISO 8601)")
    runNumber: Annotated[int | None, LOGGED] = None
    attempt: Annotated[int | None, LOGGED] = None
    replayId: Annotated[str | None, LOGGED] = Field(
        default=None,
        description="an operator's replay of scheduledTime (tracking-export-admin replay): its own run, "
        "beside the scheduled one; absent for a scheduled run",
    )
    durationMs: Annotated[int, LOGGED] = Field(ge=0)
    window: Annotated[Window | None, LOGGED] = None
    path: Annotated[Literal["single", "distributed"] | None, LOGGED] = None
    estimatedRows: Annotated[int | None, LOGGED] = None
    shards: Annotated[int | None, LOGGED] = None
    recipients: list[str] = Field(default_factory=list, description="e-mail addresses the run reports to")
    recipientsOmitted: int | None = None


class RunSucceeded(_Run):
    """``succeeded``: the file (or none, when empty files are deleted) is in the export bucket."""

    outcome: Annotated[Literal["succeeded"], LOGGED]
    rows: Annotated[int, LOGGED] = Field(ge=0)
    skippedCount: Annotated[int, LOGGED] = Field(ge=0)
    skipped: list[SkippedRecord]
    skippedOmitted: int | None = None
    bytes: Annotated[int, LOGGED] = Field(ge=0)
    bucket: str
    objectKey: Annotated[str | None, LOGGED]
    sha256: Annotated[str | None, LOGGED]
    endFileKey: Annotated[str | None, LOGGED] = None
    requestedObjectKey: Annotated[str | None, LOGGED] = Field(
        default=None, description="the name the definition asked for, when another object holds it"
    )
    adoptedObject: Annotated[bool | None, LOGGED] = None
    downloadUrl: str | None = None
    downloadUrlOmitted: str | None = None
    downloadUrlExpiresInSeconds: int | None = None
    downloadUrlExpiresAt: str | None = None


class RunFailed(_Run):
    """``failed``: no file was delivered; the window does not move."""

    outcome: Annotated[Literal["failed"], LOGGED]
    error: Annotated[str, LOGGED]
    objectKey: Annotated[None, LOGGED] = None


class ConfigInvalid(_Strict):
    """``config-invalid``: a new version of tenant.json or a definition was refused."""

    outcome: Literal["config-invalid"]
    tenantId: str = Field(min_length=1)
    exportGuid: str | None = None
    configKey: str
    errorCount: int = Field(ge=0)
    errors: list[str]
    errorsOmitted: int | None = None
    error: str
    recipients: list[str] = Field(default_factory=list)
    recipientsOmitted: int | None = None


class RejectedLine(_Strict):
    """A dataset line the loader did not write: where, which field, which rule (never the value)."""

    line: int
    type: str | None
    field: str | None
    rule: str


class _Ingested(_Strict):
    tenantId: str = Field(min_length=1)
    objectKey: str
    etag: str
    movedTo: str
    written: dict[str, int]
    writtenTotal: int = Field(ge=0)
    notNewer: dict[str, int]
    rejectedCount: int = Field(ge=0)
    rejected: list[RejectedLine]
    daysRecounted: int = Field(ge=0)
    invocations: int = Field(ge=0)
    reason: str | None = Field(default=None, description="why the object was refused as a whole")
    duplicateOf: str | None = None


class Ingested(_Ingested):
    """``ingested``: every line of the tracking file was loaded."""

    outcome: Literal["ingested"]


class IngestRejected(_Ingested):
    """``ingest-rejected``: the file was loaded with rejected lines, or refused as a whole."""

    outcome: Literal["ingest-rejected"]


class IngestFailed(_Strict):
    """``ingest-failed``: the file could not be loaded (an AWS failure that outlasted Lambda's retries,
    or one no retry would cure); it stays in incoming/ and its event waits to be re-driven."""

    outcome: Literal["ingest-failed"]
    tenantId: str = Field(min_length=1)
    objectKey: str
    etag: str
    offset: int = Field(ge=0)
    reason: str
    retry: str


class LearnerErased(_Strict):
    """``learner-erased``: a learner's tracking data was deleted or pseudonymised."""

    outcome: Literal["learner-erased"]
    tenantId: str = Field(min_length=1)
    learnerId: int
    mode: Literal["deleted", "pseudonymised"]
    erasedAt: str
    learnerFound: bool
    removed: dict[str, int]
    pseudonymised: dict[str, int]
    daysRecounted: list[str]
    deliveredFiles: list[str]
    deliveredFilesNote: str


Notification = Annotated[
    RunSucceeded | RunFailed | ConfigInvalid | Ingested | IngestRejected | IngestFailed | LearnerErased,
    Field(discriminator="outcome"),
]
NOTIFICATION: TypeAdapter[Any] = TypeAdapter(Notification)


class InvalidNotification(ValueError):
    """A message does not fit its outcome's model: a producer is out of step with messages.py."""


def validate_notification(message: Mapping[str, Any]) -> BaseModel:
    """The message as its outcome's model; InvalidNotification names every field at fault."""
    try:
        model: BaseModel = NOTIFICATION.validate_python(dict(message))
    except ValidationError as exc:
        outcome = message.get("outcome")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(message)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise InvalidNotification(
            f"notification (outcome {outcome!r}) does not fit its model: {problems}"
        ) from None
    return model


class EventBridgeEvent(_Strict):
    """The event on the bus, as a rule's target receives it (EventBridge's envelope)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    # EventBridge sets the envelope's own fields; only source, detail-type and detail are this
    # service's contract, so the others are described but not required.
    version: str | None = None
    id: str | None = None
    detail_type: str = Field(alias="detail-type", description="notifier.DETAIL_TYPES[outcome]")
    source: Literal["tracking-log-export"]
    account: str | None = None
    time: str | None = None
    region: str | None = None
    resources: list[str] | None = None
    detail: Notification = Field(
        description="the notification; downloadUrl and recipients only with "
        "EVENTS_INCLUDE_LINKS_AND_RECIPIENTS"
    )


def schemas() -> dict[str, dict[str, Any]]:
    """The published JSON Schemas by file name (docs/schemas/)."""
    notification = NOTIFICATION.json_schema()
    notification = {"title": "Notification", **notification}
    event = EventBridgeEvent.model_json_schema(by_alias=True)
    return {"notification.schema.json": notification, "eventbridge-event.schema.json": event}


def render(schema: dict[str, Any]) -> str:
    """A schema as the file holds it: sorted keys, two-space indent, a final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
