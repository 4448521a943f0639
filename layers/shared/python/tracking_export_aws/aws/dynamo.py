"""DynamoDB plumbing shared by the loader, the tracking source and the ledger.

Records are stored as their JSON attributes; these helpers convert both ways so that
what comes back looks exactly like a JSONL record (ints as ``int``, other numbers as ``float``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tracking_export_aws.aws.keys import KEY_ATTRIBUTES

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import KeysAndAttributesOutputTypeDef, KeysAndAttributesTypeDef

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
MAX_BATCH_ATTEMPTS = 10

# DynamoDB numbers hold at most 38 significant digits.
_MAX_INT = 10**38


class UnstorableValueError(ValueError):
    """A value DynamoDB cannot hold (NaN, infinity, a number with more than 38 digits…)."""


def _number(text: str) -> dict[str, str]:
    digits = text.lstrip("-").replace(".", "").lstrip("0")
    mantissa = digits.split("E")[0].split("e")[0]
    if len(mantissa) > 38:
        raise UnstorableValueError(f"number {text} has more than 38 significant digits")
    return {"N": text}


def _to_attribute(value: Any) -> dict[str, Any]:
    """One JSON value as a DynamoDB attribute value (what boto3's TypeSerializer does, faster:
    the loader serialises every field of every record)."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if kind is int:
        if not -_MAX_INT < value < _MAX_INT:
            raise UnstorableValueError(f"integer {value} has more than 38 digits")
        return {"N": str(value)}
    if kind is float:
        if not math.isfinite(value):
            raise UnstorableValueError(f"non-finite number {value!r}")
        return _number(str(Decimal(repr(value))))
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": {str(k): _to_attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [_to_attribute(v) for v in value]}
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise UnstorableValueError(f"non-finite number {value!r}")
        return _number(str(value))
    raise UnstorableValueError(f"cannot store a value of type {kind.__name__}")


def string_attributes(plain: Mapping[str, str]) -> dict[str, Any]:
    """Plain strings as DynamoDB ``S`` attributes: a key (``pk``, ``sk``) or an item of keys only."""
    return {name: {"S": value} for name, value in plain.items()}


def serialize(record: Mapping[str, Any]) -> dict[str, Any]:
    """A plain record (JSON types) as a DynamoDB item in the low-level format."""
    return {k: _to_attribute(v) for k, v in record.items()}


def _from_attribute(attribute: Mapping[str, Any]) -> Any:
    """A DynamoDB attribute value as plain Python: whole numbers as int, others as float."""
    (tag, value), *_ = attribute.items()
    if tag == "S":
        return value
    if tag == "N":
        if "e" in value or "E" in value:
            number = Decimal(value)
            return int(number) if number == number.to_integral_value() else float(number)
        if "." in value:
            # A fraction with a non-zero digit is no whole number: float() rounds its text
            # exactly as float(Decimal(text)) does (Decimal's float() goes through the text).
            if value.partition(".")[2].rstrip("0"):
                return float(value)
            number = Decimal(value)
            return int(number) if number == number.to_integral_value() else float(number)
        return int(value)
    if tag == "BOOL":
        return value
    if tag == "NULL":
        return None
    if tag == "M":
        return {k: _from_attribute(v) for k, v in value.items()}
    if tag == "L":
        return [_from_attribute(v) for v in value]
    if tag == "NS":
        return [_from_attribute({"N": v}) for v in value]
    return list(value) if tag in ("SS", "BS") else value


def deserialize(item: Mapping[str, Any], *, keep_keys: bool = False) -> dict[str, Any]:
    """A DynamoDB item as a plain record; the table's key attributes are dropped unless asked."""
    return plain_item(item, () if keep_keys else KEY_ATTRIBUTES)


def plain_value(attribute: Mapping[str, Any]) -> Any:
    """One attribute's plain value: whole numbers as int, other numbers as float.

    This runs for every attribute of every item an export reads: ``S`` and ``N`` are looked up
    rather than iterated over, and an ``N`` is given to ``int`` only when it is all digits (a
    fraction then costs no ValueError). Other tags, negative and fractional numbers go
    through ``_from_attribute``.
    """
    value = attribute.get("S")
    if value is None:
        value = attribute.get("N")
        # isdecimal: exactly the characters int() accepts as digits, so int() cannot fail.
        value = int(value) if value is not None and value.isdecimal() else _from_attribute(attribute)
    return value


def plain_item(item: Mapping[str, Any], drop: Collection[str] = KEY_ATTRIBUTES) -> dict[str, Any]:
    """A DynamoDB item as a plain record (``plain_value`` of each attribute) without the
    attributes named in ``drop``."""
    return {name: plain_value(attribute) for name, attribute in item.items() if name not in drop}


def expired(expires_at: Any, now: float) -> bool:
    """Whether DynamoDB TTL has expired a record whose ``expiresAt`` holds this plain value:
    a numeric epoch at or before ``now``.

    TTL deletes expired items only eventually (typically within days), so readers skip them
    themselves. A record without ``expiresAt`` (None) or with a non-numeric one never expires.
    """
    return (type(expires_at) is int or type(expires_at) is float) and expires_at <= now


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
    client: DynamoDBClient,
    table_name: str,
    keys: list[dict[str, Any]],
    *,
    projection: str | None = None,
    names: dict[str, str] | None = None,
    consistent: bool = False,
) -> list[dict[str, Any]]:
    """Raw items for at most 100 distinct keys (low-level format), retrying unprocessed keys."""
    request: KeysAndAttributesTypeDef = {"Keys": keys, "ConsistentRead": consistent}
    if projection:
        request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = names
    pending: Mapping[str, KeysAndAttributesTypeDef | KeysAndAttributesOutputTypeDef] = {table_name: request}
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


def batch_write(client: DynamoDBClient, table_name: str, requests: list[dict[str, Any]]) -> None:
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


def query_pages(client: DynamoDBClient, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
    """Every page of a Query, following LastEvaluatedKey."""
    while True:
        response = client.query(**kwargs)
        yield response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        if not last:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": last}
