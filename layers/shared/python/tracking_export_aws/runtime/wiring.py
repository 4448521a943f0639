"""Builds each function's use cases from its settings: the one place adapters meet settings.

One builder per function of template.yaml, each taking that function's own settings model
(runtime/settings.py), so a use case can only be built from what its function is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tracking_export.source import TrackingSource
from tracking_export_aws.aws.clients import client, s3_presigner
from tracking_export_aws.aws.pauses import PauseRecords
from tracking_export_aws.aws.scheduler import ScheduleManager
from tracking_export_aws.aws.tracking_source import DynamoTrackingSource
from tracking_export_aws.config.store import ConfigStore
from tracking_export_aws.config.sync import ConfigSyncService
from tracking_export_aws.config.versions import ConfigVersions
from tracking_export_aws.ingest.erasure import LearnerEraser
from tracking_export_aws.ingest.retention import RetentionService, retention_event
from tracking_export_aws.ingest.service import IngestService, IngestSettings
from tracking_export_aws.notify.mailer import EmailChannel
from tracking_export_aws.notify.notifier import Notifier
from tracking_export_aws.ops.stuck_runs import StuckRuns
from tracking_export_aws.ops.watchdog import Watchdog
from tracking_export_aws.runs.handoff import HandOff
from tracking_export_aws.runs.ledger import RunLedger
from tracking_export_aws.runs.service import ExportService
from tracking_export_aws.runs.steps import Coordinator, ShardWorker
from tracking_export_aws.runtime.metrics import count_archive_failures
from tracking_export_aws.runtime.settings import (
    ChannelSettings,
    ConfigSettings,
    ConfigSyncSettings,
    CoordinatorSettings,
    EmailSettings,
    ExportSettings,
    IngestFunctionSettings,
    IngestRecoverySettings,
    RunChannelSettings,
    RunRecoverySettings,
    ScheduleSettings,
    ShardWorkerSettings,
    StuckRunsSettings,
    WatchdogSettings,
)


def notifier(settings: ChannelSettings, *, include_private: bool = False) -> Notifier:
    """The tenant-facing channels: the SNS topic, the event bus and, for functions with e-mail
    settings (run outcomes, config-invalid reports) and a sender, the SES e-mail."""
    channels = Notifier.for_aws(
        client("sns", settings),
        client("events", settings),
        settings.topic_arn,
        settings.event_bus_name,
        include_private=include_private,
    ).channels
    if isinstance(settings, EmailSettings) and settings.email_sender:
        return Notifier([*channels, EmailChannel.from_settings(settings)])
    return Notifier(channels)


def _run_notifier(settings: RunChannelSettings) -> Notifier:
    return notifier(settings, include_private=settings.events_include_private)


def config_store(settings: ConfigSettings) -> ConfigStore:
    """The configuration as runs see it: the last valid version of each object."""
    return ConfigStore(
        client("s3", settings), settings.config_bucket, config_versions(settings), limits=settings.limits
    )


def config_versions(settings: ConfigSettings) -> ConfigVersions:
    """The last-valid pointers, kept in the run-history table."""
    return ConfigVersions(client("dynamodb", settings), settings.run_history_table)


def _tracking_sources(
    settings: ShardWorkerSettings | ExportSettings | CoordinatorSettings,
) -> Callable[[str], TrackingSource]:
    # The fast read path: no client-side parameter validation (aws/clients.py says what it costs).
    dynamodb = client("dynamodb", settings, validated=False)
    table = settings.tracking_table

    def source_for(tenant_id: str) -> TrackingSource:
        return DynamoTrackingSource(tenant_id, table, dynamodb)

    return source_for


def _no_source(tenant_id: str) -> TrackingSource:
    raise RuntimeError(f"this function reads no tracking data (tenant {tenant_id!r})")


def export_service(settings: ExportSettings) -> ExportService:
    """``ExportFunction``: one run on the single path, or handed to the state machine."""
    dynamodb = client("dynamodb", settings)
    ledger = RunLedger(dynamodb, settings.run_history_table)
    hand_off = HandOff(
        s3=client("s3", settings),
        sfn=client("stepfunctions", settings),
        ledger=ledger,
        bucket=settings.export_bucket,
        state_machine_arn=settings.state_machine_arn,
        max_rows_per_worker=settings.max_rows_per_worker,
    )
    return ExportService(
        config=config_store(settings),
        ledger=ledger,
        notifier=_run_notifier(settings),
        s3=client("s3", settings),
        export_bucket=settings.export_bucket,
        source_for=_tracking_sources(settings),
        presigner=s3_presigner(settings),
        download_link_seconds=settings.download_link_seconds,
        limits=settings.limits,
        hand_off=hand_off,
        pauses=PauseRecords(dynamodb, settings.run_history_table),
        on_archive_failures=count_archive_failures,
    )


def run_recovery(settings: RunRecoverySettings) -> ExportService:
    """``RunRecoveryFunction``: the export service's ``recover`` (a failed record and its
    notification); it reads the configuration and the run history, and writes no file: the S3
    client is the configuration store's, and no export bucket is named (its role has no grant on
    one)."""
    config = config_store(settings)
    return ExportService(
        config=config,
        ledger=RunLedger(client("dynamodb", settings), settings.run_history_table),
        notifier=_run_notifier(settings),
        s3=config.s3,
        export_bucket="",
        source_for=_no_source,
        limits=settings.limits,
    )


def shard_worker(settings: ShardWorkerSettings) -> ShardWorker:
    """``ExportWorkerFunction``: the render step only (tracking table in, ``_work/`` out; no
    notifier, mailer nor configuration store: the run's plan says everything)."""
    return ShardWorker(
        s3=client("s3", settings),
        bucket=settings.export_bucket,
        source_for=_tracking_sources(settings),
        limits=settings.limits,
    )


def coordinator(settings: CoordinatorSettings) -> Coordinator:
    """``ExportCoordinatorFunction``: plan, assemble, finish and fail; a run ends as the export
    function ends a single one (its outbox, channels and links), from the run's plan alone."""
    return Coordinator(
        s3=client("s3", settings),
        bucket=settings.export_bucket,
        ledger=RunLedger(client("dynamodb", settings), settings.run_history_table),
        notifier=_run_notifier(settings),
        source_for=_tracking_sources(settings),
        presigner=s3_presigner(settings),
        download_link_seconds=settings.download_link_seconds,
        max_concurrency=settings.max_concurrency,
        on_archive_failures=count_archive_failures,
    )


def stuck_runs(settings: StuckRunsSettings) -> StuckRuns:
    """``StuckRunsFunction``: it ends single runs as the recovery does (from the configuration
    and the run history) and distributed ones as the fail step does (from the run's plan, with
    the export bucket's uploads and work prefix); it reads no tracking data (ops/stuck_runs.py)."""
    config = config_store(settings)
    ledger = RunLedger(client("dynamodb", settings), settings.run_history_table)
    channels = _run_notifier(settings)
    s3 = client("s3", settings)
    return StuckRuns(
        service=ExportService(
            config=config,
            ledger=ledger,
            notifier=channels,
            s3=s3,
            export_bucket=settings.export_bucket,
            source_for=_no_source,
            limits=settings.limits,
        ),
        coordinator=Coordinator(
            s3=s3, bucket=settings.export_bucket, ledger=ledger, notifier=channels, source_for=_no_source
        ),
        state_machine_arn=settings.state_machine_arn,
        sfn=client("stepfunctions", settings),
    )


def _schedules(settings: ScheduleSettings) -> ScheduleManager:
    """The exports' schedules, written as config-sync writes them (the watchdog repairs them so)."""
    return ScheduleManager(
        client("scheduler", settings),
        settings.schedule_group,
        settings.export_function_arn,
        settings.scheduler_role_arn,
        settings.schedule_dlq_arn,
    )


def config_sync_service(settings: ConfigSyncSettings) -> ConfigSyncService:
    """``ConfigSyncFunction``."""
    versions = config_versions(settings)
    return ConfigSyncService(
        config=ConfigStore(client("s3", settings), settings.config_bucket, versions, limits=settings.limits),
        schedules=_schedules(settings),
        notifier=notifier(settings),
        versions=versions,
        limits=settings.limits,
        request_retention=retention_requester(settings),
        pauses=PauseRecords(client("dynamodb", settings), settings.run_history_table),
    )


def watchdog(
    settings: WatchdogSettings, start_run: Callable[[dict[str, str]], None] | None = None
) -> Watchdog:
    """``WatchdogFunction``: the missed-run watchdog; ``start_run`` defaults to an asynchronous
    invocation of the export function with the payload, as Scheduler's own delivery."""
    dynamodb = client("dynamodb", settings)
    versions = ConfigVersions(dynamodb, settings.run_history_table)
    return Watchdog(
        config=ConfigStore(client("s3", settings), settings.config_bucket, versions, limits=settings.limits),
        versions=versions,
        schedules=_schedules(settings),
        ledger=RunLedger(dynamodb, settings.run_history_table),
        pauses=PauseRecords(dynamodb, settings.run_history_table),
        start_run=start_run or _invoker(settings, settings.export_function_arn),
        lookback=timedelta(hours=settings.lookback_hours),
        grace=timedelta(minutes=settings.grace_minutes),
        max_starts=settings.max_starts,
        limits=settings.limits,
    )


def _invoker(settings: WatchdogSettings, function_arn: str) -> Callable[[dict[str, str]], None]:
    lambda_client = client("lambda", settings)

    def invoke(payload: dict[str, str]) -> None:
        lambda_client.invoke(
            FunctionName=function_arn, InvocationType="Event", Payload=json.dumps(payload).encode()
        )

    return invoke


def retention_requester(settings: ConfigSyncSettings) -> Callable[[str, str], None] | None:
    """What config-sync calls after a valid tenant.json: an asynchronous invocation of the ingest
    function (``INGEST_FUNCTION_NAME``) with that object's S3 notification; None without one."""
    if not settings.ingest_function_name:
        return None
    lambda_client = client("lambda", settings)
    function_name = settings.ingest_function_name

    def request(bucket: str, key: str) -> None:
        lambda_client.invoke(
            FunctionName=function_name,
            InvocationType="Event",
            Payload=json.dumps(retention_event(bucket, key)).encode(),
        )

    return request


def ingest_service(
    settings: IngestFunctionSettings, continue_with: Callable[[dict[str, Any]], None] | None
) -> IngestService:
    """``IngestFunction``'s ingestion (``continue_with`` hands on the next range)."""
    return IngestService(
        s3=client("s3", settings),
        # The loader's batches: no client-side parameter validation (aws/clients.py).
        dynamodb=client("dynamodb", settings, validated=False),
        table=settings.tracking_table,
        config=config_store(settings),
        notifier=notifier(settings),
        settings=IngestSettings(
            bucket=settings.ingest_bucket,
            max_bytes_per_invocation=settings.max_bytes_per_invocation,
            max_line_bytes=settings.max_line_bytes,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            max_compression_ratio=settings.max_compression_ratio,
        ),
        continue_with=continue_with,
        dead_letter=_dead_letter(settings),
    )


def ingest_recovery(settings: IngestRecoverySettings) -> IngestService:
    """``IngestRecoveryFunction``: the ingestion's ``give_up`` (the progress item read, the
    tenant told, the event kept). It reads no file nor configuration: its S3 client and
    configuration store are never called, and its role grants neither."""
    s3 = client("s3", settings)
    return IngestService(
        s3=s3,
        dynamodb=client("dynamodb", settings),
        table=settings.tracking_table,
        config=ConfigStore(s3, settings.config_bucket, limits=settings.limits),
        notifier=notifier(settings),
        settings=IngestSettings(bucket=settings.ingest_bucket),
        dead_letter=_dead_letter(settings),
    )


def _dead_letter(
    settings: IngestFunctionSettings | IngestRecoverySettings,
) -> Callable[[dict[str, Any]], None]:
    """Keeps an event in the ingest dead-letter queue (``INGEST_DLQ_URL``), to be re-driven."""
    sqs, queue_url = client("sqs", settings), settings.dead_letter_queue_url

    def dead_letter(event: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))

    return dead_letter


def learner_eraser(settings: IngestFunctionSettings, *, notify: bool = True) -> LearnerEraser:
    """``IngestFunction``'s erasure (also ``tools/erase_learner.py``)."""
    return LearnerEraser(
        dynamodb=client("dynamodb", settings),
        table=settings.tracking_table,
        s3=client("s3", settings),
        export_bucket=settings.export_bucket,
        config=config_store(settings),
        notifier=notifier(settings) if notify else None,
    )


def retention_service(settings: IngestFunctionSettings) -> RetentionService:
    """``IngestFunction``'s retention (also ``tools/apply_retention.py``)."""
    return RetentionService(
        config=config_store(settings),
        dynamodb=client("dynamodb", settings),
        table=settings.tracking_table,
    )
