"""Functions of template.yaml in this test process, each with exactly its own environment.

``ENVIRONMENTS.of(function, env)`` puts one function's environment in place of every function's
variables while it runs; ``handler_module`` imports a handler module within its function's
template environment (Powertools reads the service name and log level at import, once per
process); ``SETTINGS_FUNCTIONS`` maps each settings model to the function that reads it, and
:func:`template_settings` builds a model from its function's template environment.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from tools.template_functions import Deployment
from tools.template_tables import load_template
from tracking_export_aws.runtime.settings import FunctionSettings

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = load_template(ROOT / "template.yaml")
DEPLOYMENT = Deployment(TEMPLATE)
QUIET = Deployment(TEMPLATE, parameters={"LogLevel": "WARNING"})
S = TypeVar("S", bound=FunctionSettings)

# Every variable any function of the template declares: a function runs with its own only.
ALL_VARIABLES = frozenset(
    name for function in DEPLOYMENT.functions() for name in DEPLOYMENT.environment(function)
) | {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_REGION"}


class _Environments:
    """Puts one function's environment in place of every function's variables while it runs.

    One function at a time, as its environment is the process's: concurrent invocations of the
    same function share it (a shard worker's); another function started from another thread
    (moto's state machine running a step while the export function finishes its hand-off) waits
    until the running one is done; one started from within the running one is an error.
    """

    WAIT_SECONDS = 120

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._active: str | None = None
        self._threads: collections.Counter[int] = collections.Counter()
        self._saved: dict[str, str | None] = {}

    @contextlib.contextmanager
    def of(self, function: str, env: Mapping[str, str]) -> Iterator[None]:
        me = threading.get_ident()
        with self._changed:
            deadline = time.monotonic() + self.WAIT_SECONDS
            while self._threads and self._active != function:
                if me in self._threads:
                    raise RuntimeError(f"{function} started from within {self._active}: one at a time")
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise RuntimeError(f"{function} waited {self.WAIT_SECONDS} s for {self._active} to end")
            if not self._threads:
                self._saved = {name: os.environ.get(name) for name in ALL_VARIABLES | set(env)}
                for name in self._saved:
                    os.environ.pop(name, None)
                os.environ.update(env)
                self._active = function
            self._threads[me] += 1
        try:
            yield
        finally:
            with self._changed:
                self._threads[me] -= 1
                if not self._threads[me]:
                    del self._threads[me]
                if not self._threads:
                    for name, value in self._saved.items():
                        os.environ.pop(name, None)
                        if value is not None:
                            os.environ[name] = value
                    self._active = None
                    self._changed.notify_all()


ENVIRONMENTS = _Environments()


def handler_module(function: str) -> Any:
    """The module of ``function``'s handler. Imported (once per session) within the function's
    template environment: Powertools reads its service name and log level at import."""
    module_name = DEPLOYMENT.functions()[function].rsplit(".", 1)[0]
    env = {**QUIET.environment(function), "AWS_REGION": "us-east-1"}
    with ENVIRONMENTS.of(function, env):
        return importlib.import_module(module_name)


class _SettingsFunctions(dict[type[FunctionSettings], str]):
    """Settings model -> the function that reads it (from the handler modules' ``SETTINGS``)."""

    def __missing__(self, kind: type[FunctionSettings]) -> str:
        for function, handler in DEPLOYMENT.functions().items():
            self[handler_module(function).SETTINGS[handler.rsplit(".", 1)[1]]] = function
        return self[kind]


SETTINGS_FUNCTIONS = _SettingsFunctions()


def template_settings(kind: type[S], region: str = "eu-west-1", **variables: str) -> S:
    """``kind`` as its function's template environment configures it (default deployment),
    ``variables`` changing the values a test needs."""
    env = {**DEPLOYMENT.environment(SETTINGS_FUNCTIONS[kind]), "AWS_REGION": region, **variables}
    return kind.from_env(env)
