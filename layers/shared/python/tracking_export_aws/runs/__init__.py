"""The export use case: one scheduled run of one tenant's export, start to notification.

A run is prepare -> produce -> finish: the run request and the service that claims a run
(``service``), its frozen plan (``plan``), the producers of its file (``produce`` in the
export function; ``handoff`` to the state machine, whose ``steps`` render shards and assemble
them, reading the plan from its ``manifest``), and its end (``finish``), with the values in
between (``outcomes``, ``payloads``). Beside them: the run ledger (the run record, its lease
and outbox), the guard that stops a run cleanly before its deadline, and the tenant-safe
failure reason. Uses ``config``, ``notify`` and ``aws``; never ``ingest`` or ``runtime``;
nothing here builds a boto3 client or imports the AWS SDK.
"""
