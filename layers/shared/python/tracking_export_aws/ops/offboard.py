"""Offboard a tenant: everything of one tenant removed, nothing of any other touched.

What a tenant has (docs/table-design.md, docs/run-lifecycle.md, docs/ingestion.md), in the
order it is removed, once the whole tenant is paused (a delivery already on its way then
starts no run, and the watchdog neither repairs a schedule nor starts a run of the tenant
while its things go; the pause goes last, with the run history):

1. its **schedules** (first: no new run is scheduled): the schedules of the group whose target
   input names the tenant;
2. its **configuration**: every version and delete marker under ``tenants/{t}/`` of the
   (versioned) config bucket, the definitions before ``tenant.json``;
3. its **export bucket objects**: export files and end files under ``tenants/{t}/`` (every
   version, were the bucket versioned), the work files of its distributed runs under
   ``_work/{t}/``, and unfinished multipart uploads under both;
4. its **ingest bucket objects** under ``tenants/{t}/`` (``incoming/``, ``processed/``,
   ``rejected/``) and unfinished uploads;
5. its **tracking table items**: every item whose ``pk`` starts ``T#{t}#`` (logs, catalogue,
   day and has-log markers, ingestion progress, erasure state);
6. its **run history**: every item whose ``pk`` starts ``T#{t}#`` (runs, export states, config
   pointers, pauses and lifted pauses).

Prefixes end with a separator (``tenants/acme/``, ``T#acme#``), so ``acme`` never reaches
``acme-2``; schedules are confirmed by their input, not by their name alone. The tables have
no per-tenant index of every item (the catalogue has none), so both are read by a parallel
Scan with a key-prefix filter: a survey reads each table once, a removal once more
(docs/operations.md: cost and time). A run or an ingestion in progress makes the removal
refuse (:class:`TenantBusy`) unless forced. A second offboarding finds nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.dynamo import query_pages
from tracking_export_aws.aws.pauses import Pause, PauseRecords
from tracking_export_aws.aws.s3_versions import (
    BucketMissing,
    PendingUpload,
    StoredVersion,
    abort_uploads,
    delete_versions,
    listed_versions,
    pending_uploads,
)
from tracking_export_aws.aws.scheduler import delete_schedule_named, tenant_schedule_names
from tracking_export_aws.aws.table_scan import DEFAULT_SEGMENTS, delete_items, scan_prefix
from tracking_export_aws.config.versions import CONFIG_SK
from tracking_export_aws.runs.manifest import tenant_work_prefix

# The kinds of things a tenant has, in the order they are removed.
SCHEDULES, CONFIG, EXPORTS, INGEST, TRACKING, HISTORY = (
    "schedules",
    "config",
    "exports",
    "ingest",
    "tracking",
    "history",
)

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
KINDS = (SCHEDULES, CONFIG, EXPORTS, INGEST, TRACKING, HISTORY)
LABELS = {
    SCHEDULES: "schedules",
    CONFIG: "config bucket versions",
    EXPORTS: "export bucket objects",
    INGEST: "ingest bucket objects",
    TRACKING: "tracking table items",
    HISTORY: "run history items",
}
UPLOADS = "unfinished uploads"
# The reason and author of the tenant's pause while it is offboarded.
OFFBOARDING = "tracking-export-admin offboard"
DELETE_MARKERS = "delete markers"


class TenantBusy(RuntimeError):
    """A run or an ingestion of the tenant is in progress; ``in_progress`` says which."""

    def __init__(self, tenant_id: str, in_progress: Iterable[str]) -> None:
        self.in_progress = tuple(in_progress)
        super().__init__(f"tenant {tenant_id} is busy: " + "; ".join(self.in_progress))


@dataclass(frozen=True)
class Inventory:
    """What a tenant has (a survey) or what was removed: counts per kind and part."""

    tenant_id: str
    parts: dict[str, dict[str, int]]  # kind -> part (logs, catalogue, runs…) -> count
    in_progress: tuple[str, ...] = ()  # runs and ingestions holding a live lease
    notes: tuple[str, ...] = ()  # what could not be looked at (a bucket that does not exist)
    read_units: float = 0.0  # read capacity the table scans consumed

    def count(self, kind: str) -> int:
        return sum(self.parts.get(kind, {}).values())

    @property
    def total(self) -> int:
        return sum(self.count(kind) for kind in KINDS)

    @property
    def empty(self) -> bool:
        return self.total == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "counts": {kind: self.count(kind) for kind in KINDS},
            "parts": {kind: dict(self.parts.get(kind, {})) for kind in KINDS},
            "inProgress": list(self.in_progress),
            "notes": list(self.notes),
            "readUnits": self.read_units,
        }


@dataclass(frozen=True)
class TenantStores:
    """Where tenants' things are in one stack: the clients and the resource names."""

    scheduler: EventBridgeSchedulerClient
    schedule_group: str
    s3: S3Client
    config_bucket: str
    export_bucket: str
    ingest_bucket: str | None
    dynamodb: DynamoDBClient
    tracking_table: str
    run_history_table: str
    segments: int = DEFAULT_SEGMENTS


