"""Keys of the tracking and run-history tables (docs/table-design.md), and the ids that go into them.

Every piece of a key is validated before it is joined with ``#``, so a tenant id or an
export guid can never forge another tenant's key.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

LOG_SHARDS = 4
RECORD_SK = "R"
STATE_SK = "STATE"
RUN_SK_PREFIX = "RUN#"
# An operator's pause of one export (on the export's pk) or of a whole tenant (on tenant_pk),
# and the last pause that was lifted (docs/table-design.md).
PAUSE_SK = "PAUSE"
RESUMED_SK = "RESUMED"
BY_TRACKING_INDEX = "ByTracking"
UNLAUNCHED_INDEX = "Unlaunched"
BY_LEARNER_INDEX = "ByLearner"
# Attributes the table design adds to a record; a record may not carry them itself.
KEY_ATTRIBUTES = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"})
# The DynamoDB TTL attribute of a log (epoch seconds), set from the tenant's retentionDays.
EXPIRES_AT = "expiresAt"

TENANT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
# An export guid is a path piece of the config and export keys and part of a schedule name,
# so it keeps to the characters those allow.
EXPORT_GUID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_GUID_LENGTH = 40  # record GUIDs (data-contract.md)


class InvalidKeyError(ValueError):
    """A tenant id, export guid or record id that cannot be put in a key."""


def validate_tenant_id(tenant_id: Any) -> str:
    """The tenant id, if it matches ``^[a-z0-9][a-z0-9-]{1,62}$``."""
    if not isinstance(tenant_id, str) or not TENANT_ID_RE.fullmatch(tenant_id):
        raise InvalidKeyError(f"invalid tenant id {tenant_id!r}: expected ^[a-z0-9][a-z0-9-]{{1,62}}$")
    return tenant_id


def validate_export_guid(export_guid: Any) -> str:
    """The export guid, if it is 1–64 characters of A-Z a-z 0-9 . _ - not starting with . _ or -."""
    if not isinstance(export_guid, str) or not EXPORT_GUID_RE.fullmatch(export_guid):
        raise InvalidKeyError(
            f"invalid export guid {export_guid!r}: expected 1-64 characters A-Z a-z 0-9 . _ - "
            "starting with a letter or digit"
        )
    return export_guid


def is_int(value: Any) -> bool:
    """An integer id as JSON gives it (``bool`` is not one)."""
    return type(value) is int


def is_guid(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_GUID_LENGTH


# -- instants and days ------------------------------------------------------


def as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"naive datetime {instant!r}: an instant needs a time zone")
    return instant.astimezone(UTC)


def instant_key(instant: datetime) -> str:
    """``2020-02-10T09:30:00.000000Z``: fixed width, so string order is time order."""
    return as_utc(instant).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_instant_key(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def utc_day(instant: datetime) -> str:
    """The UTC date of an instant, ``YYYY-MM-DD``."""
    return as_utc(instant).date().isoformat()


def utc_days(start: datetime, end: datetime) -> list[str]:
    """The UTC days the range ``[start, end)`` touches, in order; empty when it is empty."""
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return []
    first = start.date()
    last = (end - timedelta(microseconds=1)).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def day_start(day: str) -> datetime:
    """Midnight UTC at the start of ``YYYY-MM-DD``."""
    parsed = date.fromisoformat(day)
    return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)


# -- tracking table ---------------------------------------------------------


def _prefix(tenant_id: str) -> str:
    return f"T#{validate_tenant_id(tenant_id)}#"


def tenant_key_prefix(tenant_id: str) -> str:
    """``T#{tenant}#``: how every key of the tenant starts, in both tables, and no other
    tenant's: the closing ``#`` keeps ``T#acme#`` from matching ``T#acme-2#``."""
    return _prefix(tenant_id)


def catalogue_key(tenant_id: str, kind: str, key: Any) -> dict[str, str]:
    """``pk``/``sk`` of a catalogue record; ``key`` as in ``tracking_export.source.CATALOGUE_KEYS``.

    Raises InvalidKeyError when the id has the wrong type (an int id that is not an int,
    a GUID that is not a non-empty string of at most 40 characters).
    """
    return {"pk": catalogue_pk(tenant_id, kind, key), "sk": RECORD_SK}


def catalogue_pk(tenant_id: str, kind: str, key: Any) -> str:
    prefix = _prefix(tenant_id)
    if kind == "trainingContent":
        if not isinstance(key, (tuple, list)) or len(key) != 2:
            raise InvalidKeyError(
                f"trainingContent key must be (trainingId, learningObjectGuid), got {key!r}"
            )
        training_id, lo_guid = key
        if not is_int(training_id):
            raise InvalidKeyError(f"trainingId must be an integer, got {training_id!r}")
        if not is_guid(lo_guid):
            raise InvalidKeyError(f"learningObjectGuid must be a GUID string, got {lo_guid!r}")
        return f"{prefix}trainingContent#{training_id}#{lo_guid}"
    if kind == "content":
        if not is_guid(key):
            raise InvalidKeyError(f"contentGuid must be a GUID string, got {key!r}")
        return f"{prefix}content#{key}"
    if kind in ("learner", "entity", "smartgroup", "training", "session", "tracking"):
        if not is_int(key):
            raise InvalidKeyError(f"{kind} id must be an integer, got {key!r}")
        return f"{prefix}{kind}#{key}"
    raise InvalidKeyError(f"unknown catalogue kind {kind!r}")


