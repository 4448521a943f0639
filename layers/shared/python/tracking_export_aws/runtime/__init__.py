"""What a Lambda function runs on: its settings, the wiring of services to clients, logging
keys and metrics.

The only package that may import every other one: ``wiring`` builds the use cases of
``runs``, ``config`` and ``ingest`` from settings and AWS clients for the handlers of
``functions/*/``. Nothing outside ``runtime`` (and the handlers, tools and tests) imports it.
"""
