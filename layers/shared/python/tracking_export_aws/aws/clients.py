"""The one place boto3 clients are made: endpoint and region from configuration.

The same code runs against AWS (``endpoint_url`` None), moto server, dynalite and moto
in-process (which patches these clients).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import weakref
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.parsers import ResponseParserFactory

from tracking_export_aws.aws.dynamo import UnprocessedItemsError

if TYPE_CHECKING:  # the stub packages are dev dependencies (boto3-stubs extras), not in a layer
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

# The tracking source reads several days x 4 shards at once; leave room for the rest.
MAX_POOL_CONNECTIONS = 32
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    max_pool_connections=MAX_POOL_CONNECTIONS,
    connect_timeout=5,
    read_timeout=30,
)
# For the two paths whose requests are the bulk of their CPU: botocore's client-side check of
# every parameter cost the ingestion's loader (BatchWriteItem of 25 whole records) 31% more CPU
# and the export's tracking reads (Query pages, BatchGetItem of 100 keys) 4%, measured in the
# same run (docs/decisions.md, "Typed clients"). DynamoDB validates every request itself.
_UNCHECKED_CONFIG = _CONFIG.merge(Config(parameter_validation=False))
_cache: dict[tuple[str, str | None, str | None, bool], Any] = {}
_lock = threading.Lock()
_BINARY_TAG = re.compile(rb'"BS?"')
_factories: weakref.WeakKeyDictionary[Any, ItemReadParsers] = weakref.WeakKeyDictionary()
_sessions: dict[str, tuple[boto3.session.Session, ItemReadParsers | None]] = {}
logger = logging.getLogger(__name__)


class Endpoints(Protocol):
    """Where clients connect (every function's settings model has these fields; this package
    imports no settings)."""

    @property
    def endpoint_url(self) -> str | None: ...

    @property
    def dynamodb_endpoint_url(self) -> str | None: ...

    @property
    def region(self) -> str: ...


@overload
def client(
    service: Literal["dynamodb"],
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> DynamoDBClient: ...
@overload
def client(
    service: Literal["s3"],
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> S3Client: ...
@overload
def client(
    service: Literal["sns"],
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> SNSClient: ...
@overload
def client(
    service: Literal["sesv2"],
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> SESV2Client: ...
@overload
def client(
    service: Literal["scheduler"],
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> EventBridgeSchedulerClient: ...
@overload
def client(
    service: Literal["stepfunctions"],
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> SFNClient: ...
@overload
def client(
    service: Literal["lambda"],
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> LambdaClient: ...
@overload
def client(
    service: Literal["events"],
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> EventBridgeClient: ...
@overload
def client(
    service: Literal["sqs"],
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> SQSClient: ...
@overload
def client(
    service: str,
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> Any: ...  # a service name known only at run time (the developer tools)
def client(
    service: str,
    settings: Endpoints | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    validated: bool = True,
) -> Any:
    """A boto3 client for ``service``, cached per (service, endpoint, region, validation), typed
    as the service's stub client (boto3-stubs) for the nine services the functions use.

    The endpoint and region come from ``settings`` unless given explicitly. ``validated=False``
    turns botocore's parameter validation off: only for the DynamoDB requests of the tracking
    reads and the ingestion's loader, where it costs measurable CPU (mypy checks the parameters).
    """
    if settings is not None:
        if service == "dynamodb":
            endpoint_url = endpoint_url or settings.dynamodb_endpoint_url
        endpoint_url = endpoint_url or settings.endpoint_url
        region = region or settings.region
    key = (service, endpoint_url, region, validated)
    with _lock:
        found = _cache.get(key)
        if found is None:
            session, factory = _session_of(service)
            make: Any = session.client  # the service name is a runtime string, not a stub literal
            config = _CONFIG if validated else _UNCHECKED_CONFIG
            found = make(service, endpoint_url=endpoint_url, region_name=region, config=config)
            if factory is not None:
                _factories[found] = factory
            _cache[key] = found
        return found


class ItemReadParser:
    """DynamoDB's response parser, with ``Query`` and ``BatchGetItem`` answers read by ``json.loads`` alone.

    On the wire, every DynamoDB attribute value except binary ones (``B``, ``BS``: base64
    there, ``bytes`` in botocore's answer) already has exactly the form botocore returns
    (``{"S": "x"}``, ``{"N": "4"}``, ``{"L": [...]}``…), so for a successful answer without
    binary values, the decoded body restricted to the output shape's members *is* botocore's
    answer — without botocore's walk over every attribute of every item, which costs several
    times the decoding itself. Anything else (errors, other operations, binary values, a body
    that is not a JSON object, any exception) goes to the standard parser.

    Only public botocore interfaces are used: the session's ``response_parser_factory``
    component, a parser's ``parse(response_dict, shape)`` and a shape's ``name`` and ``members``.
    """

    FAST_OUTPUTS = frozenset(("QueryOutput", "BatchGetItemOutput"))

    def __init__(self, standard: Any, counts: ItemReadParsers) -> None:
        self._standard = standard
        self._counts = counts

    def parse(self, response: dict[str, Any], shape: Any) -> Any:
        if response.get("status_code") == 200 and getattr(shape, "name", None) in self.FAST_OUTPUTS:
            try:
                parsed = self._parse_fast(response, shape)
            except Exception:  # the standard parser then decides what the answer means
                logger.debug("fast DynamoDB parse failed; using botocore's parser", exc_info=True)
                parsed = None
            if parsed is not None:
                self._counts.fast_answers += 1
                return parsed
        self._counts.standard_answers += 1
        return self._standard.parse(response, shape)

    @staticmethod
    def _parse_fast(response: dict[str, Any], shape: Any) -> dict[str, Any] | None:
        body = response["body"]
        # A "B" or "BS" tag needs base64 decoding. Inside JSON strings quotes are escaped, so
        # these bytes appear only as a key or a whole string value; either way, decline. A body
        # without any "B" byte (a page of logs, typically) is settled by one memchr.
        if b"B" in body and _BINARY_TAG.search(body):
            return None
        decoded = json.loads(body)
        if type(decoded) is not dict:
            return None
        members = shape.members
        parsed = {name: value for name, value in decoded.items() if name in members and value is not None}
        headers = response["headers"]
        metadata: dict[str, Any] = {}
        if "x-amzn-requestid" in headers:
            metadata["RequestId"] = headers["x-amzn-requestid"]
        metadata["HTTPStatusCode"] = response["status_code"]
        metadata["HTTPHeaders"] = {str(k).lower(): v for k, v in headers.items()}
        parsed["ResponseMetadata"] = metadata
        return parsed


class ItemReadParsers:
    """The standard parser factory, with DynamoDB's JSON parser wrapped in ItemReadParser.

    ``fast_answers`` and ``standard_answers`` count the answers each path parsed
    (approximately under threads: they are for tests and benchmarks).
    """

    def __init__(self) -> None:
        self._standard = ResponseParserFactory()
        self.fast_answers = 0
        self.standard_answers = 0

    def create_parser(self, protocol_name: str) -> Any:
        standard = self._standard.create_parser(protocol_name)
        return ItemReadParser(standard, self) if protocol_name == "json" else standard


def item_read_parsers(dynamodb: DynamoDBClient) -> ItemReadParsers | None:
    """The parser factory of a DynamoDB client made here (None for any other client)."""
    return _factories.get(dynamodb)


def _session_of(service: str) -> tuple[boto3.session.Session, ItemReadParsers | None]:
    """The session of ``service``'s clients (called under ``_lock``: boto3's default session is
    not thread-safe to create clients from). One per service, so that a function's second client
    of a service (DynamoDB unvalidated, the S3 presigner) reuses the loaded service model instead
    of parsing it again at cold start."""
    found = _sessions.get(service)
    if found is None:
        botocore_session, factory = _botocore_session(service)
        found = _sessions[service] = (boto3.session.Session(botocore_session=botocore_session), factory)
    return found


def _botocore_session(service: str) -> tuple[botocore.session.Session, ItemReadParsers | None]:
    session = botocore.session.get_session()
    if service != "dynamodb":
        return session, None
    factory = ItemReadParsers()
    session.register_component("response_parser_factory", factory)
    return session, factory


def s3_presigner(settings: Endpoints) -> S3Client:
    """An S3 client for presigned links: SigV4 (S3 refuses SigV2 for new buckets) on the bucket's
    regional endpoint (``https://{bucket}.s3.{region}.amazonaws.com``, us-east-1 included), so a
    link works for as long as it says. A local endpoint (moto) is used as configured."""
    endpoint = settings.endpoint_url
    s3_options: Any = {}
    if endpoint is None:
        partition_suffix = "amazonaws.com.cn" if settings.region.startswith("cn-") else "amazonaws.com"
        endpoint = f"https://s3.{settings.region}.{partition_suffix}"
        s3_options["addressing_style"] = "virtual"
    config = _CONFIG.merge(Config(signature_version="s3v4", s3=s3_options or None))
    with _lock:
        session, _ = _session_of("s3")
        presigner: S3Client = session.client(
            "s3", endpoint_url=endpoint, region_name=settings.region, config=config
        )
    return presigner


def clear_cache() -> None:
    """Forget cached clients (tests switch between moto in-process and servers)."""
    with _lock:
        _cache.clear()
        _factories.clear()
        _sessions.clear()


# Error codes AWS answers when the request may succeed later as it is (throttling, a fault on
# AWS's side); botocore's standard retry mode has retried them already.
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionInProgressException",
    }
)


def is_transient(exc: BaseException) -> bool:
    """Whether an error is AWS-side and passing: throttling, a 5xx, a timeout or a lost
    connection left after the SDK's own retries, or items DynamoDB kept leaving unprocessed.
    Anything else (bad input, a missing permission, a bug) would fail the same way again."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return str(error.get("Code")) in _TRANSIENT_CODES or int(status) >= 500
    return isinstance(
        exc, (BotoConnectionError, HTTPClientError, ConnectionError, TimeoutError, UnprocessedItemsError)
    )
