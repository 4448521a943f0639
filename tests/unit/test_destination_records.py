"""What a Lambda destination record may tell the tenant about a delivery Lambda gave up on."""

from __future__ import annotations

from typing import Any

import pytest

from tracking_export_aws.runs.request import destination_failure_detail


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        # Lambda's own words for a timeout are kept: they say what happened.
        (
            {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 900.00 seconds"},
            "Task timed out after 900.00 seconds",
        ),
        # Any other message may quote a runtime path or a data value: the type only.
        (
            {"errorType": "OSError", "errorMessage": "[Errno 2] /var/task/export_app.py: jane@acme.example"},
            "OSError",
        ),
        ({"errorType": "Runtime.ExitError", "errorMessage": "exit status 137"}, "Runtime.ExitError"),
        # A type that is not a plain name is not quoted either.
        ({"errorType": "<b>jane@acme.example</b>"}, None),
        ({"errorType": "x" * 500}, None),
        (None, None),
        ("Task timed out after 900.00 seconds", None),
    ],
)
def test_only_the_timeout_message_or_a_plain_error_type_is_kept(response: Any, expected: str | None) -> None:
    assert destination_failure_detail(response) == expected
