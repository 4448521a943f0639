"""S3 object events, read one way for every function (config-sync, the ingest function).

Two shapes arrive, and AWS documents their keys differently:

- an S3 event notification (``{"Records": [...]}``, ``eventName`` ``ObjectCreated:*`` or
  ``ObjectRemoved:*``…): "the object key name value is URL encoded", form-encoded ("red
  flower.jpg" becomes "red+flower.jpg"), so the key is ``unquote_plus``'d;
- an EventBridge S3 event (``source`` ``aws.s3``, ``detail-type`` ``Object Created`` or
  ``Object Deleted``): its ``detail.object.key`` is documented as the key, with no encoding,
  so it is taken as it is (a '+' or '%' in it is the key's own). Powertools' data class
  ``S3EventBridgeNotificationObject`` URL-decodes it, which would corrupt such keys: it is
  not used (docs/decisions.md, "S3 event keys").

Each record is read through a pydantic model asking only for the fields used (Powertools'
S3 models also require the request and identity fields, which S3 test events and
hand-written events lack). A record that cannot be used becomes an :class:`IgnoredRecord`
with its reason, never an exception, so one bad record neither hides the others nor
crashes the function.
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
class S3ObjectEvent:
    """One object event: the bucket, the key (decoded), whether the object went away, and its
    ETag when the event gives it."""

    bucket: str
    key: str
    removed: bool = False
    etag: str | None = None


@dataclass(frozen=True)
class IgnoredRecord:
    """A record of the event that names no usable object event, and why."""

    record: int | None  # its index in ``Records``; None for the event as a whole
    reason: str


class _Bucket(BaseModel):
    name: StrictStr = Field(max_length=255)


class _Object(BaseModel):
    key: StrictStr = Field(max_length=MAX_ENCODED_KEY)
    etag: StrictStr | None = Field(default=None, max_length=128)


class _RecordObject(_Object):
    etag: StrictStr | None = Field(default=None, alias="eTag", max_length=128)


class _Entity(BaseModel):
    bucket: _Bucket
    object: _Object


class _RecordEntity(BaseModel):
    bucket: _Bucket
    object: _RecordObject


class _Record(BaseModel):
    """One S3 event notification record (the fields read)."""

    model_config = ConfigDict(extra="ignore")

    event_name: StrictStr = Field(alias="eventName", max_length=128)
    s3: _RecordEntity


class _EventBridgeEvent(BaseModel):
    """An EventBridge S3 event: ``detail`` holds the bucket and the object."""

    model_config = ConfigDict(extra="ignore")

    detail_type: StrictStr = Field(alias="detail-type", max_length=128)
    detail: _Entity


def read_s3_event(event: Any) -> list[S3ObjectEvent | IgnoredRecord]:
    """Every record of ``event`` in order: an object event, or the reason it is ignored."""
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


def _record(index: int, raw: Any) -> S3ObjectEvent | IgnoredRecord:
    try:
        record = _Record.model_validate(raw)
    except ValidationError as exc:
        return IgnoredRecord(index, problems(exc))
    name = record.event_name
    if not name.startswith(_CREATED + _REMOVED):
        return IgnoredRecord(index, f"eventName {shown(name)} is neither an object creation nor a removal")
    entity = record.s3
    key = unquote_plus(entity.object.key)
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return IgnoredRecord(index, f"s3.object.key: must be 1..{MAX_KEY_BYTES} bytes once URL-decoded")
    return S3ObjectEvent(entity.bucket.name, key, name.startswith(_REMOVED), entity.object.etag)


def _eventbridge(event: Mapping[str, Any]) -> S3ObjectEvent | IgnoredRecord:
    try:
        parsed = _EventBridgeEvent.model_validate(event)
    except ValidationError as exc:
        return IgnoredRecord(None, problems(exc))
    if parsed.detail_type not in ("Object Created", "Object Deleted"):
        return IgnoredRecord(
            None, f"detail-type {shown(parsed.detail_type)} is neither Object Created nor Object Deleted"
        )
    detail = parsed.detail
    key = detail.object.key
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return IgnoredRecord(None, f"detail.object.key: must be 1..{MAX_KEY_BYTES} bytes")
    return S3ObjectEvent(detail.bucket.name, key, parsed.detail_type == "Object Deleted", detail.object.etag)


def problems(exc: ValidationError, prefix: str = "") -> str:
    """The model's errors as ``field: rule``; the values themselves are not quoted."""
    found = []
    for error in exc.errors():
        where = ".".join([prefix, *map(str, error["loc"])] if prefix else map(str, error["loc"]))
        where = where or "the record"
        if error["type"] == "missing":
            rule = "is required"
        elif error["type"] in ("model_type", "model_attributes_type", "dict_type"):
            rule = "must be a JSON object"
        else:
            rule = error["msg"]
        found.append(f"{where}: {rule}")
    return "; ".join(found)
