"""Fault injection and a hand-moved clock for the tests that redeliver runs with time passing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any


class Clock:
    """The service's wall clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextmanager
def fault(
    client: Any, operation: str, error: BaseException, *, times: int = 1, when: Any = None
) -> Iterator[list[int]]:
    """Raise ``error`` inside botocore's ``operation`` call of ``client`` (the first ``times``
    calls for which ``when(params)`` holds); yields the list of calls that raised."""
    raised: list[int] = []
    service = client.meta.service_model.service_name
    event = f"before-parameter-build.{service}.{operation}"

    def hook(params: dict[str, Any], **_: Any) -> None:
        if len(raised) < times and (when is None or when(params)):
            raised.append(1)
            raise error

    client.meta.events.register(event, hook)
    try:
        yield raised
    finally:
        client.meta.events.unregister(event, hook)
