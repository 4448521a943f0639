"""What an AWS SDK exception says, in terms a use case can act on without importing botocore.

:func:`describe_aws_error` reads a botocore exception: the error code and the operation of a
service's answer (``ClientError``), or the kind of a failure on the way (``BotoCoreError``:
connection, timeout, credentials…), and whether it is *transient* — worth trying again as
it is. The classification follows botocore's own standard retry mode
(``botocore/retries/standard.py``): throttling codes, HTTP 429 and 5xx answers, request
timeouts, and connection or HTTP-level errors are transient; anything else (a refused
permission, a missing object, a bad parameter) would fail the same way again.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

# Codes botocore's standard retry mode treats as throttling (ThrottledRetryableChecker).
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
# Request timeouts (TransientRetryableChecker), and the codes services give their 5xx answers:
# an error built without its HTTP status (a test's, or a service's odd answer) still reads as
# what it is.
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceException",
    }
)
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class AwsError:
    """One AWS SDK failure as a use case sees it.

    ``code`` and ``operation`` name a service's refusal (``ClientError``: ``"SlowDown"`` in
    ``"PutObject"``); both are None for a failure on the way there (``kind`` names it:
    ``"ReadTimeoutError"``, ``"EndpointConnectionError"``…). ``transient``: trying again as
    is may succeed (throttling, a 5xx answer, a timeout, a dropped connection).
    """

    kind: str
    code: str | None
    operation: str | None
    status: int | None
    transient: bool


def describe_aws_error(exc: BaseException) -> AwsError | None:
    """The AWS SDK failure ``exc`` is, or None when it is not one (any other exception)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code") or "unknown")
        status = (exc.response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode")
        status = status if isinstance(status, int) else None
        transient = code in THROTTLING_CODES or code in TRANSIENT_CODES or status in TRANSIENT_STATUS
        return AwsError(type(exc).__name__, code, exc.operation_name, status, transient)
    if isinstance(exc, BotoCoreError):
        # Connection errors and timeouts (connect, read) are transient; a missing credential,
        # a bad parameter or an unknown region would fail again the same way.
        transient = isinstance(exc, ConnectionError | HTTPClientError)
        return AwsError(type(exc).__name__, None, None, None, transient)
    return None