def log_shard(log_id: int) -> int:
    return log_id % LOG_SHARDS


def log_pk(tenant_id: str, day: str, shard: int) -> str:
    return f"{_prefix(tenant_id)}L#{day}#{shard}"


def log_sk(started_at: datetime, log_id: int) -> str:
    """``{startedAt UTC, microseconds}#{logId:020d}``."""
    return f"{instant_key(started_at)}#{log_id:020d}"


def log_sk_bounds(start: datetime, end: datetime) -> tuple[str, str]:
    """Inclusive ``BETWEEN`` bounds selecting the sort keys with ``start <= startedAt < end``."""
    last = as_utc(end) - timedelta(microseconds=1)
    # "#" sorts before every digit and "~" after them, whatever the log id's width.
    return f"{instant_key(start)}#", f"{instant_key(last)}#~"


def days_pk(tenant_id: str) -> str:
    return f"{_prefix(tenant_id)}DAYS"


def by_tracking_pk(tenant_id: str, tracking_id: int) -> str:
    return f"{_prefix(tenant_id)}TRK#{tracking_id}"


def log_keys(tenant_id: str, tracking_id: int, log_id: int, started_at: datetime) -> dict[str, str]:
    """Every key attribute of a trackingLog item (table and ByTracking index)."""
    sk = log_sk(started_at, log_id)
    return {
        "pk": log_pk(tenant_id, utc_day(started_at), log_shard(log_id)),
        "sk": sk,
        "gsi1pk": by_tracking_pk(tenant_id, tracking_id),
        "gsi1sk": sk,
    }


def logged_marker_key(tenant_id: str, tracking_id: int) -> dict[str, str]:
    """Key of the marker item saying "this tracking has at least one log" (written by the loader)."""
    return {"pk": f"{_prefix(tenant_id)}LOGGED#{tracking_id}", "sk": RECORD_SK}


def by_learner_pk(tenant_id: str, learner_id: int) -> str:
    return f"{_prefix(tenant_id)}LRN#{learner_id}"


def by_learner_keys(tenant_id: str, tracking_id: int, learner_id: int) -> dict[str, str]:
    """``gsi3pk``/``gsi3sk`` of a tracking: the ``ByLearner`` index that erasure queries."""
    return {"gsi3pk": by_learner_pk(tenant_id, learner_id), "gsi3sk": f"{tracking_id:020d}"}


def ingest_progress_pk(tenant_id: str) -> str:
    """The partition of the tenant's ingestion progress items."""
    return f"{_prefix(tenant_id)}INGEST"


def ingest_progress_key(tenant_id: str, etag: str) -> dict[str, str]:
    """Key of the progress item of one ingested object, named by its ETag (its content)."""
    unquoted = etag.strip('"')
    return {"pk": ingest_progress_pk(tenant_id), "sk": f"E#{unquoted}"}


def unlaunched_pk(tenant_id: str, shard: int) -> str:
    return f"{_prefix(tenant_id)}UNL#{shard}"


def unlaunched_keys(tenant_id: str, tracking: dict[str, Any]) -> dict[str, str]:
    """``gsi2pk``/``gsi2sk`` of a tracking that has no log.

    The sort key orders by learner, session and content; a tracking whose ids are
    invalid still gets one (with the raw values) so that the engine sees and reports it.
    """
    tracking_id = tracking["trackingId"]

    def padded(value: Any) -> str:
        return f"{value:012d}" if is_int(value) and value >= 0 else f"~{value}"

    learner, session = padded(tracking.get("learnerId")), padded(tracking.get("sessionId"))
    sk = f"{learner}#{session}#{tracking.get('contentGuid')}"
    return {"gsi2pk": unlaunched_pk(tenant_id, tracking_id % LOG_SHARDS), "gsi2sk": sk}


# -- run-history table ------------------------------------------------------


def export_pk(tenant_id: str, export_guid: str) -> str:
    return f"{_prefix(tenant_id)}E#{validate_export_guid(export_guid)}"


def run_sk(scheduled_time: datetime) -> str:
    return f"{RUN_SK_PREFIX}{instant_key(scheduled_time)}"


def tenant_pk(tenant_id: str) -> str:
    """The tenant's own items of the run-history table (its pause); no export guid contains ``#``,
    so no export's pk is this one."""
    return f"{_prefix(tenant_id)}TENANT"


def pause_key(tenant_id: str, export_guid: str | None = None) -> dict[str, str]:
    """``pk``/``sk`` of the pause of one export, or of the whole tenant when ``export_guid`` is None."""
    pk = tenant_pk(tenant_id) if export_guid is None else export_pk(tenant_id, export_guid)
    return {"pk": pk, "sk": PAUSE_SK}


def resumed_key(tenant_id: str, export_guid: str | None = None) -> dict[str, str]:
    """``pk``/``sk`` of the last lifted pause of one export, or of the whole tenant."""
    return {**pause_key(tenant_id, export_guid), "sk": RESUMED_SK}


# -- config and export buckets ----------------------------------------------


def tenant_prefix(tenant_id: str) -> str:
    """The tenant's area in the config and export buckets."""
    return f"tenants/{validate_tenant_id(tenant_id)}/"


def tenant_settings_key(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}tenant.json"


def export_config_key(tenant_id: str, export_guid: str) -> str:
    return f"{tenant_prefix(tenant_id)}exports/{validate_export_guid(export_guid)}.xml"
