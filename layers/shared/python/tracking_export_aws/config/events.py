"""Config-sync's input: S3 object events of the config bucket, as typed changes.

Two shapes arrive: an S3 event notification (``{"Records": [...]}``, keys URL-encoded) and
an EventBridge S3 event (``source`` ``aws.s3``, ``detail-type`` ``Object Created`` or
``Object Deleted``). Each record is read through a pydantic model that asks only for the
fields config-sync uses (Powertools' S3 models also require the request and identity
fields, which S3 test events and hand-written events lack). A record that cannot be
used becomes an :class:`IgnoredRecord` with its reason — never an exception — so one bad
record neither hides the others nor crashes the function.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from tracking_export.limits import shown

# S3 keys are at most 1024 bytes; URL-encoded they may be three times as long.
MAX_ENCODED_KEY = 3 * 1024
MAX_KEY_BYTES = 1024
_CREATED = ("ObjectCreated:",)
_REMOVED = ("ObjectRemoved:", "LifecycleExpiration:")


@dataclass(frozen=True)
class ConfigChange:
    """One object event of the config bucket."""

    bucket: str
    key: str
    removed: bool


@dataclass(frozen=True)
class IgnoredRecord:
    """A record of the event that names no usable change, and why."""

    record: int | None  # its index in ``Records``; None for the event as a whole
    reason: str


class _Bucket(BaseModel):
    name: StrictStr = Field(max_length=255)


class _Object(BaseModel):
    key: StrictStr = Field(max_length=MAX_ENCODED_KEY)


class _Entity(BaseModel):
    bucket: _Bucket
    object: _Object


class _Record(BaseModel):
    """One S3 event notification record (the fields config-sync reads)."""

    model_config = ConfigDict(extra="ignore")

    event_name: StrictStr = Field(alias="eventName", max_length=128)
    s3: _Entity


class _EventBridgeEvent(BaseModel):
    """An EventBridge S3 event: ``detail`` holds the bucket and the object."""

    model_config = ConfigDict(extra="ignore")

    detail_type: StrictStr = Field(alias="detail-type", max_length=128)
    detail: _Entity


def read_config_event(event: Any) -> list[ConfigChange | IgnoredRecord]:
    """Every record of ``event`` in order: a change, or the reason it is ignored."""
    if not isinstance(event, Mapping):
        return [IgnoredRecord(None, "the event is not a JSON object")]
    if "Records" in event:
        records = event["Records"]
        if not isinstance(records, list):
            return [IgnoredRecord(None, "Records: must be a list of S3 event records")]
        return [_record(index, record) for index, record in enumerate(records)]
    if event.get("source") == "aws.s3":
        return [_eventbridge(event)]
    return [IgnoredRecord(None, "neither an S3 event notification (Records) nor an EventBridge S3 event")]


def _record(index: int, raw: Any) -> ConfigChange | IgnoredRecord:
    try:
        record = _Record.model_validate(raw)
    except ValidationError as exc:
        return IgnoredRecord(index, _problems(exc))
    name = record.event_name
    if not name.startswith(_CREATED + _REMOVED):
        return IgnoredRecord(index, f"eventName {shown(name)} is neither an object creation nor a removal")
    return _change(index, record.s3, removed=name.startswith(_REMOVED))


def _eventbridge(event: Mapping[str, Any]) -> ConfigChange | IgnoredRecord:
    try:
        parsed = _EventBridgeEvent.model_validate(event)
    except ValidationError as exc:
        return IgnoredRecord(None, _problems(exc))
    if parsed.detail_type not in ("Object Created", "Object Deleted"):
        return IgnoredRecord(
            None, f"detail-type {shown(parsed.detail_type)} is neither Object Created nor Object Deleted"
        )
    return _change(None, parsed.detail, removed=parsed.detail_type == "Object Deleted")


def _change(index: int | None, entity: _Entity, *, removed: bool) -> ConfigChange | IgnoredRecord:
    # Both shapes URL-encode keys (a space arrives as '+'); a config key has neither.
    key = unquote_plus(entity.object.key)
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return IgnoredRecord(index, f"s3.object.key: must be 1..{MAX_KEY_BYTES} bytes once URL-decoded")
    return ConfigChange(bucket=entity.bucket.name, key=key, removed=removed)


def _problems(exc: ValidationError) -> str:
    """The model's errors as ``field: rule``; the values themselves are not quoted."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "the record"
        if error["type"] == "missing":
            rule = "is required"
        elif error["type"] in ("model_type", "model_attributes_type", "dict_type"):
            rule = "must be a JSON object"
        else:
            rule = error["msg"]
        problems.append(f"{where}: {rule}")
    return "; ".join(problems)
