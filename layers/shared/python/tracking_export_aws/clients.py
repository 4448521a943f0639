"""The one place boto3 clients are made: endpoint and region from configuration.

The same code runs against AWS (``endpoint_url`` None), moto server, dynalite and moto
in-process (which patches these clients).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.parsers import JSONParser, ResponseParserFactory

from tracking_export_aws.settings import AwsSettings

# The tracking source reads several days x 4 shards at once; leave room for the rest.
MAX_POOL_CONNECTIONS = 32
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    max_pool_connections=MAX_POOL_CONNECTIONS,
    connect_timeout=5,
    read_timeout=30,
    # The service validates every request itself; botocore's client-side pass costs more CPU
    # than the HTTP call on the loader's BatchWriteItem bodies.
    parameter_validation=False,
)
_cache: dict[tuple[str, str | None, str | None], Any] = {}
_lock = threading.Lock()


def client(
    service: str,
    settings: AwsSettings | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> Any:
    """A boto3 client for ``service``, cached per (service, endpoint, region).

    The endpoint and region come from ``settings`` unless given explicitly.
    """
    if settings is not None:
        if service == "dynamodb":
            endpoint_url = endpoint_url or settings.dynamodb_endpoint_url
        endpoint_url = endpoint_url or settings.endpoint_url
        region = region or settings.region
    key = (service, endpoint_url, region)
    with _lock:
        found = _cache.get(key)
        if found is None:
            # A session per client: boto3's default session is not thread-safe to create clients from.
            session = boto3.session.Session(botocore_session=_botocore_session(service))
            make: Any = session.client  # the service name is a runtime string, not a stub literal
            found = make(service, endpoint_url=endpoint_url, region_name=region, config=_CONFIG)
            _cache[key] = found
        return found


class _AttributeValuesAsSent(JSONParser):
    """DynamoDB's JSON parser, minus the walk over every attribute of every item.

    botocore checks each attribute value of a ``Query`` or ``BatchGetItem`` answer against
    the service model, which costs most of the CPU time of reading items. An attribute
    value arrives on the wire in exactly the form botocore returns it (``{"S": "x"}``,
    ``{"N": "4"}``…), so scalar ones are passed through as they are; maps and lists still
    go the normal way (their members come back here), and so do binary values, which are
    base64 on the wire. ``tests/unit/test_clients.py`` checks both parsers agree.
    """

    _AS_SENT = frozenset(("S", "N", "BOOL", "NULL", "SS", "NS"))

    def _handle_structure(self, shape: Any, value: Any) -> Any:
        if shape.name == "AttributeValue" and type(value) is dict and len(value) == 1:
            (tag,) = value
            if tag in self._AS_SENT:
                return value
        return super()._handle_structure(shape, value)  # type: ignore[misc]


class _ParserFactory(ResponseParserFactory):
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return _AttributeValuesAsSent(**self._defaults)  # type: ignore[attr-defined]
        return super().create_parser(protocol_name)


def _botocore_session(service: str) -> botocore.session.Session:
    session = botocore.session.get_session()
    if service == "dynamodb":
        session.register_component("response_parser_factory", _ParserFactory())
    return session


def s3_presigner(settings: AwsSettings) -> Any:
    """An S3 client for presigned links: SigV4 (S3 refuses SigV2 for new buckets) on the bucket's
    regional endpoint (``https://{bucket}.s3.{region}.amazonaws.com``, us-east-1 included), so a
    link works for as long as it says. A local endpoint (moto) is used as configured."""
    session = boto3.session.Session(botocore_session=_botocore_session("s3"))
    endpoint = settings.endpoint_url
    s3_options: Any = {}
    if endpoint is None:
        partition_suffix = "amazonaws.com.cn" if settings.region.startswith("cn-") else "amazonaws.com"
        endpoint = f"https://s3.{settings.region}.{partition_suffix}"
        s3_options["addressing_style"] = "virtual"
    config = _CONFIG.merge(Config(signature_version="s3v4", s3=s3_options or None))
    return session.client("s3", endpoint_url=endpoint, region_name=settings.region, config=config)


def clear_cache() -> None:
    """Forget cached clients (tests switch between moto in-process and servers)."""
    with _lock:
        _cache.clear()
