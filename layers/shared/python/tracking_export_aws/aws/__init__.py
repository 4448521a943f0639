"""Adapters to AWS services, and nothing else.

Clients and their configuration, DynamoDB items and keys, paged and parallel reads, the
tracking source that reads logs from the tracking table, S3 objects (the multipart sink,
conditional writes, object tags, the distributed run's work objects) and EventBridge
Scheduler schedules. A module here knows how to talk to a service, never why: it imports
no use case (nothing of ``runs``, ``config``, ``ingest``, ``notify`` or ``runtime``), only
the engine's types and other modules of this package.
"""