@dataclass(frozen=True)
class _Area:
    """The prefixes of one bucket that belong to the tenant, and how their keys are counted."""

    kind: str
    bucket: str | None
    prefixes: tuple[str, ...]
    part_of: Callable[[str], str]


@dataclass
class Offboarding:
    """Surveys and removes everything of ``tenant_id`` (validated as in every key)."""

    stores: TenantStores
    tenant_id: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _key_prefix: str = field(init=False)
    _folder: str = field(init=False)

    def __post_init__(self) -> None:
        self._key_prefix = keys.tenant_key_prefix(self.tenant_id)
        self._folder = keys.tenant_prefix(self.tenant_id)

    # -- what the tenant has ------------------------------------------------------------------

    def survey(self) -> Inventory:
        """Counts per kind, what is in progress, and what could not be looked at; changes nothing."""
        parts: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        notes: list[str] = []
        parts[SCHEDULES] = _counted(["schedules"] * len(self._schedules()))
        for area in self._areas():
            try:
                versions, uploads = self._area_contents(area)
            except BucketMissing as exc:
                notes.append(f"{LABELS[area.kind]}: bucket {exc} does not exist")
                continue
            if area.bucket is None:
                notes.append(f"{LABELS[area.kind]}: no bucket named (INGEST_BUCKET)")
            parts[area.kind] = _counted(
                [DELETE_MARKERS if v.delete_marker else area.part_of(v.key) for v in versions]
                + [UPLOADS] * len(uploads)
            )
        tracking = _Tally(_tracking_part, self._key_prefix)
        tracking_stats = scan_prefix(
            self.stores.dynamodb,
            self.stores.tracking_table,
            self._key_prefix,
            tracking.add,
            segments=self.stores.segments,
        )
        history = _Tally(_history_part, self._key_prefix, keep_runs=True)
        history_stats = scan_prefix(
            self.stores.dynamodb,
            self.stores.run_history_table,
            self._key_prefix,
            history.add,
            attributes=_RUN_ATTRIBUTES,
            segments=self.stores.segments,
        )
        parts[TRACKING], parts[HISTORY] = tracking.parts, history.parts
        now = self.clock().timestamp()
        busy = [_running(item, self._key_prefix, now) for item in history.items]
        return Inventory(
            tenant_id=self.tenant_id,
            parts=parts,
            in_progress=(*sorted(b for b in busy if b), *self._ingestions_in_progress(now)),
            notes=tuple(notes),
            read_units=tracking_stats.read_units + history_stats.read_units,
        )

    def in_progress(self) -> tuple[str, ...]:
        """The tenant's runs and ingestions that hold a live lease (reads only the run history and
        the ingestion progress partition)."""
        now = self.clock().timestamp()
        runs: list[str] = []
        lock = threading.Lock()

        def check(items: list[dict[str, Any]]) -> None:
            found = [b for item in items if (b := _running(item, self._key_prefix, now))]
            with lock:
                runs.extend(found)

        scan_prefix(
            self.stores.dynamodb,
            self.stores.run_history_table,
            self._key_prefix,
            check,
            attributes=_RUN_ATTRIBUTES,
            segments=self.stores.segments,
        )
        return (*sorted(runs), *self._ingestions_in_progress(now))

    # -- removal ------------------------------------------------------------------------------

    def remove(
        self, *, force: bool = False, on_removed: Callable[[str, dict[str, int]], None] | None = None
    ) -> Inventory:
        """Remove everything of the tenant, kind by kind in the order of :data:`KINDS`;
        ``on_removed(kind, parts)`` hears of each kind once it is gone. TenantBusy (before
        anything is removed) when a run or an ingestion is in progress, unless ``force``.
        Returns what was removed; what is still in progress (forced) is named in it."""
        busy = self.in_progress()
        if busy and not force:
            raise TenantBusy(self.tenant_id, busy)
        # An earlier pause of the tenant stays as it is.
        PauseRecords(self.stores.dynamodb, self.stores.run_history_table).put(
            Pause(self.tenant_id, None, self.clock(), reason=OFFBOARDING, by=OFFBOARDING)
        )
        parts: dict[str, dict[str, int]] = {}
        notes: list[str] = []

        def done(kind: str, removed: dict[str, int]) -> None:
            parts[kind] = removed
            if on_removed is not None:
                on_removed(kind, removed)

        deleted = sum(self._delete_schedule(name) for name in self._schedules())
        done(SCHEDULES, _counted(["schedules"] * deleted))
        for area in self._areas():
            try:
                done(area.kind, self._remove_area(area))
            except BucketMissing as exc:
                notes.append(f"{LABELS[area.kind]}: bucket {exc} does not exist")
                done(area.kind, {})
        units = 0.0
        for kind, table in ((TRACKING, self.stores.tracking_table), (HISTORY, self.stores.run_history_table)):
            removed = _Tally(_tracking_part if kind == TRACKING else _history_part, self._key_prefix)

            def delete_page(
                items: list[dict[str, Any]], table: str = table, removed: _Tally = removed
            ) -> None:
                delete_items(self.stores.dynamodb, table, items)
                removed.add(items)

            units += scan_prefix(
                self.stores.dynamodb, table, self._key_prefix, delete_page, segments=self.stores.segments
            ).read_units
            done(kind, removed.parts)
        # A definition upload config-sync was still handling when the schedules went may have
        # scheduled it again since: it goes too.
        late = sum(self._delete_schedule(name) for name in self._schedules())
        if late:
            parts[SCHEDULES]["schedules"] = parts[SCHEDULES].get("schedules", 0) + late
            notes.append(f"{late} schedule(s) created while the offboarding ran were removed too")
        return Inventory(self.tenant_id, parts, in_progress=busy, notes=tuple(notes), read_units=units)

    # -- the pieces ---------------------------------------------------------------------------

    def _schedules(self) -> list[str]:
        return tenant_schedule_names(self.stores.scheduler, self.stores.schedule_group, self.tenant_id)

    def _delete_schedule(self, name: str) -> bool:
        return delete_schedule_named(self.stores.scheduler, self.stores.schedule_group, name)

    def _areas(self) -> list[_Area]:
        folder = self._folder
        return [
            _Area(CONFIG, self.stores.config_bucket, (folder,), lambda key: _config_part(key, folder)),
            _Area(
                EXPORTS,
                self.stores.export_bucket,
                (folder, tenant_work_prefix(self.tenant_id)),
                lambda key: "files" if key.startswith(folder) else "distributed-run work files",
            ),
            _Area(INGEST, self.stores.ingest_bucket, (folder,), lambda key: _ingest_part(key, folder)),
        ]

    def _area_contents(self, area: _Area) -> tuple[list[StoredVersion], list[PendingUpload]]:
        if area.bucket is None:
            return [], []
        versions: list[StoredVersion] = []
        uploads: list[PendingUpload] = []
        for prefix in area.prefixes:
            versions.extend(listed_versions(self.stores.s3, area.bucket, prefix))
            uploads.extend(pending_uploads(self.stores.s3, area.bucket, prefix))
        return versions, uploads

    def _remove_area(self, area: _Area) -> dict[str, int]:
        versions, uploads = self._area_contents(area)
        if area.bucket is None:
            return {}
        aborted = abort_uploads(self.stores.s3, area.bucket, uploads)
        # Definitions before tenant.json (a request of its own): config-sync, told of each
        # removal, then finds no definition left to reschedule when tenant.json goes.
        settings = {v for v in versions if v.key.endswith("/tenant.json")}
        delete_versions(self.stores.s3, area.bucket, [v for v in versions if v not in settings])
        delete_versions(self.stores.s3, area.bucket, sorted(settings, key=lambda v: v.version_id))
        return _counted(
            [DELETE_MARKERS if v.delete_marker else area.part_of(v.key) for v in versions]
            + [UPLOADS] * aborted
        )

    def _ingestions_in_progress(self, now: float) -> list[str]:
        found = []
        for page in query_pages(
            self.stores.dynamodb,
            TableName=self.stores.tracking_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": keys.ingest_progress_pk(self.tenant_id)}},
            ConsistentRead=True,
        ):
            for item in page:
                status = item.get("status", {}).get("S")
                until = _number(item.get("leaseUntil"))
                if status == "loading" and until > now:
                    found.append(
                        f"ingestion of {item.get('objectKey', {}).get('S', '?')}: loading, "
                        f"lease until {_iso(until)}"
                    )
        return found


