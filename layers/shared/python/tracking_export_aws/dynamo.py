"""DynamoDB plumbing shared by the loader, the tracking source and the ledger.

Records are stored as their JSON attributes; these helpers convert both ways so that
what comes back looks exactly like a JSONL record (ints as ``int``, other numbers as ``float``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from tracking_export_aws.keys import KEY_ATTRIBUTES

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
MAX_BATCH_ATTEMPTS = 10

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class UnstorableValueError(ValueError):
    """A value DynamoDB cannot hold (NaN, infinity, a number with more than 38 digits…)."""


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnstorableValueError(f"non-finite number {value!r}")
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def serialize(record: Mapping[str, Any]) -> dict[str, Any]:
    """A plain record (JSON types) as a DynamoDB item in the low-level format."""
    try:
        return {k: _serializer.serialize(_to_dynamo(v)) for k, v in record.items()}
    except UnstorableValueError:
        raise
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise UnstorableValueError(str(exc)) from exc


def _to_plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [_to_plain(v) for v in value]
    return value


def deserialize(item: Mapping[str, Any], *, keep_keys: bool = False) -> dict[str, Any]:
    """A DynamoDB item as a plain record; the table's key attributes are dropped unless asked."""
    return {
        k: _to_plain(_deserializer.deserialize(v))
        for k, v in item.items()
        if keep_keys or k not in KEY_ATTRIBUTES
    }


def backoff(attempt: int, base: float = 0.05, cap: float = 5.0) -> None:
    """Sleep before retrying unprocessed items: exponential with full jitter."""
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def batch_get(
    client: Any,
    table_name: str,
    keys: list[dict[str, Any]],
    *,
    projection: str | None = None,
    names: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Raw items for at most 100 distinct keys (low-level format), retrying unprocessed keys."""
    request: dict[str, Any] = {"Keys": keys}
    if projection:
        request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = names
    pending = {table_name: request}
    found: list[dict[str, Any]] = []
    for attempt in range(MAX_BATCH_ATTEMPTS):
        response = client.batch_get_item(RequestItems=pending)
        found.extend(response.get("Responses", {}).get(table_name, []))
        pending = response.get("UnprocessedKeys") or {}
        if not pending:
            return found
        backoff(attempt)
    raise RuntimeError(
        f"BatchGetItem on {table_name}: keys still unprocessed after {MAX_BATCH_ATTEMPTS} attempts"
    )


def batch_write(client: Any, table_name: str, requests: list[dict[str, Any]]) -> None:
    """Write at most 25 put/delete requests, retrying unprocessed ones with back-off."""
    pending: dict[str, Any] = {table_name: requests}
    for attempt in range(MAX_BATCH_ATTEMPTS):
        response = client.batch_write_item(RequestItems=pending)
        pending = response.get("UnprocessedItems") or {}
        if not pending:
            return
        backoff(attempt)
    raise RuntimeError(
        f"BatchWriteItem on {table_name}: items still unprocessed after {MAX_BATCH_ATTEMPTS} attempts"
    )


def query_pages(client: Any, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
    """Every page of a Query, following LastEvaluatedKey."""
    while True:
        response = client.query(**kwargs)
        yield response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": last}
