"""The client factory's DynamoDB parser gives exactly what botocore's own parser gives."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from tracking_export_aws import clients

ITEM: dict[str, Any] = {
    "pk": {"S": "T#acme#L#2020-02-10#1"},
    "sk": {"S": "2020-02-10T09:30:00.000000Z#00000000000000009001"},
    "progression": {"N": "37.5"},
    "score": {"NULL": True},
    "imported": {"BOOL": False},
    "smartgroupIds": {"L": [{"N": "1"}, {"N": "3"}]},
    "customFields": {"M": {"cf-1": {"S": "Sales"}, "nested": {"L": [{"S": "x"}, {"BOOL": True}]}}},
    "tags": {"SS": ["a", "b"]},
    "ids": {"NS": ["1", "2"]},
    "blob": {"B": b"\x00\x01binary"},
    "blobs": {"BS": [b"\x02", b"\x03"]},
    "empty": {"S": ""},
}


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    clients.clear_cache()
    with mock_aws():
        yield
    clients.clear_cache()


def test_query_and_batch_get_parse_like_plain_boto3(aws: Any) -> None:
    plain = boto3.client("dynamodb", region_name="us-east-1")
    fast = clients.client("dynamodb", region="us-east-1")
    plain.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    plain.put_item(TableName="t", Item=ITEM)
    query = {
        "TableName": "t",
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": ITEM["pk"]},
    }
    expected, got = plain.query(**query)["Items"], fast.query(**query)["Items"]
    assert got == expected == [ITEM]
    keys = {"t": {"Keys": [{"pk": ITEM["pk"], "sk": ITEM["sk"]}]}}
    assert (
        fast.batch_get_item(RequestItems=keys)["Responses"]
        == plain.batch_get_item(RequestItems=keys)["Responses"]
    )


def test_errors_still_parse_into_client_errors(aws: Any) -> None:
    fast = clients.client("dynamodb", region="us-east-1")
    with pytest.raises(fast.exceptions.ResourceNotFoundException):
        fast.query(
            TableName="missing",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "x"}},
        )