# -- counting -------------------------------------------------------------------------------------

_RUN_ATTRIBUTES = ("pk", "sk", "status", "leaseUntil", "invocationId", "path")


class _Tally:
    """Counts scanned items by part, from several scan threads; keeps the run-history items
    for the in-progress check (their attributes are few)."""

    def __init__(
        self, part_of: Callable[[str, str, str], str], prefix: str, *, keep_runs: bool = False
    ) -> None:
        self._part_of = part_of
        self._prefix = prefix
        self._keep_runs = keep_runs
        self._lock = threading.Lock()
        self.parts: dict[str, int] = {}
        self.items: list[dict[str, Any]] = []

    def add(self, items: list[dict[str, Any]]) -> None:
        with self._lock:
            for item in items:
                part = self._part_of(item["pk"]["S"], item["sk"]["S"], self._prefix)
                self.parts[part] = self.parts.get(part, 0) + 1
                if self._keep_runs and part == "runs":
                    self.items.append(item)


def _counted(parts: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part in parts:
        counts[part] = counts.get(part, 0) + 1
    return counts


def _tracking_part(pk: str, _sk: str, prefix: str) -> str:
    rest = pk[len(prefix) :]
    if rest.startswith("L#"):
        return "logs"
    if rest == "DAYS":
        return "day markers"
    if rest.startswith("LOGGED#"):
        return "has-log markers"
    if rest == "INGEST":
        return "ingestion progress"
    if rest.startswith("ERASURE#"):
        return "erasure state"
    return "catalogue"


_HISTORY_PARTS = {
    keys.STATE_SK: "export states",
    CONFIG_SK: "config pointers",
    keys.PAUSE_SK: "pauses",
    keys.RESUMED_SK: "lifted pauses",
}


def _history_part(_pk: str, sk: str, _prefix: str) -> str:
    if sk.startswith(keys.RUN_SK_PREFIX):
        return "runs"
    return _HISTORY_PARTS.get(sk, "other")


def _config_part(key: str, folder: str) -> str:
    rest = key[len(folder) :]
    if rest == "tenant.json":
        return "tenant.json"
    return "definitions" if rest.startswith("exports/") else "other objects"


def _ingest_part(key: str, folder: str) -> str:
    first = key[len(folder) :].split("/", 1)[0]
    return f"{first}/" if first in ("incoming", "processed", "rejected") else "other objects"


def _running(item: dict[str, Any], prefix: str, now: float) -> str | None:
    """How a run record in progress (``running`` under a live lease) is named; None otherwise."""
    until = _number(item.get("leaseUntil"))
    if item.get("status", {}).get("S") != "running" or until <= now:
        return None
    export = item["pk"]["S"][len(prefix) :].removeprefix("E#")
    scheduled = item["sk"]["S"].removeprefix(keys.RUN_SK_PREFIX)
    holder = item.get("invocationId", {}).get("S", "?")
    path = item.get("path", {}).get("S", "single")
    return (
        f"run of export {export} at {scheduled}: running on the {path} path, held by {holder}, "
        f"lease until {_iso(until)}"
    )


def _number(attribute: dict[str, Any] | None) -> float:
    value = (attribute or {}).get("N")
    return float(value) if value is not None else 0.0


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
