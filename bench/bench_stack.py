"""What the export benchmarks share: their definition, and the template's tables, two buckets
and a topic created on local endpoints (dynalite, moto server).

Imported as ``bench_stack``: a bench runs as ``python bench/NAME.py``, so ``bench/`` is first
on ``sys.path``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.local_endpoints import repo_root
from tools.template_tables import table_definitions
from tracking_export_aws.aws import clients

REGION = "us-east-1"
# 16 columns: dates, learner, training and content cells, progress and time.
DEFINITION = """<export-config><export guid="bench">
<providers><trackingLogProvider><columns>
<logDate/><candidateId/><candidateName/><candidateFirstname/><candidateEmail/><candidateEntityName/>
<trainingTitle/><sessionTitle/><contentGuid/><contentTitle/><firstLaunchDate/><completionTime/>
<progression/><score/><status/><timeGlobal/>
</columns><parameters><deltaMode>yes</deltaMode></parameters></trackingLogProvider></providers>
</export></export-config>"""


@dataclass(frozen=True)
class BenchStack:
    """The resources of one bench run, and the clients that made them."""

    dynamodb: Any
    s3: Any
    tracking_table: str
    history_table: str
    config_bucket: str
    export_bucket: str
    topic_arn: str


def create_stack(moto: str, dynamo: str, suffix: str = "") -> BenchStack:
    """The template's tables (``bench-{logical id}{suffix}``), the config and export buckets
    and a topic (``bench-…{suffix}``)."""
    # The client of the loads and the tracking reads the benches time: as the functions make it
    # for those, without client-side parameter validation.
    dynamodb = clients.client("dynamodb", endpoint_url=dynamo, region=REGION, validated=False)
    s3 = clients.client("s3", endpoint_url=moto, region=REGION)
    tables = {}
    for logical_id, definition in table_definitions(repo_root() / "template.yaml").items():
        tables[logical_id] = f"bench-{logical_id}{suffix}"
        dynamodb.create_table(TableName=tables[logical_id], **definition)
    config_bucket, export_bucket = f"bench-config{suffix}", f"bench-exports{suffix}"
    for bucket in (config_bucket, export_bucket):
        s3.create_bucket(Bucket=bucket)
    topic = clients.client("sns", endpoint_url=moto, region=REGION).create_topic(Name=f"bench{suffix}")
    return BenchStack(
        dynamodb=dynamodb,
        s3=s3,
        tracking_table=next(v for k, v in tables.items() if "Tracking" in k),
        history_table=next(v for k, v in tables.items() if "History" in k),
        config_bucket=config_bucket,
        export_bucket=export_bucket,
        topic_arn=topic["TopicArn"],
    )
