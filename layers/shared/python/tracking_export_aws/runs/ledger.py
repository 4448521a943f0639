"""Run history of an export (docs/table-design.md, run-history table; docs/run-lifecycle.md).

A scheduled run is claimed before any work: a conditional ``UpdateItem`` on its ``RUN#{scheduledTime}``
item succeeds when the item is absent, or ``running`` with an expired lease — or held by the same
Lambda invocation (an asynchronous retry keeps the
request id, and Lambda retries only an invocation that ended). The claimant renews its short
lease (a heartbeat) while it works and releases it when an exception escapes, so a crashed run
is taken over by the next delivery. The delta window (``STATE.lastSuccessStart``) moves only
when a run is recorded as succeeded, and never backwards.

Finishing a run is an outbox: the outcome, the notification message and the channels still to
deliver (``pendingChannels``) are written in one update; each channel that takes the message is
moved to ``notifiedChannels``. A delivery that finds a finished run with pending channels
delivers those, under a short delivery lease so two deliveries never publish the same channel.

A finished run (succeeded or failed) is final. A run taken over keeps the run number it was
first given, so the takeover writes the file the first attempt would have written.
"""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import deserialize, query_pages, serialize

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import UpdateItemInputTypeDef

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
FINISHED = (SUCCEEDED, FAILED)
# How many skipped records a run record lists (the count is always exact): an item holds 400 KB.
MAX_RECORDED_SKIPS = 100
MAX_ERROR_LENGTH = 4000
# Attributes of a finished attempt, cleared when a new attempt claims the run.
_FINISH_ATTRIBUTES = (
    "finishedAt",
    "error",
    "rows",
    "bytes",
    "objectKey",
    "sha256",
    "durationMs",
    "skipped",
    "skippedRecords",
    "notification",
    "pendingChannels",
    "notifiedChannels",
    "notifyLeaseUntil",
    "notifyHolder",
    "path",
    "estimatedRows",
    "shards",
    "deliveries",
    "readUnits",
)
# How many RUN# items one page of the previous-success lookup reads (newest first): the previous
# success is nearly always the first item before the run, so a small page costs least.
PREVIOUS_SUCCESS_PAGE = 10


class LeaseLostError(RuntimeError):
    """The run's claim is no longer ours: another delivery took it over after the lease expired."""


def _epoch(instant: datetime) -> int:
    return math.ceil(keys.as_utc(instant).timestamp())


def _units(value: float) -> float:
    """Capacity units as recorded: DynamoDB reports halves and fractions of a unit."""
    return round(float(value), 3)


