"""Tracking data in: ingestion of the platform's files, retention, erasure of a learner.

The ingest use case (a file's byte ranges into the tracking table), the loader that turns
records into items and writes them, retention of a tenant's logs and erasure of one
learner's personal data. Uses ``config``, ``notify`` and ``aws``; never ``runs`` or
``runtime``. Command lines for operators live in ``tools/``, outside the layer.
"""
