"""Notifications: the message contract and the channels that deliver it.

The typed notification message (pydantic models, the source of ``docs/schemas/``), the
notifier that publishes a message channel by channel (SNS, EventBridge) and the e-mail
channel (SES). Uses ``aws`` only; knows nothing of runs, configuration or ingestion beyond
the message's fields.
"""
