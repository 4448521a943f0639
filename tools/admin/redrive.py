"""``tracking-export-admin redrive [--dry-run] [--queue export|schedule|all] [--max N] [--json]``:
the export dead letters run or ended, each exactly once (tracking_export_aws.ops.redrive)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tools.admin.metrics import publisher
from tools.admin.runner import runner_for
from tools.admin.target import Target, TargetError
from tracking_export_aws.aws.dead_letters import SqsDeadLetters
from tracking_export_aws.ops.redrive import Outcome, Redrive

EXPORT, SCHEDULE = "export", "schedule"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "redrive",
        help="run or end the messages of the export and schedule dead-letter queues",
        description="Each scheduler payload is run by the export function; each Lambda destination record "
        "(an invocation Lambda gave up on) is ended by the recovery path. A message is deleted once its "
        "outcome is known; one whose processing fails stays and is reported; one of an unknown shape is "
        "left in place. One line per message.",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be done; change nothing")
    parser.add_argument("--queue", choices=(EXPORT, SCHEDULE, "all"), default="all")
    parser.add_argument("--max", type=_positive, metavar="N", help="at most N messages")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of lines")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, target: Target) -> int:
    queues = dead_letter_queues(target, args.queue)
    redrive = Redrive(
        queues=queues,
        functions=runner_for(target, args.runner),
        count=None if args.dry_run else publisher(target),
    )

    def say(outcome: Outcome) -> None:
        if not args.json:
            print(outcome.line(), flush=True)

    report = redrive.run(dry_run=args.dry_run, max_messages=args.max, on_outcome=say)
    summary = report.summary()
    if args.json:
        print(
            json.dumps(
                {
                    "dryRun": args.dry_run,
                    "messages": [o.as_dict() for o in report.outcomes],
                    "summary": summary,
                },
                indent=2,
            )
        )
    else:
        queues_read = ", ".join(q.name for q in queues)
        if args.dry_run:
            print(f"redrive --dry-run ({queues_read}): {summary['messages']} message(s); nothing changed")
        else:
            print(
                f"redrive ({queues_read}): {summary['messages']} message(s): "
                f"{summary['redriven']} run or ended and deleted (RedrivenMessages), "
                f"{summary['left']} left in place, "
                f"{summary['failed']} failed (back after their visibility timeout)"
            )
    return 0 if args.dry_run or report.ok else 1


def dead_letter_queues(target: Target, which: str) -> list[SqsDeadLetters]:
    """The queues ``which`` names, each once. In template.yaml one queue, ExportDlq, is both the
    recovery function's on-failure destination and the schedules' dead-letter queue
    (SCHEDULE_DLQ_ARN); a target that names only one of the two reads it for both."""
    sqs = target.client("sqs")
    export = _queue_url(sqs, target.get("EXPORT_DLQ_URL"), target.get("EXPORT_DLQ_ARN"))
    schedule = _queue_url(sqs, target.get("SCHEDULE_DLQ_URL"), target.get("SCHEDULE_DLQ_ARN"))
    export, schedule = export or schedule, schedule or export
    if export is None or schedule is None:
        raise TargetError(
            f"{target.source} names no dead-letter queue "
            "(EXPORT_DLQ_URL, SCHEDULE_DLQ_URL or SCHEDULE_DLQ_ARN)"
        )
    named = [(EXPORT, export), (SCHEDULE, schedule)]
    if which != "all":
        named = [(name, url) for name, url in named if name == which]
    queues: list[SqsDeadLetters] = []
    for name, url in named:
        if url not in {q.url for q in queues}:
            queues.append(SqsDeadLetters(sqs, url, name))
    return queues


def _queue_url(sqs: Any, url: str | None, arn: str | None) -> str | None:
    if url:
        return url
    if not arn:
        return None
    parts = arn.split(":")
    if len(parts) != 6:
        raise TargetError(f"expected a queue ARN (arn:aws:sqs:region:account:name), got {arn!r}")
    try:
        return str(sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"])
    except sqs.exceptions.ClientError as exc:
        raise TargetError(f"queue {arn}: {exc.response['Error'].get('Message', exc)}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value
