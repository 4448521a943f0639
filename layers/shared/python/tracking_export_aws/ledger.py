"""Run history of an export (docs/table-design.md, run-history table).

A scheduled run is claimed before any work: a conditional ``PutItem`` on its ``RUN#{scheduledTime}``
item succeeds when the item is absent, ``failed``, or ``running`` with an expired lease. A
duplicate delivery (the run succeeded, or is running within its lease) gets the existing
record back and does nothing. The delta window (``STATE.lastSuccessStart``) moves only when
a run is recorded as succeeded, and never backwards.

A retried run (after a failure or an expired lease) keeps the run number it was first given,
so the retry writes the file the first attempt would have written.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tracking_export_aws import keys
from tracking_export_aws.dynamo import deserialize, query_pages, serialize

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
# How many skipped records a run record lists (the count is always exact): an item holds 400 KB.
MAX_RECORDED_SKIPS = 100
MAX_ERROR_LENGTH = 4000
_CLAIMABLE = "attribute_not_exists(pk) OR #s = :failed OR (#s = :running AND leaseUntil < :now)"


class LeaseLostError(RuntimeError):
    """The run's claim is no longer ours: another delivery took it over after the lease expired."""


def _epoch(instant: datetime) -> int:
    return math.ceil(keys.as_utc(instant).timestamp())


