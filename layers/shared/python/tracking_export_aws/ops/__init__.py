"""Operators' use cases: what ``tracking-export-admin`` and the operations functions do (pause
and resume, the missed-run watchdog, ...), one module per use case, over the other use cases
and the adapters (``runs``, ``config``, ``ingest``, ``notify``, ``aws``); never ``runtime``.
No argument parsing here: the command line lives in ``tools/admin/``.
"""
