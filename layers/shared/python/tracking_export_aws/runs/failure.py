"""The reason a failed run gives the tenant, in its notification and run record, and whether
the failure is worth another attempt.

Only messages this service writes for the tenant are quoted; anything else is named by its type
alone and logged whole for operators. Both paths use it: the export function (single path) and
the distributed run's steps. :func:`is_transient` is the classification of
docs/run-lifecycle.md ("Transient and permanent failures").
"""

from __future__ import annotations

import logging

from tracking_export.errors import DefinitionError, ExportRunError
from tracking_export.limits import shown
from tracking_export_aws.aws.errors import TransientAwsError, describe_aws_error
from tracking_export_aws.aws.s3_sink import ObjectExists
from tracking_export_aws.config.store import ConfigError, ConfigInvalid, ConfigNotFound
from tracking_export_aws.runs.guard import RunDeadlineExceeded
from tracking_export_aws.runs.ledger import LeaseLostError

_log = logging.getLogger(__name__)
# Where the whole exception is, for a reason that names only its type.
EXPORT_LOG = "the export function's log"
STEP_LOG = "the distributed export's step log"


# The service's own verdicts: the same input fails the same way again, whatever caused them.
_PERMANENT = (
    DefinitionError,
    ConfigInvalid,
    ConfigNotFound,
    ExportRunError,
    RunDeadlineExceeded,
    ObjectExists,
)
# The service's own run errors: their messages are written for the tenant.
_OWN_WORDS = (*_PERMANENT[3:], ConfigError, LeaseLostError, TransientAwsError)
# How far down a chain of causes a transient AWS error is looked for (ConfigError wraps the
# S3 error it met; a few levels is all this service ever chains).
_CAUSE_DEPTH = 4


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt of the run may succeed as it is: a transient AWS error (throttling,
    a 5xx answer, a timeout, a dropped connection: aws/errors.py), met directly or as the cause of
    an error this service raised about it (a configuration it could not read). Everything else
    is permanent: invalid definitions and settings, files the spec refuses to write, data
    errors, refused permissions, the deadline guard, anyone else's object at the key, and any
    unexpected error (a bug fails the same way again)."""
    if isinstance(exc, TransientAwsError):
        return True
    current: BaseException | None = exc
    for _ in range(_CAUSE_DEPTH):
        if current is None or isinstance(current, _PERMANENT):
            return False
        aws = describe_aws_error(current)
        if aws is not None:
            return aws.transient
        current = current.__cause__
    return False


def run_failure_reason(exc: BaseException, *, log: str = EXPORT_LOG) -> str:
    """A readable reason for the notification and the run record.

    Only messages this service writes for the tenant are quoted (definition issues,
    configuration problems, run errors naming a row and column). Anything else is named by
    its type alone: its text may hold a runtime file path, an endpoint or a data value. The
    full exception goes to the function's log, where operators look.
    """
    if isinstance(exc, DefinitionError):
        return "invalid export definition:\n" + "\n".join(str(i) for i in exc.issues)
    if isinstance(exc, ConfigInvalid):
        return f"invalid configuration {exc.key}: " + "; ".join(exc.problems)
    if isinstance(exc, ConfigNotFound):
        return f"configuration {exc.key} does not exist"
    if isinstance(exc, _OWN_WORDS):
        return str(exc)
    _log.error("export run failed", exc_info=exc)
    aws = describe_aws_error(exc)
    if aws is not None and aws.code is not None:
        return f"AWS error {shown(aws.code)} in {aws.operation}; the run can be retried"
    if aws is not None:
        # Connection and timeout errors: their text names endpoints, not something for the tenant.
        return f"AWS request failed ({aws.kind}); the run can be retried"
    return f"internal error ({type(exc).__name__}); the details are in {log}"
