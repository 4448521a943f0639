"""Tenant configuration: export definitions and tenant settings as uploaded to the config bucket.

Reading and checking a definition, the config store (last valid versions), the version
records, the config bucket's events and the config-sync use case that validates an upload,
records its version and keeps the tenant's schedules in step. Uses ``notify`` and ``aws``;
never ``runs``, ``ingest`` or ``runtime``.
"""
