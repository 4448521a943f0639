"""Erasure of one learner's personal data from a tenant (GDPR article 17); operators erase
through ``python -m tools.erase_learner``.

The learner's trackings are found through the ``ByLearner`` index (``gsi3pk`` on tracking
items), their logs through ``ByTracking``. Two modes, chosen by the tenant's
``keepAnonymousStatistics`` setting (tenant.json, default false):

- **delete**: the learner record, their trackings (with their ``Unlaunched`` index
  entries), their logs and their trackings' ``LOGGED#`` markers are deleted;
- **pseudonymise** (``keepAnonymousStatistics: true``): the learner record is replaced by
  an anonymous learner that keeps only ``entityId`` and ``timezone``; each tracking and log
  is re-keyed under fresh negative ids (no id the platform knows survives) and loses its
  GUIDs; times, progressions, scores and statuses stay, so aggregates stay right.

Fresh ids come from a random salt kept in an erasure item (``T#{tenant}#ERASURE#{learnerId}``)
while the erasure runs, so a run that crashed and is run again reuses the same ids (no
double statistics); the salt is deleted at the end, after which nothing links the anonymous
records to the learner. The per-day ``logCount`` of the days touched is recounted.

The report lists what was removed and the keys of the files already delivered in the
tenant's export prefix (every file older than the erasure may hold the learner: the table
keeps no date of a learner's first appearance). Deleting those is out of scope.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import (
    BATCH_GET_LIMIT,
    BATCH_WRITE_LIMIT,
    batch_get,
    batch_write,
    chunks,
    deserialize,
    query_pages,
    serialize,
    string_attributes,
)
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.ingest.loader import recount_days
from tracking_export_aws.notify.notifier import Notifier

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# Identifying fields a pseudonymised record loses (ids are replaced, not removed).
_TRACKING_IDENTIFIERS = ("guid", "registrationGuid")
_ANONYMOUS_LEARNER_FIELDS = ("entityId", "timezone")


class InvalidErasureRequest(ValueError):
    """The request does not name a valid tenant and an integer learner id."""


@dataclass(frozen=True)
class ErasureRequest:
    tenant_id: str
    learner_id: int

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> ErasureRequest:
        """``{"erase": {...}}`` or an EventBridge ``Learner Erasure Requested`` event's ``detail``."""
        body = event.get("erase") if isinstance(event.get("erase"), dict) else event.get("detail")
        if not isinstance(body, dict):
            raise InvalidErasureRequest("an erasure request carries tenantId and learnerId")
        tenant, learner = body.get("tenantId"), body.get("learnerId")
        try:
            keys.validate_tenant_id(tenant)
        except keys.InvalidKeyError as exc:
            raise InvalidErasureRequest(str(exc)) from None
        if not keys.is_int(learner):
            raise InvalidErasureRequest("learnerId must be an integer")
        assert isinstance(tenant, str) and isinstance(learner, int)
        return cls(tenant, learner)


def is_erasure_event(event: Mapping[str, Any]) -> bool:
    return "erase" in event or event.get("detail-type") == "Learner Erasure Requested"


@dataclass
class _Tally:
    """Items removed and anonymous copies written, by kind, while an erasure runs."""

    removed: dict[str, int] = field(default_factory=dict)
    pseudonymised: dict[str, int] = field(default_factory=dict)

    def count(self, table: dict[str, int], kind: str, n: int = 1) -> None:
        table[kind] = table.get(kind, 0) + n


