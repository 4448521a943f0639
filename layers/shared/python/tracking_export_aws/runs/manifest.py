"""A distributed run's work prefix and its manifest: the run's plan (runs/plan.py) as JSON.

The export function writes the manifest once, before it hands the run to its execution;
every step reads it (``_work/{tenant}/{export}/{run}-{attempt}/manifest.json``, a replay's
``…/{run}-{attempt}-replay-{replayId}/manifest.json``). The plan is
versioned: a manifest of another version (an execution started by another release of the
service) is refused by name, never read as this one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from tracking_export.limits import shown
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.s3_objects import WORK_PREFIX, DistributedRunError
from tracking_export_aws.runs.plan import PLAN_VERSION, RunPlan

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client

MANIFEST = "manifest.json"


def tenant_work_prefix(tenant_id: str) -> str:
    """The internal prefix of every distributed run of a tenant (never under ``tenants/``)."""
    return f"{WORK_PREFIX}{keys.validate_tenant_id(tenant_id)}/"


def work_prefix(
    tenant_id: str, export_guid: str, run_number: int, attempt: int, replay_id: str | None = None
) -> str:
    """The internal prefix of one attempt of one run (never under the tenants' ``tenants/``). A
    replay has the run number of the run it replays, and may run beside it: its prefix names it."""
    run = (
        f"{run_number}-{attempt}"
        if replay_id is None
        else f"{run_number}-{attempt}-replay-{keys.validate_replay_id(replay_id)}"
    )
    return f"{tenant_work_prefix(tenant_id)}{keys.validate_export_guid(export_guid)}/{run}/"


@dataclass(frozen=True)
class WorkArea:
    """The objects of one attempt of a distributed run, under its work prefix."""

    prefix: str

    @classmethod
    def of(cls, plan: RunPlan) -> WorkArea:
        """The work area of the plan's run and attempt."""
        claim = plan.claim
        return cls(
            work_prefix(plan.tenant_id, plan.export_guid, claim.run_number, claim.attempt, plan.replay_id)
        )

    @property
    def manifest_key(self) -> str:
        return f"{self.prefix}{MANIFEST}"

    @property
    def shards_key(self) -> str:
        """The plan step's shards (the assemble step reads every shard's report by them)."""
        return f"{self.prefix}shards.json"

    def shard_key(self, index: int) -> str:
        """A shard's bytes."""
        return f"{self.prefix}shard-{index:05d}"

    def report_key(self, index: int) -> str:
        """A shard's report (rows, size, skipped records)."""
        return f"{self.prefix}shard-{index:05d}.json"

    def error_key(self, index: int | None) -> str:
        """Where a failed step keeps its reason (a shard's, or a coordinator step's)."""
        return (
            f"{self.prefix}shard-{index:05d}.error.json"
            if index is not None
            else f"{self.prefix}step.error.json"
        )


def write_manifest(s3: S3Client, bucket: str, plan: RunPlan) -> str:
    """Write the plan as the run's manifest; returns its key (the execution's input)."""
    key = WorkArea.of(plan).manifest_key
    s3.put_object(Bucket=bucket, Key=key, Body=plan.model_dump_json(by_alias=True).encode())
    return key


def read_manifest(s3: S3Client, bucket: str, key: str) -> RunPlan:
    """The plan a step works on; DistributedRunError when ``key`` is no manifest, or the manifest
    is of another version or does not fit the plan (naming the version or the fields)."""
    if not key.startswith(WORK_PREFIX) or not key.endswith(f"/{MANIFEST}"):
        raise DistributedRunError(f"manifestKey must be {WORK_PREFIX}.../{MANIFEST}, got {shown(key)}")
    data = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    found = data.get("version", "missing") if isinstance(data, dict) else "missing"
    if found != PLAN_VERSION:
        raise DistributedRunError(
            f"the manifest {key} is version {shown(str(found))}; this service reads version {PLAN_VERSION} "
            "(was the execution started by another release?)"
        )
    try:
        plan = RunPlan.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(manifest)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise DistributedRunError(f"the manifest {key} does not fit the run plan: {problems}") from None
    if WorkArea.of(plan).manifest_key != key:
        raise DistributedRunError(f"the manifest {key} is the plan of another run ({plan.run_id})")
    return plan