def _instant(value: Any) -> datetime | None:
    return keys.parse_instant_key(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class RunRecord:
    """One ``RUN#`` item."""

    scheduled_time: datetime
    status: str
    run_number: int | None = None
    attempt: int = 1
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_until: int | None = None  # epoch seconds
    window: dict[str, Any] | None = None
    rows: int | None = None
    bytes_written: int | None = None
    object_key: str | None = None
    sha256: str | None = None
    duration_ms: int | None = None
    skipped: int | None = None
    skipped_records: list[dict[str, Any]] | None = None
    error: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RunRecord:
        plain = deserialize(item, keep_keys=True)
        scheduled = _instant(plain.get("scheduledTime")) or keys.parse_instant_key(
            str(plain["sk"]).removeprefix(keys.RUN_SK_PREFIX)
        )
        return cls(
            scheduled_time=scheduled,
            status=str(plain.get("status")),
            run_number=plain.get("runNumber"),
            attempt=int(plain.get("attempt") or 1),
            started_at=_instant(plain.get("startedAt")),
            finished_at=_instant(plain.get("finishedAt")),
            lease_until=plain.get("leaseUntil"),
            window=plain.get("window"),
            rows=plain.get("rows"),
            bytes_written=plain.get("bytes"),
            object_key=plain.get("objectKey"),
            sha256=plain.get("sha256"),
            duration_ms=plain.get("durationMs"),
            skipped=plain.get("skipped"),
            skipped_records=plain.get("skippedRecords"),
            error=plain.get("error"),
        )


@dataclass(frozen=True)
class Claim:
    """The answer to :meth:`RunLedger.claim`: ours to run (``claimed``), or a duplicate delivery."""

    tenant_id: str
    export_guid: str
    scheduled_time: datetime
    claimed: bool
    run_number: int | None = None
    token: str | None = None  # proves the claim when recording the outcome
    started_at: datetime | None = None
    attempt: int = 1
    existing: RunRecord | None = None  # for a duplicate: the record that holds the run


class RunLedger:
    def __init__(self, client: Any, table_name: str, *, history_days: int = 400) -> None:
        self.client = client
        self.table = table_name
        self.history = timedelta(days=history_days)

    def _key(self, tenant_id: str, export_guid: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": keys.export_pk(tenant_id, export_guid)}, "sk": {"S": sk}}

    def claim(
        self,
        tenant_id: str,
        export_guid: str,
        scheduled_time: datetime,
        now: datetime,
        lease_seconds: int = 900,
        *,
        run_start: datetime | None = None,
    ) -> Claim:
        """Claim the run of ``scheduled_time``; a duplicate delivery gets ``claimed=False``.

        ``now`` is the wall clock (for the lease); ``run_start`` is the run's own time
        (``runAt`` in a replay), recorded as its start and, on success, as the start that
        the next deltaMode window begins from. It defaults to ``now``.
        """
        run_start = run_start or now
        key = self._key(tenant_id, export_guid, keys.run_sk(scheduled_time))
        token = uuid.uuid4().hex
        item = {
            "status": RUNNING,
            "scheduledTime": keys.instant_key(scheduled_time),
            "startedAt": keys.instant_key(run_start),
            "leaseUntil": _epoch(now + timedelta(seconds=lease_seconds)),
            "claimToken": token,
            "expiresAt": _epoch(now + self.history),
        }
        try:
            response = self.client.put_item(
                TableName=self.table,
                Item={**key, **serialize(item)},
                ConditionExpression=_CLAIMABLE,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":failed": {"S": FAILED},
                    ":running": {"S": RUNNING},
                    ":now": {"N": str(_epoch(now))},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            old = exc.response.get("Item") or self._get(key)
            existing = RunRecord.from_item(old) if old else None
            return Claim(tenant_id, export_guid, scheduled_time, claimed=False, existing=existing)

        previous = deserialize(response.get("Attributes") or {})
        attempt = int(previous.get("attempt") or 0) + 1
        run_number = previous.get("runNumber")
        if run_number is None:
            run_number = self._next_run_number(tenant_id, export_guid)
        self.client.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression="SET runNumber = :n, attempt = :a",
            ConditionExpression="claimToken = :token",
            ExpressionAttributeValues={
                ":n": {"N": str(run_number)},
                ":a": {"N": str(attempt)},
                ":token": {"S": token},
            },
        )
        return Claim(
            tenant_id,
            export_guid,
            scheduled_time,
            claimed=True,
            run_number=run_number,
            token=token,
            started_at=run_start,
            attempt=attempt,
        )

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _next_run_number(self, tenant_id: str, export_guid: str) -> int:
        response = self.client.update_item(
            TableName=self.table,
            Key=self._key(tenant_id, export_guid, keys.STATE_SK),
            UpdateExpression="ADD runCounter :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["runCounter"]["N"])

    def previous_success_start(self, tenant_id: str, export_guid: str) -> datetime | None:
        """When the last successful run started; None before the first success."""
        item = self._get(self._key(tenant_id, export_guid, keys.STATE_SK)) or {}
        return _instant(deserialize(item).get("lastSuccessStart"))

    def _finish(self, claim: Claim, values: dict[str, Any]) -> None:
        if not claim.claimed or claim.token is None:
            raise ValueError("only a claimed run can be recorded")
        names = {f"#f{n}": name for n, name in enumerate(values)}
        sets = ", ".join(f"#f{n} = :v{n}" for n in range(len(values)))
        attribute_values = {f":v{n}": v for n, v in enumerate(serialize(values).values())}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(claim.tenant_id, claim.export_guid, keys.run_sk(claim.scheduled_time)),
                UpdateExpression=f"SET {sets}",
                ConditionExpression="claimToken = :token AND #status = :running",
                ExpressionAttributeNames={**names, "#status": "status"},
                ExpressionAttributeValues={
                    **attribute_values,
                    ":token": {"S": claim.token},
                    ":running": {"S": RUNNING},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise LeaseLostError(
                f"run {claim.tenant_id}/{claim.export_guid} at {keys.instant_key(claim.scheduled_time)} "
                "was taken over by another delivery"
            ) from None

    def record_success(
        self,
        claim: Claim,
        *,
        finished_at: datetime,
        window: dict[str, Any],
        rows: int,
        bytes_written: int,
        object_key: str | None,
        sha256: str | None,
        duration_ms: int,
        skipped: int = 0,
        skipped_records: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Mark the run succeeded, then move the window; returns whether ``lastSuccessStart`` moved.

        The run is recorded first: a crash in between leaves the window where it was, so the
        next run covers more days rather than fewer.
        """
        assert claim.started_at is not None
        self._finish(
            claim,
            {
                "status": SUCCEEDED,
                "finishedAt": keys.instant_key(finished_at),
                "window": window,
                "rows": rows,
                "bytes": bytes_written,
                "objectKey": object_key,
                "sha256": sha256,
                "durationMs": duration_ms,
                "skipped": skipped,
                "skippedRecords": (skipped_records or [])[:MAX_RECORDED_SKIPS],
            },
        )
        start = keys.instant_key(claim.started_at)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(claim.tenant_id, claim.export_guid, keys.STATE_SK),
                UpdateExpression="SET lastSuccessStart = :start",
                ConditionExpression="attribute_not_exists(lastSuccessStart) OR lastSuccessStart < :start",
                ExpressionAttributeValues={":start": {"S": start}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False  # a later run already succeeded: the window never moves back
        return True

    def record_failure(
        self,
        claim: Claim,
        *,
        finished_at: datetime,
        error: str,
        duration_ms: int,
        window: dict[str, Any] | None = None,
    ) -> None:
        """Mark the run failed with a readable reason; the window does not move."""
        self._finish(
            claim,
            {
                "status": FAILED,
                "finishedAt": keys.instant_key(finished_at),
                "error": error[:MAX_ERROR_LENGTH],
                "durationMs": duration_ms,
                "window": window,
            },
        )

    def runs(self, tenant_id: str, export_guid: str, *, limit: int | None = None) -> list[RunRecord]:
        """The export's run records, newest scheduled time first."""
        found: list[RunRecord] = []
        for page in query_pages(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
            ExpressionAttributeValues={
                ":pk": {"S": keys.export_pk(tenant_id, export_guid)},
                ":run": {"S": keys.RUN_SK_PREFIX},
            },
            ScanIndexForward=False,
            ConsistentRead=True,
        ):
            found.extend(RunRecord.from_item(item) for item in page)
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found
