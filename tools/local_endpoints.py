"""Local AWS endpoints over real HTTP: moto server (S3, SNS, SQS, EventBridge, Scheduler)
and dynalite (DynamoDB), for the local run, the integration tests and the benchmarks.

Not used in Lambda.
"""

from __future__ import annotations

import email
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer

STARTUP_TIMEOUT_SECONDS = 30


def repo_root() -> Path:
    """The repository root: the working directory, or TRACKING_EXPORT_ROOT."""
    return Path(os.environ.get("TRACKING_EXPORT_ROOT", Path.cwd()))


def dynalite_binary(root: Path | None = None) -> Path:
    return (root or repo_root()) / ".local" / "node" / "node_modules" / ".bin" / "dynalite"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # poll interval while the process binds its port
    raise RuntimeError(f"{name} did not listen on port {port} within {STARTUP_TIMEOUT_SECONDS}s")


@contextmanager
def _serving(command: list[str], port: int, name: str) -> Iterator[str]:
    """Run a local server process until the block ends; yields its URL once it listens."""
    # Its output is discarded: a pipe nobody reads would block the server once full.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_listening(port, process, name)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def drain_queue(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message body (JSON) waiting in an SQS queue, deleting them as they are read."""
    bodies: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            return bodies
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@dataclass(frozen=True)
class SentEmail:
    """One message moto's SES accepted, as its recipients would read it."""

    message_id: str
    sender: str
    to: list[str]
    subject: str
    text: str  # the plain-text part
    html: str  # the HTML part ("" when there is none)


def sent_emails(region: str, *, sender: str | None = None) -> list[SentEmail]:
    """The e-mails the SES of :func:`moto_server` (it runs in this process) accepted in ``region``,
    oldest first; only those from ``sender`` when given."""
    from moto.ses.models import ses_backends  # moto's SES state, shared by SES v1 and v2

    found = []
    for stored in ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages:
        raw = getattr(stored, "raw_data", None)
        if raw is None or (sender is not None and stored.source != sender):
            continue  # a simple (non-raw) message: not one of ours
        mail = email.message_from_string(raw, policy=default_policy)
        assert isinstance(mail, EmailMessage)
        text, page = mail.get_body(("plain",)), mail.get_body(("html",))
        found.append(
            SentEmail(
                message_id=stored.id,
                sender=stored.source,
                to=[address.strip() for address in str(mail["To"] or "").split(",") if address.strip()],
                subject=str(mail["Subject"]),
                text=str(text.get_content()) if isinstance(text, EmailMessage) else "",
                html=str(page.get_content()) if isinstance(page, EmailMessage) else "",
            )
        )
    return found


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in a thread on a free port; yields its URL."""
    # One access-log line per request would bury what the local run prints.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def dynalite(binary: Path | None = None, *, store: Path | None = None) -> Iterator[str]:
    """dynalite as a subprocess on a free port; yields its URL and stops it after. It keeps its
    tables in memory, or on disk under ``store`` (LevelDB: for data sets larger than memory)."""
    path = binary or dynalite_binary()
    if not path.exists():
        raise FileNotFoundError(f"dynalite is not installed at {path}: run `make dynalite`")
    port = free_port()
    flags = ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    if store is not None:
        flags += ["--path", str(store)]
    with _serving([str(path), "--port", str(port), *flags], port, "dynalite") as url:
        yield url


@contextmanager
def moto_server_process() -> Iterator[str]:
    """A moto server in its own process (what it stores then does not count in our memory)."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with _serving(command, port, "moto server") as url:
        yield url


class LocalLambdaContext:
    """The parts of a LambdaContext the handlers (and Powertools) read, for a local invocation."""

    def __init__(self, name: str, region: str = "us-east-1", account: str = "123456789012") -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 1769
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        self.aws_request_id = f"local-{time.time_ns()}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


LocalHandler = Callable[[Any, Any], Any]


