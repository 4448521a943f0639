"""runs/failure.py's ``is_transient``: which run failures another attempt may heal (Lambda's
retry on the single path, the state machine's Retry on the distributed one) and which fail the
run at once (docs/run-lifecycle.md, "Transient and permanent failures")."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from tracking_export.errors import DefinitionError, ExportRunError
from tracking_export_aws.aws.errors import TransientAwsError
from tracking_export_aws.aws.s3_sink import ObjectExists
from tracking_export_aws.config.store import ConfigError, ConfigInvalid, ConfigNotFound
from tracking_export_aws.runs.failure import is_transient, run_failure_reason
from tracking_export_aws.runs.guard import RunDeadlineExceeded
from tracking_export_aws.runs.ledger import LeaseLostError


def _client_error(code: str, operation: str = "Query", status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, operation)


def _config_error_from(cause: BaseException) -> ConfigError:
    try:
        raise ConfigError("cannot read s3://config/tenants/acme/tenant.json: ServiceUnavailable") from cause
    except ConfigError as exc:
        return exc


@pytest.mark.parametrize(
    "error",
    [
        _client_error("InternalServerError", status=500),
        _client_error("ProvisionedThroughputExceededException"),
        _client_error("ThrottlingException"),
        _client_error("SlowDown", "PutObject", 503),
        _client_error("RequestTimeout", "UploadPart"),
        ReadTimeoutError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"),
        EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com"),
        # The configuration could not be read because S3 answered a server error.
        _config_error_from(_client_error("ServiceUnavailable", "GetObject", 503)),
        TransientAwsError("AWS error 'SlowDown' in PutObject; the run can be retried"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_throttling_server_errors_timeouts_and_dropped_connections_are_transient(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        _client_error("AccessDenied", "PutObject", 403),  # the tenant's own objects refused
        _client_error("AccessDeniedException", "Query"),
        _client_error("ValidationException", "Query"),
        _client_error("NoSuchBucket", "PutObject", 404),
        DefinitionError(["line 3: <noSuchColumn> is not a column"]),
        ConfigInvalid("tenants/acme/tenant.json", ["timezone: not a zone"]),
        ConfigNotFound("config", "tenants/acme/exports/nightly.xml"),
        ExportRunError("row 12, column candidateName: a character the encoding cannot write"),
        RunDeadlineExceeded("the run was stopped with 45 s of the function's time left"),
        ObjectExists("exports", "tenants/acme/nightly.csv"),
        _config_error_from(_client_error("AccessDenied", "GetObject", 403)),
        KeyError("a bug fails the same way again"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_what_would_fail_again_is_permanent(error: Exception) -> None:
    assert not is_transient(error)


def test_a_lost_lease_is_not_a_failure_at_all() -> None:
    # The run goes on elsewhere: it is neither retried nor failed (runs/service.py).
    assert not is_transient(LeaseLostError("run acme/nightly/… was taken over"))


def test_a_transient_step_error_is_quoted_as_its_own_words() -> None:
    reason = "shard 2 failed: AWS error 'SlowDown' in PutObject; the run can be retried"
    assert run_failure_reason(TransientAwsError(reason)) == reason