def _stored_instant(value: Any) -> datetime | None:
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
    invocation_id: str | None = None
    window: dict[str, Any] | None = None
    rows: int | None = None
    bytes_written: int | None = None
    object_key: str | None = None
    sha256: str | None = None
    duration_ms: int | None = None
    skipped: int | None = None
    skipped_records: list[dict[str, Any]] | None = None
    error: str | None = None
    notification: dict[str, Any] | None = None  # the message of the outcome, as delivered
    pending_channels: tuple[str, ...] = ()  # channels that have not taken it yet
    notified_channels: tuple[str, ...] = ()
    claim_token: str | None = None  # the attempt that holds (or finished) the run
    path: str | None = None  # "single" or "distributed" (a run handed to Step Functions)
    estimated_rows: int | None = None
    shards: int | None = None
    # What each channel answered when it took the notification: a message id, or the e-mail
    # channel's report (recipients, suppressed and rejected addresses).
    deliveries: dict[str, Any] = field(default_factory=dict)
    # The transient error an attempt handed the run back with (``hand_back``): kept through the
    # retries, so that the run's end names it if Lambda gives up.
    last_error: str | None = None
    tenant_id: str | None = None  # written at every claim (the run listing indexes)
    export_guid: str | None = None
    replay_id: str | None = None  # an operator's replay of the scheduled time (its own run)
    quiet: bool = False  # a replay that notifies no tenant channel (the record still says it all)
    read_units: float | None = None  # DynamoDB read capacity the run consumed (usage)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RunRecord:
        plain = deserialize(item, keep_keys=True)
        scheduled = _stored_instant(plain.get("scheduledTime")) or keys.parse_instant_key(
            str(plain["sk"]).removeprefix(keys.RUN_SK_PREFIX).split(keys.REPLAY_MARK)[0]
        )
        notification = plain.get("notification")
        return cls(
            scheduled_time=scheduled,
            status=str(plain.get("status")),
            run_number=plain.get("runNumber"),
            attempt=int(plain.get("attempt") or 1),
            started_at=_stored_instant(plain.get("startedAt")),
            finished_at=_stored_instant(plain.get("finishedAt")),
            lease_until=plain.get("leaseUntil"),
            invocation_id=plain.get("invocationId"),
            window=plain.get("window"),
            rows=plain.get("rows"),
            bytes_written=plain.get("bytes"),
            object_key=plain.get("objectKey"),
            sha256=plain.get("sha256"),
            duration_ms=plain.get("durationMs"),
            skipped=plain.get("skipped"),
            skipped_records=plain.get("skippedRecords"),
            error=plain.get("error"),
            notification=json.loads(notification) if isinstance(notification, str) else None,
            pending_channels=tuple(sorted(plain.get("pendingChannels") or ())),
            notified_channels=tuple(sorted(plain.get("notifiedChannels") or ())),
            claim_token=plain.get("claimToken"),
            path=plain.get("path"),
            estimated_rows=plain.get("estimatedRows"),
            shards=plain.get("shards"),
            deliveries=dict(plain.get("deliveries") or {}),
            last_error=plain.get("lastError"),
            tenant_id=plain.get("tenantId"),
            export_guid=plain.get("exportGuid"),
            replay_id=plain.get("replayId"),
            quiet=bool(plain.get("quiet")),
            read_units=float(plain["readUnits"]) if plain.get("readUnits") is not None else None,
        )

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


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
    invocation_id: str | None = None  # the Lambda request id (or execution id) holding it
    existing: RunRecord | None = None  # for a duplicate: the record that holds the run; for a
    # takeover: what the previous attempt left (its window, for a run that must be failed)
    replay_id: str | None = None  # an operator's replay: its own RUN# item beside the scheduled run's

    @property
    def run_id(self) -> str:
        """``{tenant}/{exportGuid}/{scheduled time}`` (and ``/replay/{id}`` for a replay): names
        the run on the objects it writes, so a replay never adopts the scheduled run's file."""
        base = f"{self.tenant_id}/{self.export_guid}/{keys.instant_key(self.scheduled_time)}"
        return base if self.replay_id is None else f"{base}/replay/{self.replay_id}"


