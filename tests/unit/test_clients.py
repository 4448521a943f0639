"""The client factory's DynamoDB parser gives exactly what botocore's own parser gives."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from tracking_export_aws.aws import clients

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


TABLE = {
    "TableName": "t",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
TEXT_ITEM = {k: v for k, v in ITEM.items() if k not in ("blob", "blobs")}
QUERY = {
    "TableName": "t",
    "KeyConditionExpression": "pk = :pk",
    "ExpressionAttributeValues": {":pk": ITEM["pk"]},
}


def test_answers_without_binary_values_take_the_fast_path(aws: Any) -> None:
    plain = boto3.client("dynamodb", region_name="us-east-1")
    fast = clients.client("dynamodb", region="us-east-1")
    plain.create_table(**TABLE)
    plain.put_item(TableName="t", Item=TEXT_ITEM)
    counts = clients.item_read_parsers(fast)
    assert counts is not None
    fast_before, standard_before = counts.fast_answers, counts.standard_answers
    got = fast.query(**QUERY)
    assert counts.fast_answers == fast_before + 1
    assert counts.standard_answers == standard_before
    expected = plain.query(**QUERY)
    assert got["Items"] == expected["Items"] == [TEXT_ITEM]
    assert (got["Count"], got["ScannedCount"]) == (expected["Count"], expected["ScannedCount"]) == (1, 1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["ResponseMetadata"]["RequestId"] == got["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    keys = {"t": {"Keys": [{"pk": ITEM["pk"], "sk": ITEM["sk"]}]}}
    assert fast.batch_get_item(RequestItems=keys)["Responses"] == {"t": [TEXT_ITEM]}
    assert counts.fast_answers == fast_before + 2
    # Other operations keep botocore's parser.
    fast.describe_table(TableName="t")
    assert counts.standard_answers == standard_before + 1


def test_binary_values_go_to_the_standard_parser(aws: Any) -> None:
    fast = clients.client("dynamodb", region="us-east-1")
    fast.create_table(**TABLE)
    fast.put_item(TableName="t", Item=ITEM)
    counts = clients.item_read_parsers(fast)
    assert counts is not None
    fast_before = counts.fast_answers
    (item,) = fast.query(**QUERY)["Items"]
    assert item["blob"] == {"B": b"\x00\x01binary"}  # bytes, as botocore decodes base64
    assert counts.fast_answers == fast_before


class _BrokenJson:
    """Stands in for whatever a botocore or Python upgrade could break in the fast path."""

    @staticmethod
    def loads(_: bytes) -> Any:
        raise ValueError("simulated failure of the fast path")


def test_any_failure_of_the_fast_path_falls_back_to_botocore(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = clients.client("dynamodb", region="us-east-1")
    fast.create_table(**TABLE)
    fast.put_item(TableName="t", Item=TEXT_ITEM)
    counts = clients.item_read_parsers(fast)
    assert counts is not None
    monkeypatch.setattr(clients, "json", _BrokenJson)
    fast_before, standard_before = counts.fast_answers, counts.standard_answers
    got = fast.query(**QUERY)
    assert got["Items"] == [TEXT_ITEM]
    assert (counts.fast_answers, counts.standard_answers) == (fast_before, standard_before + 1)


def test_other_clients_keep_botocore_parsers(aws: Any) -> None:
    assert clients.item_read_parsers(clients.client("s3", region="us-east-1")) is None


def test_only_the_clients_asked_so_skip_botocore_parameter_validation(aws: Any) -> None:
    from botocore.exceptions import ParamValidationError

    # A parameter a service does not have: botocore refuses it before any request is made, for
    # every client by default (DynamoDB's included).
    with pytest.raises(ParamValidationError, match='Unknown parameter in input: "Buckett"'):
        clients.client("s3", region="us-east-1").head_bucket(Buckett="exports")
    with pytest.raises(ParamValidationError, match='Unknown parameter in input: "Limitt"'):
        clients.client("dynamodb", region="us-east-1").list_tables(Limitt=3)
    # Without the validation pass (the tracking reads, the loader), the unknown parameter
    # reaches botocore's serializer.
    unchecked = clients.client("dynamodb", region="us-east-1", validated=False)
    assert unchecked is not clients.client("dynamodb", region="us-east-1")
    with pytest.raises(Exception) as raised:  # any error but the validation's
        unchecked.list_tables(Limitt=3)
    assert not isinstance(raised.value, ParamValidationError)
    # Both read DynamoDB's answers through the project's parser.
    assert clients.item_read_parsers(unchecked) is not None
