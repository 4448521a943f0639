"""The reason a failed run gives the tenant, in its notification and run record.

Only messages this service writes for the tenant are quoted; anything else is named by its type
alone and logged whole for operators. Both paths use it: the export function (single path) and
the distributed run's steps.
"""

from __future__ import annotations

import logging

from tracking_export.errors import DefinitionError, ExportRunError
from tracking_export.limits import shown
from tracking_export_aws.aws.errors import describe_aws_error
from tracking_export_aws.aws.s3_sink import ObjectExists
from tracking_export_aws.config.store import ConfigError, ConfigInvalid, ConfigNotFound
from tracking_export_aws.runs.guard import RunDeadlineExceeded
from tracking_export_aws.runs.ledger import LeaseLostError

_log = logging.getLogger(__name__)
# Where the whole exception is, for a reason that names only its type.
EXPORT_LOG = "the export function's log"
STEP_LOG = "the distributed export's step log"


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
    # The service's own run errors: their messages are written for the tenant.
    if isinstance(exc, ExportRunError | ConfigError | RunDeadlineExceeded | LeaseLostError | ObjectExists):
        return str(exc)
    _log.error("export run failed", exc_info=exc)
    aws = describe_aws_error(exc)
    if aws is not None and aws.code is not None:
        return f"AWS error {shown(aws.code)} in {aws.operation}; the run can be retried"
    if aws is not None:
        # Connection and timeout errors: their text names endpoints, not something for the tenant.
        return f"AWS request failed ({aws.kind}); the run can be retried"
    return f"internal error ({type(exc).__name__}); the details are in {log}"
