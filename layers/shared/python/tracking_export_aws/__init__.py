"""AWS side of the export service: the use cases and their adapters, packaged by role.

- ``runtime``: settings, wiring of services to clients, log keys, metrics (the handlers' entry)
- ``ops``: operators' use cases (pause and resume, the missed-run watchdog)
- ``runs``: the export use case: a run is prepare (plan) -> produce (here, or handed to the
  state machine's steps) -> finish; its ledger, guard and failure reason
- ``config``: export definitions and tenant settings (store, versions, events, config sync)
- ``ingest``: ingestion of tracking files, the loader, retention, erasure of a learner
- ``notify``: the notification message, the notifier and its e-mail channel
- ``aws``: adapters (clients, DynamoDB, keys, S3, links, AWS errors, paged reads, tracking
  source, scheduler)
- ``ops``: the operator's use cases (``tracking-export-admin``: pause, redrive, offboard, the watchdog)

Imports go one way: runtime -> ops -> runs / config / ingest -> notify / aws. ``runs`` and
``ingest`` may use ``config``; ``notify`` may use ``aws``; ``aws`` imports no use case.
tests/unit/test_layer_imports.py fails on an import circle or an import against this
direction. Everything that imports boto3 lives here; :mod:`tracking_export` stays pure.
"""
