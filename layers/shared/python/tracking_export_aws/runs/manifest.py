"""The manifest of a distributed run: everything its steps need, written once by the export
function into the run's work prefix (``_work/{tenant}/{export}/{run}-{attempt}/manifest.json``).

Every step sees the same definition even if the tenant uploads a new one meanwhile, and the
state machine's payloads stay small.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tracking_export.limits import DEFAULT_LIMITS, Limits, shown
from tracking_export.model import ExportDefinition
from tracking_export.source import parse_instant
from tracking_export_aws.aws import keys
from tracking_export_aws.aws.s3_objects import WORK_PREFIX, DistributedRunError
from tracking_export_aws.config.definitions import checked_definition
from tracking_export_aws.runs.ledger import Claim

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client


def work_prefix(tenant_id: str, export_guid: str, run_number: int, attempt: int) -> str:
    """The internal prefix of one attempt of one run (never under the tenants' ``tenants/``)."""
    tenant, guid = keys.validate_tenant_id(tenant_id), keys.validate_export_guid(export_guid)
    return f"{WORK_PREFIX}{tenant}/{guid}/{run_number}-{attempt}/"


@dataclass(frozen=True)
class Manifest:
    """What every step of one distributed run needs (JSON in the work prefix)."""

    bucket: str
    work: str
    data: Mapping[str, Any]

    @property
    def tenant_id(self) -> str:
        return str(self.data["tenantId"])

    @property
    def export_guid(self) -> str:
        return str(self.data["exportGuid"])

    @property
    def timezone(self) -> str:
        return str(self.data["timezone"])

    @property
    def run_time(self) -> datetime:
        return _manifest_instant(self.data["runAt"])

    @property
    def previous_success_start(self) -> datetime | None:
        value = self.data.get("previousSuccessStart")
        return _manifest_instant(value) if value else None

    @property
    def started_at(self) -> datetime:
        """When the export function handed the run to its execution."""
        return _manifest_instant(self.data["startedAt"])

    @property
    def object_key(self) -> str:
        return str(self.data["objectKey"])

    def definition(self, limits: Limits = DEFAULT_LIMITS) -> ExportDefinition:
        return checked_definition(base64.b64decode(self.data["definition"]), self.export_guid, limits)

    def claim(self) -> Claim:
        """The claim the execution holds (its name is the run's holder)."""
        return Claim(
            self.tenant_id,
            self.export_guid,
            _manifest_instant(self.data["scheduledTime"]),
            claimed=True,
            run_number=int(self.data["runNumber"]),
            token=str(self.data["claimToken"]),
            started_at=_manifest_instant(self.data["runStart"]),
            attempt=int(self.data["attempt"]),
            invocation_id=str(self.data["holder"]),
        )

    def shard_key(self, index: int) -> str:
        return f"{self.work}shard-{index:05d}"

    def report_key(self, index: int) -> str:
        return f"{self.work}shard-{index:05d}.json"

    def error_key(self, index: int | None) -> str:
        """Where a failed step keeps its reason (a shard's, or a coordinator step's)."""
        return (
            f"{self.work}shard-{index:05d}.error.json" if index is not None else f"{self.work}step.error.json"
        )

    @property
    def plan_key(self) -> str:
        return f"{self.work}plan.json"

    @classmethod
    def read(cls, s3: S3Client, bucket: str, key: str) -> Manifest:
        if not key.startswith(WORK_PREFIX) or not key.endswith("/manifest.json"):
            raise DistributedRunError(f"manifestKey must be {WORK_PREFIX}.../manifest.json, got {shown(key)}")
        data = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return cls(bucket, key.removesuffix("manifest.json"), data)


def _manifest_instant(value: Any) -> datetime:
    parsed = parse_instant(value)
    if parsed is None:
        raise DistributedRunError(f"expected an ISO 8601 instant, got {shown(str(value))}")
    return parsed
