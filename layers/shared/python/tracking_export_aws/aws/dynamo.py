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

# What DynamoDB stores (its "Constraints" page): items of at most 400 KB, numbers of at most
# 38 significant digits with a magnitude from 1E-130 to 9.9999999999999999999999999999999999999E+125,
# lists and maps nested at most 32 deep.
MAX_ITEM_BYTES = 400 * 1024
MAX_NESTING = 32
_MAX_DIGITS = 38
_MAX_EXPONENT = 125  # of the most significant digit
_MIN_EXPONENT = -130
_MAX_INT = 10**_MAX_DIGITS  # smaller integers need no further check
_NUMBER = "holds a number DynamoDB cannot store"
NESTED_RULE = f"is nested more than {MAX_NESTING} levels deep (DynamoDB's limit)"
TEXT_RULE = "holds text that is not valid Unicode (a lone surrogate)"


class UnstorableValueError(ValueError):
    """A value DynamoDB cannot hold; ``rule`` says why without quoting it, ``field`` is the
    item's attribute that holds it (set by :func:`serialize`)."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule
        self.field: str | None = None


class UnprocessedItemsError(RuntimeError):
    """DynamoDB left requests of a batch unprocessed through every attempt (throttling)."""


def _number(value: Decimal) -> dict[str, str]:
    if not value.is_finite():
        raise UnstorableValueError(f"{_NUMBER}: it is not a finite number")
    if value:
        significant = len("".join(map(str, value.as_tuple().digits)).strip("0"))
        if significant > _MAX_DIGITS:
            raise UnstorableValueError(f"{_NUMBER}: it has more than {_MAX_DIGITS} significant digits")
        if value.adjusted() > _MAX_EXPONENT:
            raise UnstorableValueError(
                f"{_NUMBER}: its magnitude is above 9.9999999999999999999999999999999999999E+125"
            )
        if value.adjusted() < _MIN_EXPONENT:
            raise UnstorableValueError(f"{_NUMBER}: its magnitude is below 1E-130")
    return {"N": str(value)}


def _text(value: str) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UnstorableValueError(TEXT_RULE) from None
    return value


def _to_attribute(value: Any, depth: int = 0) -> dict[str, Any]:
    """One JSON value as a DynamoDB attribute value (what boto3's TypeSerializer does, faster:
    the loader serialises every field of every record), refusing what DynamoDB would refuse
    (``depth``: the lists and maps around this value within its attribute)."""
    kind = type(value)
    if kind is str:
        return {"S": _text(value)}
    if kind is bool:
        return {"BOOL": value}
    if kind is int:
        return {"N": str(value)} if -_MAX_INT < value < _MAX_INT else _number(Decimal(value))
    if kind is float:
        if not math.isfinite(value):
            raise UnstorableValueError(f"{_NUMBER}: it is not a finite number")
        return _number(Decimal(repr(value)))
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        if depth == MAX_NESTING:
            raise UnstorableValueError(NESTED_RULE)
        return {"M": {_text(str(k)): _to_attribute(v, depth + 1) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        if depth == MAX_NESTING:
            raise UnstorableValueError(NESTED_RULE)
        return {"L": [_to_attribute(v, depth + 1) for v in value]}
    if isinstance(value, Decimal):
        return _number(value)
    raise UnstorableValueError(f"cannot store a value of type {kind.__name__}")


def string_attributes(plain: Mapping[str, str]) -> dict[str, Any]:
    """Plain strings as DynamoDB ``S`` attributes: a key (``pk``, ``sk``) or an item of keys only."""
    return {name: {"S": value} for name, value in plain.items()}


def serialize(record: Mapping[str, Any]) -> dict[str, Any]:
    """A plain record (JSON types) as a DynamoDB item in the low-level format.

    UnstorableValueError names the attribute holding a value DynamoDB would refuse."""
    item = {}
    for name, value in record.items():
        try:
            item[_text(name)] = _to_attribute(value)
        except UnstorableValueError as exc:
            exc.field = name
            raise
    return item


def _digits_size(digits: str, exponent: int, negative: bool) -> int:
    """Bytes DynamoDB stores a number in, from its significant ``digits`` (no leading or
    trailing zero) and the ``exponent`` of the first: one byte of exponent, one per pair of
    digits (pairs aligned on the decimal point, as its base-100 format stores them), one more
    when negative. dynalite measures numbers the same way."""
    if not digits:
        return 1  # zero
    return 1 + -(-len(digits) // 2) + (0 if len(digits) % 2 or exponent % 2 else 1) + negative


def _int_size(value: int) -> int:
    text = str(-value if value < 0 else value)
    return _digits_size(text.rstrip("0"), len(text) - 1, value < 0)


def _decimal_size(value: Decimal) -> int:
    _number(value)  # refuses what DynamoDB would refuse
    if not value:
        return 1
    digits = "".join(map(str, value.as_tuple().digits)).strip("0")
    return _digits_size(digits, value.adjusted(), value < 0)


def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(_text(text).encode("utf-8"))


def _value_size(value: Any, depth: int) -> int:
    """The size DynamoDB counts for one plain value (after its "item sizes and formats" page:
    a string its UTF-8 bytes, a number as :func:`_digits_size`, a boolean or null 1 byte, a
    list or map 3 bytes plus, per element, 1 byte, its size and a map's key), refusing what
    :func:`serialize` refuses."""
    kind = type(value)
    if kind is str:
        return _text_size(value)
    if kind is bool or value is None:
        return 1
    if kind is int:
        return _int_size(value) if -_MAX_INT < value < _MAX_INT else _decimal_size(Decimal(value))
    if kind is float:
        if not math.isfinite(value):
            raise UnstorableValueError(f"{_NUMBER}: it is not a finite number")
        return _decimal_size(Decimal(repr(value)))
    if isinstance(value, Decimal):
        return _decimal_size(value)
    if isinstance(value, Mapping):
        if depth == MAX_NESTING:
            raise UnstorableValueError(NESTED_RULE)
        return 3 + sum(1 + _text_size(str(k)) + _value_size(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        if depth == MAX_NESTING:
            raise UnstorableValueError(NESTED_RULE)
        return 3 + sum(1 + _value_size(v, depth + 1) for v in value)
    raise UnstorableValueError(f"cannot store a value of type {kind.__name__}")


def item_size(record: Mapping[str, Any]) -> dict[str, int]:
    """Each attribute's size (its name's UTF-8 bytes and its value's) as DynamoDB counts it
    for the item ``serialize(record)`` makes; UnstorableValueError (naming the attribute) for a
    value DynamoDB would refuse. One walk over the plain values, no item built."""
    sizes = {}
    for name, value in record.items():
        # Most values of a record are short ASCII strings: measured without a call.
        if type(value) is str and value.isascii() and name.isascii():
            sizes[name] = len(name) + len(value)
            continue
        try:
            sizes[name] = _text_size(name) + _value_size(value, 0)
        except UnstorableValueError as exc:
            exc.field = name
            raise
    return sizes


def item_size_problem(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """(the largest attribute, the rule) when the record's item is over DynamoDB's item size;
    UnstorableValueError for a value DynamoDB would refuse."""
    sizes = item_size(record)
    total = sum(sizes.values())
    if total <= MAX_ITEM_BYTES:
        return None
    largest = max(sizes, key=lambda name: sizes[name])
    return largest, (
        f"makes the item {total} bytes; DynamoDB stores at most {MAX_ITEM_BYTES} bytes (400 KB) an item"
    )


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
    raise UnprocessedItemsError(
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
    raise UnprocessedItemsError(
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
