"""Builds the use cases from the environment: the one place adapters meet settings."""

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
from tracking_export_aws.ops.watchdog import Watchdog
from tracking_export_aws.runs.handoff import DEFAULT_MAX_ROWS_PER_WORKER, HandOff
from tracking_export_aws.runs.ledger import RunLedger
from tracking_export_aws.runs.service import ExportService
from tracking_export_aws.runs.steps import DEFAULT_MAX_CONCURRENCY, Coordinator, ShardWorker
from tracking_export_aws.runtime.settings import AwsSettings, WatchdogSettings


def notifier(settings: AwsSettings, *, email: bool = False) -> Notifier:
    """The tenant-facing channels: the SNS topic, the event bus and, for run outcomes and
    config-invalid reports (``email``) when ``EMAIL_SENDER`` is set, the SES e-mail."""
    channels = Notifier.for_aws(
        client("sns", settings),
        client("events", settings),
        settings.topic_arn,
        settings.event_bus_name,
        include_private=settings.events_include_private,
    ).channels
    if email and settings.email_sender:
        return Notifier([*channels, EmailChannel.from_settings(settings)])
    return Notifier(channels)


def config_versions(settings: AwsSettings) -> ConfigVersions | None:
    """The last-valid pointers, kept in the run-history table (None without one)."""
    if not settings.run_history_table:
        return None
    return ConfigVersions(client("dynamodb", settings), settings.run_history_table)


def _sources(table: str, dynamodb: Any) -> Callable[[str], TrackingSource]:
    """Each tenant's tracking source on the tracking table."""

    def source_for(tenant_id: str) -> TrackingSource:
        return DynamoTrackingSource(tenant_id, table, dynamodb)

    return source_for


def export_service(settings: AwsSettings) -> ExportService:
    """The export function's (and the recovery function's) service: it prepares, produces and
    finishes single runs, and hands distributed ones to the state machine."""
    export_bucket, table, run_history_table = settings.need(
        "export_bucket", "tracking_table", "run_history_table"
    )
    dynamodb = client("dynamodb", settings)
    ledger = RunLedger(dynamodb, run_history_table)
    hand_off = None
    if settings.state_machine_arn:
        hand_off = HandOff(
            s3=client("s3", settings),
            sfn=client("stepfunctions", settings),
            ledger=ledger,
            bucket=export_bucket,
            state_machine_arn=settings.state_machine_arn,
            max_rows_per_worker=settings.max_rows_per_worker or DEFAULT_MAX_ROWS_PER_WORKER,
        )
    return ExportService(
        config=ConfigStore(
            client("s3", settings), settings.config_bucket, config_versions(settings), limits=settings.limits
        ),
        ledger=ledger,
        notifier=notifier(settings, email=True),
        s3=client("s3", settings),
        export_bucket=export_bucket,
        source_for=_sources(table, dynamodb),
        presigner=s3_presigner(settings),
        finish_reserve_seconds=settings.finish_reserve_seconds,
        download_link_seconds=settings.download_link_seconds,
        limits=settings.limits,
        hand_off=hand_off,
        pauses=PauseRecords(dynamodb, run_history_table),
    )


def shard_worker(settings: AwsSettings) -> ShardWorker:
    """The worker's render step: the tracking table and the work prefix, nothing else (no
    notifier, mailer nor configuration store: the run's plan says everything)."""
    export_bucket, table = settings.need("export_bucket", "tracking_table")
    return ShardWorker(
        s3=client("s3", settings),
        bucket=export_bucket,
        source_for=_sources(table, client("dynamodb", settings)),
        limits=settings.limits,
    )


def coordinator(settings: AwsSettings) -> Coordinator:
    """The coordinator's steps (plan, assemble, finish, fail): they end a run as the export
    function ends a single one (its outbox, channels and links), from the run's plan alone."""
    export_bucket, table, run_history_table = settings.need(
        "export_bucket", "tracking_table", "run_history_table"
    )
    dynamodb = client("dynamodb", settings)
    return Coordinator(
        s3=client("s3", settings),
        bucket=export_bucket,
        ledger=RunLedger(dynamodb, run_history_table),
        notifier=notifier(settings, email=True),
        source_for=_sources(table, dynamodb),
        presigner=s3_presigner(settings),
        download_link_seconds=settings.download_link_seconds,
        max_concurrency=settings.max_concurrency or DEFAULT_MAX_CONCURRENCY,
    )


def config_sync_service(settings: AwsSettings) -> ConfigSyncService:
    group, function_arn, role_arn, dlq_arn, run_history_table = settings.need(
        "schedule_group", "export_function_arn", "scheduler_role_arn", "schedule_dlq_arn", "run_history_table"
    )
    versions = config_versions(settings)
    return ConfigSyncService(
        config=ConfigStore(client("s3", settings), settings.config_bucket, versions, limits=settings.limits),
        schedules=ScheduleManager(
            client("scheduler", settings),
            group,
            function_arn,
            role_arn,
            dlq_arn,
        ),
        notifier=notifier(settings, email=True),
        versions=versions,
        limits=settings.limits,
        request_retention=retention_requester(settings),
        pauses=PauseRecords(client("dynamodb", settings), run_history_table),
    )


def watchdog(
    settings: WatchdogSettings, start_run: Callable[[dict[str, str]], None] | None = None
) -> Watchdog:
    """The missed-run watchdog; ``start_run`` defaults to an asynchronous invocation of the
    export function with the payload, as Scheduler's own delivery."""
    dynamodb = client("dynamodb", settings)
    versions = ConfigVersions(dynamodb, settings.run_history_table)
    return Watchdog(
        config=ConfigStore(client("s3", settings), settings.config_bucket, versions, limits=settings.limits),
        versions=versions,
        schedules=ScheduleManager(
            client("scheduler", settings),
            settings.schedule_group,
            settings.export_function_arn,
            settings.scheduler_role_arn,
            settings.schedule_dlq_arn,
        ),
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


def retention_requester(settings: AwsSettings) -> Callable[[str, str], None] | None:
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


def _config_store(settings: AwsSettings) -> ConfigStore:
    """The configuration as runs see it: the last valid version of each object."""
    return ConfigStore(
        client("s3", settings), settings.config_bucket, config_versions(settings), limits=settings.limits
    )


def ingest_service(
    settings: AwsSettings, ingest: IngestSettings, continue_with: Callable[[dict[str, Any]], None] | None
) -> IngestService:
    (table,) = settings.need("tracking_table")
    dead_letter = None
    if ingest.dead_letter_queue_url:
        sqs, queue_url = client("sqs", settings), ingest.dead_letter_queue_url

        def dead_letter(event: dict[str, Any]) -> None:
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))

    return IngestService(
        s3=client("s3", settings),
        dynamodb=client("dynamodb", settings),
        table=table,
        config=_config_store(settings),
        notifier=notifier(settings),
        settings=ingest,
        continue_with=continue_with,
        dead_letter=dead_letter,
    )


def learner_eraser(settings: AwsSettings, *, notify: bool = True) -> LearnerEraser:
    table, export_bucket = settings.need("tracking_table", "export_bucket")
    return LearnerEraser(
        dynamodb=client("dynamodb", settings),
        table=table,
        s3=client("s3", settings),
        export_bucket=export_bucket,
        config=_config_store(settings),
        notifier=notifier(settings) if notify else None,
    )


def retention_service(settings: AwsSettings) -> RetentionService:
    (table,) = settings.need("tracking_table")
    return RetentionService(
        config=_config_store(settings),
        dynamodb=client("dynamodb", settings),
        table=table,
    )
