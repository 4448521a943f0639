"""The one place boto3 clients are made: endpoint and region from configuration.

The same code runs against AWS (``endpoint_url`` None), moto server, dynalite and moto
in-process (which patches these clients).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

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
            session = boto3.session.Session()
            make: Any = session.client  # the service name is a runtime string, not a stub literal
            found = make(service, endpoint_url=endpoint_url, region_name=region, config=_CONFIG)
            _cache[key] = found
        return found


def clear_cache() -> None:
    """Forget cached clients (tests switch between moto in-process and servers)."""
    with _lock:
        _cache.clear()
