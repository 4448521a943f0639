"""What every log line of an export run says about the run (docs/infrastructure.md, Observability).

Kept free of Powertools: the handlers hand these to their Logger (``set_correlation_id`` and
``append_keys``) from the ``on_claim`` callback of ExportService.run/recover and of the
steps' ShardWorker.run / Coordinator.run.
"""

from __future__ import annotations

from typing import Any

from tracking_export_aws.runs.ledger import Claim


def correlation_id(claim: Claim) -> str:
    """``{tenant}/{exportGuid}/{scheduled time}``: the same string as the ``export-run``
    metadata of the objects the run writes, so a log search and an object meet."""
    return claim.run_id


def run_keys(claim: Claim) -> dict[str, Any]:
    """The run number and attempt of the run: the claim's own, or for a delivery that found the
    run held or done (a duplicate), those of the run it found."""
    if claim.claimed or claim.existing is None:
        return {"run_number": claim.run_number, "attempt": claim.attempt}
    return {"run_number": claim.existing.run_number, "attempt": claim.existing.attempt}
