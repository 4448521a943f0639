"""The export use case: one scheduled run of one tenant's export, start to notification.

The run request, the service that claims, renders and finishes a run, the run ledger (the
run record, its lease and outbox), the guard that stops a run cleanly before its deadline,
the tenant-safe failure reason, and the distributed path (route, manifest, shard plan and
the state machine's steps). Uses ``config`` (definitions, tenant settings), ``notify`` and
``aws``; never ``ingest`` or ``runtime``, and nothing here builds a boto3 client.
"""
