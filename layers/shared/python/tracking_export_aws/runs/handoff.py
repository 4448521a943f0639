"""The distributed path's producer, export function side: a run whose plan routes it to the
state machine is handed to a Step Functions execution here.

The plan is written as the run's manifest (runs/manifest.py), the export function's
heartbeat stops, and one conditional update hands the claim to the execution
(``RunLedger.hand_off``: a lease as long as the execution may live, the execution's name as
holder, ``path: distributed``); then the execution starts. Its steps render the shards,
assemble the file and finish the run (runs/steps.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tracking_export_aws.aws.s3_objects import delete_prefix
from tracking_export_aws.runs.ledger import RunLedger
from tracking_export_aws.runs.manifest import WorkArea, write_manifest
from tracking_export_aws.runs.plan import RunPlan, execution_name

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

# Rows one worker renders. Measured by bench/distributed.py (docs/capacity.md): 8,500 rows per
# CPU-second on the e2e definition (a busy shared machine; issue 7 measured 13,800), so a 900 s
# one-vCPU worker could do 7.6M rows. A sixth of that, rounded down: one shard takes about two
# minutes and finishes well inside the timeout on a slow day, under throttling or a cold start.
DEFAULT_MAX_ROWS_PER_WORKER = 1_000_000
# The state machine's own timeout (TimeoutSeconds in the ASL) plus a margin: the claim is held
# this long for the execution, so a duplicate delivery meanwhile does nothing.
EXECUTION_TIMEOUT_SECONDS = 6 * 3600
DISTRIBUTED_LEASE_SECONDS = EXECUTION_TIMEOUT_SECONDS + 900


@dataclass
class HandOff:
    """Starts the state machine on runs whose plan routes them there (above
    ``max_rows_per_worker`` estimated rows: runs/plan.py decides)."""

    s3: S3Client
    sfn: SFNClient
    ledger: RunLedger
    bucket: str
    state_machine_arn: str
    max_rows_per_worker: int = DEFAULT_MAX_ROWS_PER_WORKER
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def start(self, plan: RunPlan, *, before_hand_off: Callable[[], None] = lambda: None) -> str:
        """Hand the run to its execution; returns the execution's ARN.

        ``before_hand_off`` stops the export function's heartbeat, whose short lease must not
        replace the execution's. If the execution cannot start, its work prefix is removed
        and the error raised: the run then fails like any other (the claim's token is
        unchanged).
        """
        if plan.route is None or plan.route.path != "distributed" or plan.claim.holder is None:
            raise ValueError(f"the plan of run {plan.run_id} does not route it to the state machine")
        manifest_key = write_manifest(self.s3, self.bucket, plan)
        # From here the execution holds the claim: a duplicate delivery, a retry of this
        # invocation and run recovery all leave the run alone until the execution ends it.
        before_hand_off()
        until = self.clock() + timedelta(seconds=DISTRIBUTED_LEASE_SECONDS)
        self.ledger.hand_off(
            plan.ledger_claim(), plan.claim.holder, until, estimated_rows=plan.route.estimated_rows
        )
        name = execution_name(
            plan.tenant_id, plan.export_guid, plan.scheduled_time, plan.claim.attempt, plan.replay_id
        )
        try:
            response = self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=name,
                input=json.dumps({"manifestKey": manifest_key}),
            )
        except Exception:
            delete_prefix(self.s3, self.bucket, WorkArea.of(plan).prefix)
            raise
        return str(response["executionArn"])
