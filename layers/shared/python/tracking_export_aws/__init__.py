"""AWS adapters of the export engine.

DynamoDB tracking source and run ledger, S3 config store and export sink, SNS/EventBridge
notifier, EventBridge Scheduler schedules.

Everything that imports boto3 lives here; :mod:`tracking_export` stays pure.
"""
