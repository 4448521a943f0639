"""Local AWS endpoints for the integration tests, started once per session.

- ``moto_endpoint``: a moto server in a thread (S3, SNS, SQS, EventBridge, ...), on a free port.
- ``dynamo_endpoint``: dynalite (a DynamoDB implementation in node) as a subprocess on a free port;
  `make dynalite` installs it under .local/node.
- ``dynamo_tables``: the tracking and run-history tables created on dynalite from template.yaml,
  so the tests cannot drift from the infrastructure.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer
from tracking_export_aws.clients import client

ROOT = Path(__file__).resolve().parents[2]
DYNALITE = ROOT / ".local" / "node" / "node_modules" / ".bin" / "dynalite"
STARTUP_TIMEOUT_SECONDS = 30


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def aws_credentials() -> Iterator[None]:
    """Fake credentials and region: local endpoints sign-check nothing, but botocore insists."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        yield


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"dynalite exited with status {process.returncode}: {output}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # poll interval while the process binds its port
    raise RuntimeError(f"dynalite did not listen on port {port} within {STARTUP_TIMEOUT_SECONDS}s")


@pytest.fixture(scope="session")
def dynamo_endpoint() -> Iterator[str]:
    if not DYNALITE.exists():
        pytest.skip(f"dynalite is not installed at {DYNALITE}: run `make dynalite`")
    port = _free_port()
    process = subprocess.Popen(
        [
            str(DYNALITE),
            "--port",
            str(port),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def dynamo_tables(dynamo_endpoint: str) -> dict[str, str]:
    """{logical id: table name} of the template's tables, created on dynalite."""
    from tracking_export_aws.template_tables import table_definitions

    dynamodb = client("dynamodb", endpoint_url=dynamo_endpoint, region="us-east-1")
    names = {}
    for logical_id, definition in table_definitions(ROOT / "template.yaml").items():
        name = f"it-{logical_id}"
        dynamodb.create_table(TableName=name, **definition)
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        names[logical_id] = name
    return names
