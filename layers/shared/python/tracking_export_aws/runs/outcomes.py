"""What a run produces and how a delivery ends, as frozen models.

- :class:`ExportedFile`: the file a run produced, the same value on both paths (the single
  path's multipart upload, the distributed path's assembled shards). It is the assemble
  step's output and the finish step's input.
- A delivery of the export function ends in one :data:`RunOutcome`: the run's notification
  (``notify.messages.RunSucceeded`` / ``RunFailed``: the message the tenant receives), or
  :class:`RunDuplicate` (the run was done or in progress), or :class:`RunHandedOff` (the run
  went on in a Step Functions execution, which finishes it), or :class:`RunPaused` (an
  operator paused the export: the scheduled run was not started).

Handlers turn these into JSON at their edge; a log line carries only the fields marked
``LOGGED`` (``notify.messages.log_fields``): never a link nor a recipient address.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from tracking_export.report import SkippedRecord as EngineSkippedRecord
from tracking_export_aws.aws.s3_sink import StoredObject
from tracking_export_aws.notify.messages import LOGGED, RunFailed, RunSucceeded, SkippedRecord, Window

__all__ = [
    "ExportedFile",
    "RunDuplicate",
    "RunFailed",
    "RunHandedOff",
    "RunOutcome",
    "RunPaused",
    "RunSucceeded",
]


# The file's fields in JSON are the notification's names for them.
_FILE_NAMES = {"key": "objectKey", "size": "bytes", "adopted": "adoptedObject"}


class ExportedFile(BaseModel):
    """The file of one run: where it is (None when an empty file is not kept), what S3 holds
    (size, SHA-256), its rows, what was skipped (the count, and the first records of it),
    whether the run adopted its own earlier object, and how many shards rendered it."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        alias_generator=lambda name: _FILE_NAMES.get(name, to_camel(name)),
    )

    key: Annotated[str | None, LOGGED]
    size: Annotated[int, LOGGED] = Field(ge=0)
    sha256: Annotated[str | None, LOGGED]
    rows: Annotated[int, LOGGED] = Field(ge=0)
    skipped_count: Annotated[int, LOGGED] = Field(ge=0)
    skipped: tuple[SkippedRecord, ...] = ()
    adopted: Annotated[bool, LOGGED] = False
    shards: Annotated[int, LOGGED] = Field(ge=1)

    @classmethod
    def stored(
        cls,
        stored: StoredObject | None,
        *,
        rows: int,
        skipped_count: int,
        skipped: Iterable[EngineSkippedRecord | SkippedRecord],
        shards: int,
    ) -> ExportedFile:
        """The file S3 holds (``stored``; None: no object was kept)."""
        return cls(
            key=stored.key if stored else None,
            size=stored.size if stored else 0,
            sha256=stored.sha256 if stored else None,
            rows=rows,
            skipped_count=skipped_count,
            skipped=skipped_records(skipped),
            adopted=bool(stored and stored.adopted),
            shards=shards,
        )


def skipped_records(records: Iterable[EngineSkippedRecord | SkippedRecord]) -> tuple[SkippedRecord, ...]:
    """The engine's skipped records as the notification lists them."""
    return tuple(
        r if isinstance(r, SkippedRecord) else SkippedRecord.model_validate(r.as_dict()) for r in records
    )


class _Delivery(BaseModel):
    """Which run a delivery was for (the request's fields, as the notification names them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenantId: str
    exportGuid: str
    scheduledTime: str
    runAt: str


class RunDuplicate(_Delivery):
    """``duplicate``: the run was already finished, or is held by another delivery or an execution.
    A finished run's channels still owed were delivered now (``redelivered``)."""

    outcome: Annotated[Literal["duplicate"], LOGGED]
    existingStatus: Annotated[str | None, LOGGED]
    objectKey: Annotated[str | None, LOGGED]
    redelivered: Annotated[list[str], LOGGED] = Field(default_factory=list)


class RunHandedOff(_Delivery):
    """``distributed``: the run goes on in a Step Functions execution, which records and
    notifies its outcome; nothing is notified yet."""

    outcome: Annotated[Literal["distributed"], LOGGED]
    runNumber: Annotated[int, LOGGED]
    attempt: Annotated[int, LOGGED]
    window: Annotated[Window, LOGGED]
    path: Annotated[Literal["distributed"], LOGGED]
    estimatedRows: Annotated[int | None, LOGGED]
    executionArn: Annotated[str, LOGGED]


class RunPaused(_Delivery):
    """``paused``: a scheduled delivery of an export an operator paused (or whose tenant is
    paused) and whose run had not started: nothing is recorded, written or notified (a replay,
    with ``runAt``, runs regardless; docs/run-lifecycle.md)."""

    outcome: Annotated[Literal["paused"], LOGGED]
    pauseScope: Annotated[Literal["tenant", "export"], LOGGED]
    pausedAt: Annotated[str, LOGGED]
    objectKey: Annotated[None, LOGGED] = None


RunOutcome = RunSucceeded | RunFailed | RunDuplicate | RunHandedOff | RunPaused