@contextmanager
def local_state_machines(moto_url: str, handlers: Mapping[str, LocalHandler]) -> Iterator[None]:
    """Make the in-process moto server execute state machines, their Lambda tasks running
    ``handlers`` (by function name) in this process, as ``sam local start-lambda`` does for
    Step Functions Local. Everything is put back when the block ends.

    moto executes a state machine when its ``stepfunctions.execute_state_machine`` setting is
    on; its Lambda tasks then call moto's own Lambda API (at ``localhost:$MOTO_PORT``), which
    would need Docker to run a function: ``LambdaBackend.invoke`` is patched to call the
    handler instead. A handler's exception becomes an ``Unhandled`` function error with the
    ``errorType``/``errorMessage`` payload Lambda sends, so the state machine's Catch sees
    what it would see on AWS.
    """
    import boto3
    from botocore.config import Config
    from moto.awslambda.models import LambdaBackend
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original_invoke = LambdaBackend.invoke
    original_client_for = lambda_eval_utils.boto_client_for
    client_lock = threading.Lock()
    lambda_clients: dict[str, Any] = {}

    def lambda_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's interpreter makes a client per Lambda task from boto3's default session, from
        # each Map iteration's thread at once, with no retry, and turns any error of the call
        # itself (not the function's) into States.Runtime, which no Retry matches: one such error
        # failed a CI run (stop 21). On AWS the Lambda integration raises Lambda.SdkClientException,
        # which the state machine retries. Here: one client per region, made once under a lock
        # from its own session (a client is thread-safe), with connection errors retried.
        with client_lock:
            found = lambda_clients.get(region)
            if found is not None:
                return found
            found = lambda_clients[region] = boto3.session.Session().client(
                "lambda",
                region_name=region,
                endpoint_url=moto_url,
                aws_access_key_id="ak",
                aws_secret_access_key="sk",
                config=Config(
                    parameter_validation=False,
                    retries={"mode": "standard", "max_attempts": 4},
                    connect_timeout=10,
                    read_timeout=900,
                ),
            )
            return found

    def invoke(
        self: LambdaBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> str | bytes | None:
        # An ARN (arn:aws:lambda:region:account:function:name[:qualifier]) or a bare name.
        name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
        handler = handlers.get(name)
        if handler is None:
            return original_invoke(self, function_name, qualifier, body, headers, response_headers)
        event = json.loads(body) if body else {}
        try:
            result = handler(event, LocalLambdaContext(name))
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": []}
            payload = json.dumps(error)
        else:
            payload = json.dumps(result, default=str)
        encoded = payload.encode("utf-8")
        response_headers["Content-Length"] = str(len(encoded))
        return encoded

    sfn_config = default_user_config.setdefault("stepfunctions", {})
    previous_setting = sfn_config.get("execute_state_machine", False)
    previous_port = os.environ.get("MOTO_PORT")
    sfn_config["execute_state_machine"] = True
    # moto's state machine interpreter calls Lambda at localhost:$MOTO_PORT when not mocking in-process.
    os.environ["MOTO_PORT"] = moto_url.rsplit(":", 1)[1].rstrip("/")
    LambdaBackend.invoke = invoke  # type: ignore[method-assign]
    lambda_eval_utils.boto_client_for = lambda_client_for
    try:
        yield
    finally:
        LambdaBackend.invoke = original_invoke  # type: ignore[method-assign]
        lambda_eval_utils.boto_client_for = original_client_for
        sfn_config["execute_state_machine"] = previous_setting
        if previous_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = previous_port


def state_machine_definition(root: Path, substitutions: Mapping[str, str], partition: str = "aws") -> str:
    """statemachine/export.asl.json with its ``${Name}`` substitutions made, as
    ``DefinitionSubstitutions`` makes them on deploy (``Partition`` is ``partition``, the
    template's ``AWS::Partition``); every other placeholder must be given."""
    text = (root / "statemachine" / "export.asl.json").read_text()
    for name, value in {"Partition": partition, **substitutions}.items():
        text = text.replace("${" + name + "}", value)
    left = sorted(set(re.findall(r"\$\{(\w+)\}", text)))
    if left:
        raise ValueError(f"no value for the state machine substitution(s) {', '.join(left)}")
    json.loads(text)  # a broken definition fails here, not inside moto's interpreter
    return text


def execution_failures(sfn: Any, execution_arn: str) -> list[str]:
    """Every failure event of an execution's history, as ``type: error: cause`` (for a test's
    assertion message: what failed inside the state machine, which its status does not say)."""
    failures = []
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    for page in pages:
        for event in page["events"]:
            for key, details in event.items():
                if key.endswith("FailedEventDetails") and isinstance(details, dict):
                    failures.append(f"{event['type']}: {details.get('error')}: {details.get('cause')}")
    return failures


def wait_for_execution(sfn: Any, execution_arn: str, timeout_seconds: float = 300) -> dict[str, Any]:
    """Poll an execution until it leaves RUNNING (moto runs it in a thread); its description."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still running after {timeout_seconds:.0f} s")
        time.sleep(0.05)  # poll interval: moto runs the execution in its own thread
