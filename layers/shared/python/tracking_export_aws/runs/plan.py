"""A run's plan: everything one run will do, computed once, right after its claim.

    claim -> prepare (here) -> produce (one shard in the export function, or many on the
    state machine) -> finish (runs/finish.py)

:meth:`Planner.prepare` reads the tenant's settings and the definition at their last valid
versions, the previous successful run's start (deltaMode), computes the window once and
records it on the run at once (a run lost later is still reported with it), chooses the
object's and the end file's keys by the collision rule (docs/run-lifecycle.md, step 4),
and routes the run: estimated above ``max_rows_per_worker`` rows, it goes distributed.

A :class:`RunPlan` is frozen and versioned. The distributed path's manifest is the plan as
JSON (runs/manifest.py): every step of the state machine reads the same plan, so it needs no
configuration of its own and sees the same definition even if the tenant uploads a new one
meanwhile. What is known of a run before its plan exists (a run that fails while preparing)
is a :class:`RunStart`, which a plan extends.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
)
from pydantic.alias_generators import to_camel

from tracking_export.engine import window_days
from tracking_export.filename import extension, object_key, render_end_file_name, render_file_name
from tracking_export.limits import DEFAULT_LIMITS, Limits
from tracking_export.model import ExportDefinition
from tracking_export.report import Window
from tracking_export.source import TrackingSource
from tracking_export.window import compute_window, day_range
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.object_tags import clean_older_than_tag
from tracking_export_aws.aws.s3_sink import ObjectExists, free_for_run
from tracking_export_aws.config.definitions import checked_definition
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.runs.ledger import Claim, RunLedger

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client

# The plan's shape. A manifest of another version is refused by name (runs/manifest.py): an
# execution started by code of another shape must not be read as this one. Version 2 was the
# manifest before the plan existed.
PLAN_VERSION: Literal[3] = 3
CONTENT_TYPES = {"CSV": "text/csv", "TSV": "text/tab-separated-values"}
# The collision rule's candidates: the name, then name-r{n}, name-r{n}-2 … name-r{n}-9.
MAX_NAME_CANDIDATES = 10


class _Frozen(BaseModel):
    """Frozen, strict about unknown fields, camelCase in JSON (the manifest, the steps' payloads)."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


def _base64_bytes(value: Any) -> Any:
    return base64.b64decode(value, validate=True) if isinstance(value, str) else value


# Raw bytes in Python, base64 text in JSON (the definition is XML in any encoding).
Base64Bytes = Annotated[
    bytes,
    BeforeValidator(_base64_bytes),
    PlainSerializer(lambda data: base64.b64encode(data).decode("ascii"), return_type=str, when_used="json"),
]


class ClaimRef(_Frozen):
    """The claim a run is produced under, as it travels with the plan (``ledger.Claim``)."""

    run_number: int = Field(ge=1)
    attempt: int = Field(ge=1)
    token: str = Field(min_length=1, description="proves the claim when the outcome is recorded")
    holder: str | None = Field(
        description="who holds the claim while the run is produced: the export function's request "
        "id, or states:{execution name} once the run is handed to the state machine"
    )
    started_at: AwareDatetime = Field(
        description="the run's start as recorded (its run time); the next deltaMode window starts here"
    )


class RunStart(_Frozen):
    """What is known of a claimed run before its plan: which run, under which claim, since when.

    ``window`` and ``recipients`` are what a run that fails before its plan could still find
    out (best effort) for its failure notification; a plan always has both.
    """

    tenant_id: str
    export_guid: str
    scheduled_time: AwareDatetime = Field(description="the run's key: its scheduled time, or runAt")
    run_at: AwareDatetime = Field(description="the run time the window is computed from")
    claim: ClaimRef
    claimed_at: AwareDatetime = Field(
        description="when this attempt claimed the run: durations count from it"
    )
    window: Window | None = None
    recipients: tuple[str, ...] = ()
    replay_id: str | None = Field(
        default=None, description="an operator's replay of the scheduled time: its own run record"
    )
    quiet: bool = Field(default=False, description="a replay that notifies no tenant channel")

    @classmethod
    def of(cls, claim: Claim, *, run_at: datetime, claimed_at: datetime, quiet: bool = False) -> RunStart:
        """The start of the run ``claim`` holds (a claim that was granted)."""
        if not claim.claimed or claim.token is None or claim.run_number is None or claim.started_at is None:
            raise ValueError(f"run {claim.run_id} was not claimed")
        return cls(
            tenant_id=claim.tenant_id,
            export_guid=claim.export_guid,
            scheduled_time=claim.scheduled_time,
            run_at=run_at,
            claim=ClaimRef(
                run_number=claim.run_number,
                attempt=claim.attempt,
                token=claim.token,
                holder=claim.invocation_id,
                started_at=claim.started_at,
            ),
            claimed_at=claimed_at,
            replay_id=claim.replay_id,
            quiet=quiet,
        )

    @property
    def run_id(self) -> str:
        """``{tenant}/{exportGuid}/{scheduled time}``: the ``export-run`` of the run's objects."""
        return self.ledger_claim().run_id

    def ledger_claim(self) -> Claim:
        """The claim as the ledger takes it, to record the run and deliver its notification."""
        return Claim(
            self.tenant_id,
            self.export_guid,
            self.scheduled_time,
            claimed=True,
            run_number=self.claim.run_number,
            token=self.claim.token,
            started_at=self.claim.started_at,
            attempt=self.claim.attempt,
            invocation_id=self.claim.holder,
            replay_id=self.replay_id,
        )


class Route(_Frozen):
    """Where the run's file is produced, and why."""

    path: Literal["single", "distributed"]
    estimated_rows: int | None = Field(description="the window's logs counted by day; None without counts")
    max_rows_per_worker: int = Field(ge=1)


class EndFile(_Frozen):
    """The end file written next to the export once it exists."""

    key: str
    content: str


class RunPlan(RunStart):
    """Everything one run does, decided once after its claim; the manifest of a distributed run."""

    version: Literal[3] = PLAN_VERSION
    window: Window
    recipients: tuple[str, ...] = Field(description="tenant notificationEmails and targetEmail, sorted")
    timezone: str = Field(description="the tenant's IANA zone")
    previous_success_start: AwareDatetime | None
    definition: Base64Bytes = Field(description="the definition's bytes, as read")
    definition_version: str | None = Field(
        description="the S3 version of the definition read (VersionId, or ETag in an unversioned bucket)"
    )
    object_key: str = Field(description="where the file goes (the collision rule applied)")
    requested_key: str = Field(description="the key the definition names")
    end_file: EndFile | None
    content_type: str
    tags: dict[str, str]
    download_link: bool = Field(description="the notification carries a presigned link to the file")
    delete_empty_file: bool = Field(description="a file of no rows is not kept (deleteEmptyFiles)")
    # Defaulted, so that a manifest written before the field existed still reads as version 3.
    archive: bool = Field(
        default=False,
        description="the export's older files move to archive/ once this run succeeded (<archive>)",
    )
    route: Route | None = Field(
        description="None when the function has no distributed path (no state machine): the run "
        "record and notification then say nothing of paths"
    )
    _definition: ExportDefinition | None = PrivateAttr(default=None)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def distributed(self) -> bool:
        return self.route is not None and self.route.path == "distributed"

    def export_definition(self, limits: Limits = DEFAULT_LIMITS) -> ExportDefinition:
        """The definition the run renders (parsed once per plan object)."""
        if self._definition is None:
            self._definition = checked_definition(self.definition, self.export_guid, limits)
        return self._definition


# The holder of a handed-off run's claim (its record's ``invocationId``): this, then its
# execution's name.
EXECUTION_HOLDER = "states:"


def execution_name(
    tenant_id: str, export_guid: str, scheduled: datetime, attempt: int, replay_id: str | None = None
) -> str:
    """The Step Functions execution of one attempt of a distributed run: unique per (tenant,
    export, scheduled time, replay, attempt), so a repeated StartExecution is the same execution."""
    run = f"{tenant_id}/{export_guid}/{keys.instant_key(scheduled)}"
    if replay_id is not None:
        run += f"/replay/{replay_id}"
    digest = hashlib.sha256(run.encode()).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", f"{tenant_id[:24]}-{export_guid[:24]}")
    return f"{readable}-{attempt}-{digest[:24]}"


@dataclass
class Planner:
    """Prepares runs: reads what a run needs and decides everything it will do.

    ``max_rows_per_worker`` None means the function has no distributed path (no state
    machine): every run is rendered here and its plan has no route.
    """

    config: ConfigStore
    ledger: RunLedger
    s3: S3Client
    bucket: str
    limits: Limits = DEFAULT_LIMITS
    max_rows_per_worker: int | None = None
    # ``<archive>``: frees a name an earlier run of the export holds (runs/archive.make_room).
    make_room: Callable[[S3Client, str, str, RunStart, dict[str, str]], None] | None = None

    def prepare(self, start: RunStart, source: TrackingSource) -> RunPlan:
        """The plan of the run ``start`` claimed. Records the window on the run as soon as it is
        known, and a single path's route; the distributed route is recorded by the hand-off,
        together with the lease it hands over (runs/handoff.py)."""
        tenant, guid = start.tenant_id, start.export_guid
        claim = start.ledger_claim()
        settings = self.config.tenant_settings(tenant)
        found = self.config.export_definition_object(tenant, guid)
        definition = checked_definition(found.data, guid, self.limits)
        zone = settings.zone
        previous = (
            self.ledger.previous_success_before(tenant, guid, start.run_at)
            if definition.parameters.delta_mode
            else None
        )
        window = compute_window(definition.parameters, zone, start.run_at, previous)
        self.ledger.record_window(claim, window.as_dict())

        local_time = start.run_at.astimezone(zone)
        run_number = start.claim.run_number
        file_name = render_file_name(
            definition.move_to_folder, definition.file_action, local_time, run_number, guid
        )
        requested = object_key(tenant, definition.move_to_folder, file_name)
        tags = {"tenant": tenant, "export": guid, **clean_older_than_tag(definition.clean_older_than_days)}
        if definition.archive and self.make_room is not None:
            self.make_room(self.s3, self.bucket, requested, start, tags)
        key = self._free_key(requested, extension(definition.file_action), start)
        end_file = None
        if definition.generate_end_file is not None:
            end = definition.generate_end_file
            name = render_end_file_name(end, local_time, run_number, guid)
            wanted = object_key(tenant, definition.move_to_folder, name)
            if definition.archive and self.make_room is not None and wanted != key:
                self.make_room(self.s3, self.bucket, wanted, start, tags)
            end_key = self._free_key(wanted, posixpath.splitext(name)[1], start, avoid=key)
            end_file = EndFile(key=end_key, content=end.file_content)

        route = self._route(claim, window, zone, source)
        holder = start.claim.holder
        if route is not None and route.path == "distributed":
            # From the hand-off on, the execution holds the claim under its own name.
            name = execution_name(tenant, guid, start.scheduled_time, start.claim.attempt, start.replay_id)
            holder = f"{EXECUTION_HOLDER}{name}"
        return RunPlan(
            **start.model_dump(exclude={"window", "recipients", "claim"}),
            claim=start.claim.model_copy(update={"holder": holder}),
            window=window,
            recipients=tuple(sorted({*settings.notification_emails, *definition.email_report.target_emails})),
            timezone=settings.timezone,
            previous_success_start=previous,
            definition=found.data,
            definition_version=found.version.tag or None,
            object_key=key,
            requested_key=requested,
            end_file=end_file,
            content_type=content_type(definition),
            tags=tags,
            download_link=definition.email_report.include_download_link,
            delete_empty_file=definition.move_to_folder.delete_empty_files,
            archive=definition.archive,
            route=route,
        )

    def _route(self, claim: Claim, window: Window, zone: ZoneInfo, source: TrackingSource) -> Route | None:
        if self.max_rows_per_worker is None:
            return None
        estimate = estimate_rows(source, window, zone)
        if estimate is not None and estimate > self.max_rows_per_worker:
            return Route(
                path="distributed", estimated_rows=estimate, max_rows_per_worker=self.max_rows_per_worker
            )
        self.ledger.record_route(claim, "single", estimate, shards=1)
        return Route(path="single", estimated_rows=estimate, max_rows_per_worker=self.max_rows_per_worker)

    def _free_key(self, wanted: str, ext: str, start: RunStart, avoid: str | None = None) -> str:
        """``wanted`` if no object holds it (or this run's own does), else the first free of
        ``name-r{runNumber}.ext``, ``name-r{runNumber}-2.ext``, …: deterministic, never a replacement."""
        for candidate in candidate_keys(wanted, ext, start.claim.run_number):
            if candidate != avoid and free_for_run(self.s3, self.bucket, candidate, start.run_id):
                return candidate
        raise ObjectExists(self.bucket, wanted)


def candidate_keys(wanted: str, ext: str, run_number: int) -> list[str]:
    """The keys a run's file may take, in order (docs/run-lifecycle.md, step 4)."""
    stem = wanted[: -len(ext)] if ext and wanted.endswith(ext) else wanted
    suffix = ext if ext and wanted.endswith(ext) else ""
    return [
        wanted,
        f"{stem}-r{run_number}{suffix}",
        *(f"{stem}-r{run_number}-{n}{suffix}" for n in range(2, MAX_NAME_CANDIDATES)),
    ]


def content_type(definition: ExportDefinition) -> str:
    """The file's Content-Type: CSV or TSV, or gzip when compressed."""
    base = CONTENT_TYPES[definition.file_action.format]
    return "application/gzip" if definition.file_action.compression == "gzip" else base


def estimate_rows(source: TrackingSource, window: Window, zone: ZoneInfo) -> int | None:
    """The run's rows as its window's logs counted by day; None when the source keeps no counts."""
    estimated_logs: Callable[[list[Any]], list[int]] | None = getattr(source, "estimated_logs", None)
    if estimated_logs is None:
        return None
    days = window_days(window, source, zone)
    return int(sum(estimated_logs([day_range(day, zone) for day in days])))
