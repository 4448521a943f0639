"""Builds the use cases from the environment: the one place adapters meet settings."""

from __future__ import annotations

from tracking_export.source import TrackingSource
from tracking_export_aws.clients import client
from tracking_export_aws.config_store import ConfigStore
from tracking_export_aws.config_sync import ConfigSyncService
from tracking_export_aws.distributed import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_ROWS_PER_WORKER,
    Router,
    Steps,
)
from tracking_export_aws.dynamo_source import DynamoTrackingSource
from tracking_export_aws.export_service import ExportService
from tracking_export_aws.ledger import RunLedger
from tracking_export_aws.notifier import Notifier
from tracking_export_aws.scheduler import ScheduleManager
from tracking_export_aws.settings import AwsSettings


def notifier(settings: AwsSettings) -> Notifier:
    return Notifier(
        client("sns", settings), client("events", settings), settings.topic_arn, settings.event_bus_name
    )


def export_service(settings: AwsSettings) -> ExportService:
    settings.need("export_bucket", "tracking_table", "run_history_table")
    assert settings.export_bucket and settings.tracking_table and settings.run_history_table
    dynamodb = client("dynamodb", settings)
    table = settings.tracking_table

    def source_for(tenant_id: str) -> TrackingSource:
        return DynamoTrackingSource(tenant_id, table, dynamodb)

    ledger = RunLedger(dynamodb, settings.run_history_table)
    router = None
    if settings.state_machine_arn:
        router = Router(
            s3=client("s3", settings),
            sfn=client("stepfunctions", settings),
            ledger=ledger,
            bucket=settings.export_bucket,
            state_machine_arn=settings.state_machine_arn,
            max_rows_per_worker=settings.max_rows_per_worker or DEFAULT_MAX_ROWS_PER_WORKER,
        )
    return ExportService(
        config=ConfigStore(client("s3", settings), settings.config_bucket),
        ledger=ledger,
        notifier=notifier(settings),
        s3=client("s3", settings),
        export_bucket=settings.export_bucket,
        source_for=source_for,
        router=router,
    )


def distributed_steps(settings: AwsSettings) -> Steps:
    """The state machine's steps (plan, render, assemble, finish, fail)."""
    settings.need("export_bucket", "tracking_table", "run_history_table")
    assert settings.export_bucket and settings.tracking_table and settings.run_history_table
    dynamodb = client("dynamodb", settings)
    table = settings.tracking_table

    def source_for(tenant_id: str) -> TrackingSource:
        return DynamoTrackingSource(tenant_id, table, dynamodb)

    return Steps(
        s3=client("s3", settings),
        bucket=settings.export_bucket,
        ledger=RunLedger(dynamodb, settings.run_history_table),
        notifier=notifier(settings),
        source_for=source_for,
        max_concurrency=settings.max_concurrency or DEFAULT_MAX_CONCURRENCY,
    )


def config_sync_service(settings: AwsSettings) -> ConfigSyncService:
    settings.need("schedule_group", "export_function_arn", "scheduler_role_arn", "schedule_dlq_arn")
    assert settings.schedule_group and settings.export_function_arn
    assert settings.scheduler_role_arn and settings.schedule_dlq_arn
    return ConfigSyncService(
        config=ConfigStore(client("s3", settings), settings.config_bucket),
        schedules=ScheduleManager(
            client("scheduler", settings),
            settings.schedule_group,
            settings.export_function_arn,
            settings.scheduler_role_arn,
            settings.schedule_dlq_arn,
        ),
        notifier=notifier(settings),
    )