class RunLedger:
    def __init__(self, client: DynamoDBClient, table_name: str, *, history_days: int = 400) -> None:
        self.client = client
        self.table = table_name
        self.history = timedelta(days=history_days)

    def _key(self, tenant_id: str, export_guid: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": keys.export_pk(tenant_id, export_guid)}, "sk": {"S": sk}}

    def _run_key(
        self, tenant_id: str, export_guid: str, scheduled_time: datetime, replay_id: str | None = None
    ) -> dict[str, Any]:
        return self._key(tenant_id, export_guid, keys.run_sk(scheduled_time, replay_id))

    def claim(
        self,
        tenant_id: str,
        export_guid: str,
        scheduled_time: datetime,
        now: datetime,
        lease_seconds: int = 120,
        *,
        run_start: datetime | None = None,
        invocation_id: str | None = None,
        existing_only: bool = False,
        replay_id: str | None = None,
        quiet: bool = False,
    ) -> Claim:
        """Claim the run of ``scheduled_time``; a duplicate delivery gets ``claimed=False``.

        ``now`` is the wall clock (for the lease); ``run_start`` is the run's own time
        (``runAt`` in a replay), recorded as its start and, on success, as the start that
        the next deltaMode window begins from. It defaults to ``now``. ``invocation_id`` (the
        Lambda request id) lets a retry of the same invocation take over at once.
        ``replay_id`` claims an operator's replay of ``scheduled_time``: its own item, which no
        scheduled delivery answers ``duplicate`` for; ``quiet`` marks it as notifying no tenant.
        A finished run (succeeded or failed) is never claimed again: a repeated delivery must
        not produce a second file or a second notification. ``existing_only``: only a run on
        record is taken over, never started (the sweep of stuck runs).
        """
        run_start = run_start or now
        key = self._run_key(tenant_id, export_guid, scheduled_time, replay_id)
        token = uuid.uuid4().hex
        values: dict[str, Any] = {
            ":running": {"S": RUNNING},
            ":now": {"N": str(_epoch(now))},
            ":st": {"S": keys.instant_key(scheduled_time)},
            ":start": {"S": keys.instant_key(run_start)},
            ":lease": {"N": str(_epoch(now + timedelta(seconds=lease_seconds)))},
            ":token": {"S": token},
            ":expires": {"N": str(_epoch(now + self.history))},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":tenant": {"S": tenant_id},
            ":export": {"S": export_guid},
        }
        names = {"#s": "status", **{f"#r{n}": a for n, a in enumerate(_FINISH_ATTRIBUTES)}}
        sets = [
            "#s = :running",
            "scheduledTime = :st",
            "tenantId = :tenant",
            "exportGuid = :export",
            "startedAt = :start",
            "leaseUntil = :lease",
            "claimToken = :token",
            "expiresAt = :expires",
            "attempt = if_not_exists(attempt, :zero) + :one",
        ]
        removes = [f"#r{n}" for n in range(len(_FINISH_ATTRIBUTES))]
        if replay_id is not None:
            values[":replay"] = {"S": replay_id}
            values[":quiet"] = {"BOOL": quiet}
            sets += ["replayId = :replay", "quiet = :quiet"]
        takeover = "(#s = :running AND (leaseUntil < :now"
        if invocation_id:
            values[":inv"] = {"S": invocation_id}
            sets.append("invocationId = :inv")
            takeover += " OR invocationId = :inv"
        else:
            removes.append("invocationId")
        takeover += "))"
        condition = takeover if existing_only else f"attribute_not_exists(pk) OR {takeover}"
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            # The stubs' error answer does not name the Item ReturnValuesOnConditionCheckFailure adds.
            answer: Mapping[str, Any] = exc.response
            old = answer.get("Item") or self._get(key)
            existing = RunRecord.from_item(old) if old else None
            return Claim(
                tenant_id, export_guid, scheduled_time, claimed=False, existing=existing, replay_id=replay_id
            )

        record = RunRecord.from_item(response["Attributes"])
        run_number = record.run_number
        if run_number is None:
            try:
                run_number = self._replayed_run_number(tenant_id, export_guid, scheduled_time, replay_id)
                if run_number is None:
                    run_number = self._next_run_number(tenant_id, export_guid)
                self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="SET runNumber = :n",
                    ConditionExpression="claimToken = :token",
                    ExpressionAttributeValues={":n": {"N": str(run_number)}, ":token": {"S": token}},
                )
            except BaseException:
                # Half-claimed: give it back at once so the retry does not wait for the lease.
                with contextlib.suppress(Exception):
                    self.client.update_item(
                        TableName=self.table,
                        Key=key,
                        UpdateExpression="SET leaseUntil = :zero",
                        ConditionExpression="claimToken = :token",
                        ExpressionAttributeValues={":zero": {"N": "0"}, ":token": {"S": token}},
                    )
                raise
        return Claim(
            tenant_id,
            export_guid,
            scheduled_time,
            claimed=True,
            run_number=run_number,
            token=token,
            started_at=run_start,
            attempt=record.attempt,
            invocation_id=invocation_id,
            existing=record,
            replay_id=replay_id,
        )

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    def get(
        self, tenant_id: str, export_guid: str, scheduled_time: datetime, replay_id: str | None = None
    ) -> RunRecord | None:
        """The run's record (strongly consistent read); None when it was never claimed."""
        item = self._get(self._run_key(tenant_id, export_guid, scheduled_time, replay_id))
        return RunRecord.from_item(item) if item else None

    def _replayed_run_number(
        self, tenant_id: str, export_guid: str, scheduled_time: datetime, replay_id: str | None
    ) -> int | None:
        """A replay's run number (the file name's ``%i``): the number of the scheduled run it
        replays, so it renders the name that run rendered; None when there is no such run."""
        if replay_id is None:
            return None
        original = self.get(tenant_id, export_guid, scheduled_time)
        return original.run_number if original is not None else None

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
        return _stored_instant(deserialize(item).get("lastSuccessStart"))

    def previous_success_before(
        self, tenant_id: str, export_guid: str, run_time: datetime
    ) -> datetime | None:
        """The start of the latest successful scheduled run whose run time is strictly before
        ``run_time`` (spec §5; docs/run-lifecycle.md, "The previous successful run"); None when
        there is none. Replays are never counted: they do not move later runs' windows.

        ``STATE.lastSuccessStart`` is the latest success of all: when it is before ``run_time``
        it is the answer (one GetItem: every on-time scheduled run). Otherwise (a replay of a
        past time, or a run started late after a later one succeeded) the export's ``RUN#`` items
        before the run are queried newest first, a page of ``PREVIOUS_SUCCESS_PAGE`` at a time,
        until the first scheduled success: it reads the run's immediate predecessors only.
        """
        run_time = keys.as_utc(run_time)
        latest = self.previous_success_start(tenant_id, export_guid)
        if latest is None or latest < run_time:
            return latest
        # Every run keyed before the run's time (its own key and its replays excluded): the
        # BETWEEN bound is the microsecond before, and "RUN#" sorts before every run key.
        bound = keys.run_sk(run_time - timedelta(microseconds=1))
        for page in query_pages(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :bound",
            FilterExpression="#s = :succeeded AND attribute_not_exists(replayId) AND startedAt < :t",
            ProjectionExpression="startedAt",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":pk": {"S": keys.export_pk(tenant_id, export_guid)},
                ":first": {"S": keys.RUN_SK_PREFIX},
                ":bound": {"S": bound},
                ":succeeded": {"S": SUCCEEDED},
                ":t": {"S": keys.instant_key(run_time)},
            },
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=PREVIOUS_SUCCESS_PAGE,
        ):
            for item in page:
                started = _stored_instant(deserialize(item).get("startedAt"))
                if started is not None:
                    return started
        return None

    def _update_claimed(
        self,
        claim: Claim,
        values: dict[str, Any],
        *,
        extra: str = "",
        extra_values: dict[str, Any] | None = None,
    ) -> None:
        """SET ``values`` (plus the ``extra`` clause) on the run, if the claim is still ours."""
        if not claim.claimed or claim.token is None:
            raise ValueError("only a claimed run can be recorded")
        names = {f"#f{n}": name for n, name in enumerate(values)}
        sets = ", ".join(f"#f{n} = :v{n}" for n in range(len(values)))
        attribute_values = {f":v{n}": v for n, v in enumerate(serialize(values).values())}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._run_key(claim.tenant_id, claim.export_guid, claim.scheduled_time, claim.replay_id),
                UpdateExpression=f"SET {sets}{extra}",
                ConditionExpression="claimToken = :token AND #status = :running",
                ExpressionAttributeNames={**names, "#status": "status"},
                ExpressionAttributeValues={
                    **attribute_values,
                    **(extra_values or {}),
                    ":token": {"S": claim.token},
                    ":running": {"S": RUNNING},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise LeaseLostError(
                f"run {claim.run_id} was taken over by another delivery (its lease had expired)"
            ) from None

    def renew(self, claim: Claim, now: datetime, lease_seconds: int) -> bool:
        """Extend the lease to ``now + lease_seconds`` (the heartbeat); False once the run is not ours."""
        try:
            self._update_claimed(claim, {"leaseUntil": _epoch(now + timedelta(seconds=lease_seconds))})
        except LeaseLostError:
            return False
        return True

    def release(self, claim: Claim) -> None:
        """Expire the lease now (the attempt is giving up): the next delivery takes the run over."""
        with contextlib.suppress(LeaseLostError):  # someone else holds it already
            self._update_claimed(claim, {"leaseUntil": 0})

    def hand_back(self, claim: Claim, error: str) -> None:
        """Expire the lease now and note ``error`` (tenant-safe text) as the run's ``lastError``:
        the attempt met a transient error and hands the run to the next one (Lambda's retry
        takes it over at once; the recovery names the error if none succeeds)."""
        with contextlib.suppress(LeaseLostError):  # someone else holds it already
            self._update_claimed(claim, {"leaseUntil": 0, "lastError": error[:MAX_ERROR_LENGTH]})

    def record_route(
        self, claim: Claim, path: str, estimated_rows: int | None, *, shards: int | None = None
    ) -> None:
        """Note the path the run takes, its row estimate and (once planned) its shard count."""
        values: dict[str, Any] = {"path": path}
        if estimated_rows is not None:
            values["estimatedRows"] = estimated_rows
        if shards is not None:
            values["shards"] = shards
        self._update_claimed(claim, values)

    def hand_off(self, claim: Claim, holder: str, until: datetime, *, estimated_rows: int | None) -> Claim:
        """The run goes on elsewhere (a Step Functions execution named ``holder``), which holds
        the claim until ``until``: neither a duplicate delivery, nor a retry of the invocation that
        handed it off, nor recovery takes it over meanwhile. Returns the claim as the holder uses it."""
        self._update_claimed(
            claim,
            {"leaseUntil": _epoch(until), "invocationId": holder, "path": "distributed"}
            | ({} if estimated_rows is None else {"estimatedRows": estimated_rows}),
        )
        return replace(claim, invocation_id=holder)

    def record_window(self, claim: Claim, window: dict[str, Any]) -> None:
        """Note the window the run is covering, so even a lost attempt is reported with it."""
        self._update_claimed(claim, {"window": window})

    def _finish(
        self, claim: Claim, values: dict[str, Any], notification: dict[str, Any], channels: list[str]
    ) -> None:
        values = {**values, "notification": json.dumps(notification, ensure_ascii=False, default=str)}
        if channels:
            self._update_claimed(
                claim,
                values,
                extra=", pendingChannels = :pending",
                extra_values={":pending": {"SS": channels}},
            )
        else:
            self._update_claimed(claim, values)

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
        notification: dict[str, Any] | None = None,
        channels: list[str] | None = None,
        read_units: float | None = None,
    ) -> bool:
        """Mark the run succeeded with its notification to deliver, then move the window;
        returns whether ``lastSuccessStart`` moved. A replay never moves it (spec §5).

        The run is recorded first: a crash in between leaves the window where it was, so the
        next run covers more days rather than fewer. ``read_units``: the DynamoDB read capacity
        the run consumed (the usage report's figure).
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
            }
            | ({} if read_units is None else {"readUnits": _units(read_units)}),
            notification or {},
            channels or [],
        )
        if claim.replay_id is not None:
            return False
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
        notification: dict[str, Any] | None = None,
        channels: list[str] | None = None,
        read_units: float | None = None,
    ) -> None:
        """Mark the run failed with a readable reason and its notification to deliver; the
        window does not move. ``window`` None keeps the one the attempt recorded, if any."""
        values: dict[str, Any] = {
            "status": FAILED,
            "finishedAt": keys.instant_key(finished_at),
            "error": error[:MAX_ERROR_LENGTH],
            "durationMs": duration_ms,
        }
        if window is not None:
            values["window"] = window
        if read_units is not None:
            values["readUnits"] = _units(read_units)
        self._finish(claim, values, notification or {}, channels or [])

    def take_delivery(
        self,
        tenant_id: str,
        export_guid: str,
        scheduled_time: datetime,
        now: datetime,
        lease_seconds: int,
        *,
        holder: str | None = None,
        replay_id: str | None = None,
    ) -> RunRecord | None:
        """Lease the delivery of a finished run's pending notification channels.

        Returns the record (message and pending channels) when this caller may deliver them;
        None when nothing is pending or another delivery holds the lease. ``holder`` (the
        Lambda request id) lets a retry of a delivery that died take its lease over at once.
        """
        values: dict[str, Any] = {
            ":until": {"N": str(_epoch(now + timedelta(seconds=lease_seconds)))},
            ":now": {"N": str(_epoch(now))},
            ":succeeded": {"S": SUCCEEDED},
            ":failed": {"S": FAILED},
            ":none": {"M": {}},
        }
        free = "attribute_not_exists(notifyLeaseUntil) OR notifyLeaseUntil < :now"
        # The map mark_delivered records each channel's answer in (a path needs its parent).
        update = "SET notifyLeaseUntil = :until, deliveries = if_not_exists(deliveries, :none)"
        if holder:
            values[":holder"] = {"S": holder}
            free += " OR notifyHolder = :holder"
            update += ", notifyHolder = :holder"
        else:
            update += " REMOVE notifyHolder"
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=self._run_key(tenant_id, export_guid, scheduled_time, replay_id),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pendingChannels) AND #s IN (:succeeded, :failed) "
                f"AND ({free})",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return RunRecord.from_item(response["Attributes"])

    def mark_delivered(
        self,
        tenant_id: str,
        export_guid: str,
        scheduled_time: datetime,
        channel: str,
        answer: Any = None,
        *,
        replay_id: str | None = None,
    ) -> None:
        """Move ``channel`` from the run's pending channels to its notified ones and, in the same
        write, keep what it answered (``answer``, JSON types) under ``deliveries``, the map
        :meth:`take_delivery` creates."""
        update = "DELETE pendingChannels :c ADD notifiedChannels :c"
        names: dict[str, str] = {}
        values: dict[str, Any] = {":c": {"SS": [channel]}}
        if answer is not None:
            update += " SET deliveries.#channel = :answer"
            names["#channel"] = channel
            values[":answer"] = serialize({"answer": answer})["answer"]
        request: UpdateItemInputTypeDef = {
            "TableName": self.table,
            "Key": self._run_key(tenant_id, export_guid, scheduled_time, replay_id),
            "UpdateExpression": update,
            "ExpressionAttributeValues": values,
        }
        if names:  # DynamoDB refuses an empty map
            request["ExpressionAttributeNames"] = names
        self.client.update_item(**request)

    def end_delivery(
        self, tenant_id: str, export_guid: str, scheduled_time: datetime, *, replay_id: str | None = None
    ) -> None:
        """Give the delivery lease back (after delivering, or failing to)."""
        self.client.update_item(
            TableName=self.table,
            Key=self._run_key(tenant_id, export_guid, scheduled_time, replay_id),
            UpdateExpression="REMOVE notifyLeaseUntil, notifyHolder",
            ConditionExpression="attribute_exists(pk)",
        )

    def runs(
        self, tenant_id: str, export_guid: str, *, limit: int | None = None, since: datetime | None = None
    ) -> list[RunRecord]:
        """The export's run records, newest scheduled time first; with ``since``, only those
        whose scheduled time is at or after it."""
        found: list[RunRecord] = []
        pk = {":pk": {"S": keys.export_pk(tenant_id, export_guid)}}
        if since is None:
            condition = "pk = :pk AND begins_with(sk, :run)"
            values = {**pk, ":run": {"S": keys.RUN_SK_PREFIX}}
        else:
            # Every instant key starts with a digit: "RUN#:" sorts after all of them.
            condition = "pk = :pk AND sk BETWEEN :from AND :to"
            values = {**pk, ":from": {"S": keys.run_sk(since)}, ":to": {"S": f"{keys.RUN_SK_PREFIX}:"}}
        for page in query_pages(
            self.client,
            TableName=self.table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            ConsistentRead=True,
        ):
            found.extend(RunRecord.from_item(item) for item in page)
            if limit is not None and len(found) >= limit:
                return found[:limit]
        return found
