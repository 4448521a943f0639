"""The DynamoDB read capacity a run consumed, as DynamoDB itself reports it (the usage report).

:class:`MeteredReads` stands in for a DynamoDB client: its ``query`` and ``batch_get_item``
ask for ``ReturnConsumedCapacity=TOTAL`` and add up the ``CapacityUnits`` each response
reports (a ``BatchGetItem`` reports one entry per table); every other call goes to the client
unchanged. The answers are DynamoDB's own figures, never estimates: a strongly consistent or
transactional read, an index read, a page of 1 MB all count as DynamoDB counts them.
Safe across the threads that read pages ahead.
"""

from __future__ import annotations

import threading
from typing import Any


class MeteredReads:
    """A DynamoDB client whose reads count the capacity they consume (``read_units``)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._units = 0.0

    @property
    def wrapped(self) -> Any:
        """The client whose reads this one counts."""
        return self._client

    @property
    def read_units(self) -> float:
        """Read capacity units consumed so far through this client."""
        with self._lock:
            return self._units

    def query(self, **request: Any) -> Any:
        return self._counted(self._client.query(**request, ReturnConsumedCapacity="TOTAL"))

    def batch_get_item(self, **request: Any) -> Any:
        return self._counted(self._client.batch_get_item(**request, ReturnConsumedCapacity="TOTAL"))

    def _counted(self, response: Any) -> Any:
        consumed = response.get("ConsumedCapacity")
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        units = sum(float(entry.get("CapacityUnits") or 0) for entry in entries)
        with self._lock:
            self._units += units
        return response

    def __getattr__(self, name: str) -> Any:
        # Everything else (exceptions, meta, writes) is the client's own.
        return getattr(self._client, name)
