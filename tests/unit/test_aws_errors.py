"""aws/errors.py: an AWS SDK failure read without the use case importing botocore — its code
and operation, and whether trying again as is may succeed (botocore's standard retry mode:
throttling, 429 and 5xx answers, request timeouts, dropped connections)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from tracking_export_aws.aws.errors import AwsError, describe_aws_error


def _client_error(code: str | None, operation: str = "PutObject", status: int | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code} if code is not None else {}}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, operation)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("SlowDown", 503),  # S3 asks to slow down
        ("ThrottlingException", 400),  # DynamoDB control plane, SNS, Scheduler …
        ("ProvisionedThroughputExceededException", 400),
        ("TooManyRequestsException", 429),
        ("RequestLimitExceeded", None),
        ("InternalError", 500),
        ("InternalServerError", None),  # a 5xx code without its status still reads as one
        ("ServiceUnavailable", 503),
        ("RequestTimeout", 400),  # S3: the upload was too slow to arrive
        ("SomethingNew", 502),  # an unknown code on a 5xx answer
    ],
)
def test_throttling_server_errors_and_timeouts_are_transient(code: str, status: int | None) -> None:
    found = describe_aws_error(_client_error(code, "UpdateItem", status))
    assert found == AwsError("ClientError", code, "UpdateItem", status, transient=True)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDenied", 403),
        ("NoSuchKey", 404),
        ("PreconditionFailed", 412),
        ("ConditionalCheckFailedException", 400),
        ("ValidationException", 400),
        ("ResourceNotFoundException", 400),
    ],
)
def test_refusals_that_would_come_again_are_not_transient(code: str, status: int) -> None:
    found = describe_aws_error(_client_error(code, "GetObject", status))
    assert found is not None and (found.code, found.operation, found.transient) == (code, "GetObject", False)


def test_an_answer_without_a_code_is_named_unknown() -> None:
    found = describe_aws_error(_client_error(None, "Publish"))
    assert found is not None and (found.code, found.transient) == ("unknown", False)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com"), True),
        (ConnectTimeoutError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"), True),
        (ReadTimeoutError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"), True),
        (NoCredentialsError(), False),
        (ParamValidationError(report="Bucket: missing"), False),
    ],
)
def test_failures_on_the_way_are_named_by_kind(error: Exception, transient: bool) -> None:
    found = describe_aws_error(error)
    assert found == AwsError(type(error).__name__, None, None, None, transient)


@pytest.mark.parametrize("error", [RuntimeError("boom"), ValueError("x"), KeyError("k")])
def test_anything_else_is_not_an_aws_error(error: Exception) -> None:
    assert describe_aws_error(error) is None


def test_the_failure_reason_reads_aws_errors_through_the_adapter() -> None:
    """The tenant-safe reasons (runs/failure.py) keep their words: code and operation, or kind."""
    from tracking_export_aws.runs.failure import run_failure_reason

    assert run_failure_reason(_client_error("SlowDown", "PutObject", 503)) == (
        "AWS error 'SlowDown' in PutObject; the run can be retried"
    )
    assert run_failure_reason(EndpointConnectionError(endpoint_url="https://secret.internal")) == (
        "AWS request failed (EndpointConnectionError); the run can be retried"
    )