class ErasureReport(BaseModel):
    """What an erasure did. :meth:`logged` is what a log line may carry: the delivered files'
    keys stay out (they name the tenant's exports, and the list may be long)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    tenant_id: str = Field(alias="tenantId")
    learner_id: int = Field(alias="learnerId")
    mode: Literal["deleted", "pseudonymised"]
    erased_at: str = Field(alias="erasedAt")
    learner_found: bool = Field(alias="learnerFound")
    removed: dict[str, int]  # items deleted, by kind
    pseudonymised: dict[str, int]  # anonymous copies written, by kind
    days_recounted: list[str] = Field(alias="daysRecounted")
    delivered_files: list[str] = Field(alias="deliveredFiles")
    delivered_files_note: str = Field(
        default="delivered files may hold the learner; deleting them is out of scope",
        alias="deliveredFilesNote",
    )

    def as_dict(self) -> dict[str, Any]:
        """The report as the handler returns it, the command line prints it and the
        ``learner-erased`` notification carries it."""
        return self.model_dump(by_alias=True)

    def logged(self) -> dict[str, Any]:
        """The fields a log line may carry."""
        return self.model_dump(by_alias=True, exclude={"delivered_files"})


class LearnerEraser:
    """Erases learners of the tracking table; lists the tenant's delivered export files."""

    def __init__(
        self,
        *,
        dynamodb: DynamoDBClient,
        table: str,
        s3: S3Client,
        export_bucket: str,
        config: ConfigStore,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.s3 = s3
        self.export_bucket = export_bucket
        self.config = config
        self.notifier = notifier
        self.clock = clock

    def erase(self, request: ErasureRequest) -> ErasureReport:
        """Erase (or pseudonymise) the learner; idempotent: a second run finds nothing left."""
        tenant, learner_id = request.tenant_id, request.learner_id
        keep = self.config.tenant_settings(tenant).keep_anonymous_statistics
        erased_at = datetime.fromtimestamp(self.clock(), UTC)
        tally = _Tally()
        state_key = string_attributes({"pk": f"T#{tenant}#ERASURE#{learner_id}", "sk": keys.RECORD_SK})
        salt = self._salt(state_key) if keep else ""
        learner_key = string_attributes(keys.catalogue_key(tenant, "learner", learner_id))
        learner = self._get(learner_key)
        days: set[str] = set()
        for tracking in self._trackings(tenant, learner_id):
            days |= self._erase_tracking(tenant, tracking, salt, tally)
        if keep and learner is not None:
            anonymous = {k: v for k, v in deserialize(learner).items() if k in _ANONYMOUS_LEARNER_FIELDS}
            anonymous.update(
                {"type": "learner", "tenantId": tenant, "learnerId": _pseudonym(salt, "learner", learner_id)}
            )
            self._put(
                serialize({**anonymous, **keys.catalogue_key(tenant, "learner", anonymous["learnerId"])})
            )
            tally.count(tally.pseudonymised, "learner")
        if learner is not None:
            self._delete([learner_key])
            tally.count(tally.removed, "learner")
        recount_days(self.dynamodb, self.table, tenant, sorted(days))
        report = ErasureReport(
            tenantId=tenant,
            learnerId=learner_id,
            mode="pseudonymised" if keep else "deleted",
            erasedAt=erased_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            learnerFound=learner is not None,
            removed=dict(sorted(tally.removed.items())),
            pseudonymised=dict(sorted(tally.pseudonymised.items())),
            daysRecounted=sorted(days),
            deliveredFiles=self._delivered_files(tenant, erased_at),
        )
        if keep:
            self._delete([state_key])
        if self.notifier is not None:
            self.notifier.publish({"outcome": "learner-erased", **report.as_dict()})
        return report

    # -- finding ----------------------------------------------------------------

    def _trackings(self, tenant: str, learner_id: int) -> list[dict[str, Any]]:
        """The learner's tracking items (whole), through the ByLearner index then the table."""
        pks = [
            item["pk"]
            for page in query_pages(
                self.dynamodb,
                TableName=self.table,
                IndexName=keys.BY_LEARNER_INDEX,
                KeyConditionExpression="gsi3pk = :pk",
                ExpressionAttributeValues={":pk": {"S": keys.by_learner_pk(tenant, learner_id)}},
            )
            for item in page
        ]
        found: list[dict[str, Any]] = []
        for batch in chunks([{"pk": pk, "sk": {"S": keys.RECORD_SK}} for pk in pks], BATCH_GET_LIMIT):
            found.extend(batch_get(self.dynamodb, self.table, batch, consistent=True))
        # The index is eventually consistent: keep only trackings that still name the learner.
        return [t for t in found if t.get("learnerId", {}).get("N") == str(learner_id)]

    def _logs(self, tenant: str, tracking_id: int) -> list[dict[str, Any]]:
        log_keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for page in query_pages(
                self.dynamodb,
                TableName=self.table,
                IndexName=keys.BY_TRACKING_INDEX,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": {"S": keys.by_tracking_pk(tenant, tracking_id)}},
            )
            for item in page
        ]
        found: list[dict[str, Any]] = []
        for batch in chunks(log_keys, BATCH_GET_LIMIT):
            found.extend(batch_get(self.dynamodb, self.table, batch, consistent=True))
        return found

    # -- erasing ----------------------------------------------------------------

    def _erase_tracking(self, tenant: str, tracking: dict[str, Any], salt: str, report: _Tally) -> set[str]:
        """Erase one tracking, its logs and marker; the UTC days whose logs changed."""
        tracking_id = int(tracking["trackingId"]["N"])
        logs = self._logs(tenant, tracking_id)
        marker_key = string_attributes(keys.logged_marker_key(tenant, tracking_id))
        has_marker = self._get(marker_key) is not None
        days = {item["pk"]["S"].split("#")[-2] for item in logs}
        if salt:
            new_tracking = _pseudonym(salt, "tracking", tracking_id)
            new_learner = _pseudonym(salt, "learner", int(tracking["learnerId"]["N"]))
            copies = [self._anonymous_log(tenant, log, salt, new_tracking) for log in logs]
            for batch in chunks(copies, BATCH_WRITE_LIMIT):
                batch_write(self.dynamodb, self.table, [{"PutRequest": {"Item": c}} for c in batch])
            record = {k: v for k, v in deserialize(tracking).items() if k not in _TRACKING_IDENTIFIERS}
            record.update({"trackingId": new_tracking, "learnerId": new_learner})
            item = {**record, **keys.catalogue_key(tenant, "tracking", new_tracking)}
            item.update(keys.by_learner_keys(tenant, new_tracking, new_learner))
            if "gsi2pk" in tracking:
                item.update(keys.unlaunched_keys(tenant, record))
            self._put(serialize(item))
            if has_marker:
                self._put(string_attributes(keys.logged_marker_key(tenant, new_tracking)))
            report.count(report.pseudonymised, "trackingLog", len(copies))
            report.count(report.pseudonymised, "tracking")
        old_keys = [{"pk": log["pk"], "sk": log["sk"]} for log in logs]
        self._delete(old_keys)
        report.count(report.removed, "trackingLog", len(old_keys))
        if has_marker:
            self._delete([marker_key])
            report.count(report.removed, "loggedMarker")
        # The tracking last: while it exists, a run that crashed finds its logs again.
        self._delete([{"pk": tracking["pk"], "sk": tracking["sk"]}])
        report.count(report.removed, "tracking")
        if "gsi2pk" in tracking:
            report.count(report.removed, "unlaunchedEntry")
        return days

    def _anonymous_log(
        self, tenant: str, log: dict[str, Any], salt: str, new_tracking: int
    ) -> dict[str, Any]:
        record = deserialize(log)
        new_log = _pseudonym(salt, "trackingLog", int(record["logId"]))
        record.update({"trackingId": new_tracking, "logId": new_log})
        started_at = keys.parse_instant_key(log["sk"]["S"].split("#")[0])
        return serialize({**record, **keys.log_keys(tenant, new_tracking, new_log, started_at)})

    # -- plumbing -----------------------------------------------------------------

    def _salt(self, state_key: dict[str, Any]) -> str:
        """The erasure's salt: kept while it runs, so a re-run derives the same fresh ids."""
        self.dynamodb.update_item(
            TableName=self.table,
            Key=state_key,
            UpdateExpression="SET salt = if_not_exists(salt, :salt)",
            ExpressionAttributeValues={":salt": {"S": secrets.token_hex(16)}},
        )
        item = self._get(state_key)
        assert item is not None
        return str(item["salt"]["S"])

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        return dict(item) if item is not None else None

    def _put(self, item: dict[str, Any]) -> None:
        self.dynamodb.put_item(TableName=self.table, Item=item)

    def _delete(self, item_keys: Iterable[dict[str, Any]]) -> None:
        for batch in chunks(item_keys, BATCH_WRITE_LIMIT):
            batch_write(self.dynamodb, self.table, [{"DeleteRequest": {"Key": k}} for k in batch])

    def _delivered_files(self, tenant: str, before: datetime) -> list[str]:
        found: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.export_bucket, Prefix=keys.tenant_prefix(tenant)
        ):
            found.extend(item["Key"] for item in page.get("Contents", []) if item["LastModified"] <= before)
        return sorted(found)


def _pseudonym(salt: str, kind: str, old_id: int) -> int:
    """A fresh negative id (platform ids are positive), derived from the erasure's salt."""
    digest = hashlib.sha256(f"{salt}#{kind}#{old_id}".encode()).digest()
    return -(int.from_bytes(digest[:6], "big") + 1)
