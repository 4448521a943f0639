"""``tracking-export-admin``: the argparse root. Each subcommand is a module of tools/admin/
whose ``register(subparsers)`` adds its parser and sets ``handler(args, target) -> exit code``.

Exit codes: 0 done, 1 something failed (the output says what), 2 usage (bad arguments, or the
stack does not give what the command needs).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from tools.admin.target import TargetError, resolve

# One line per subcommand module, sorted.
SUBCOMMANDS = (
    "offboard",
    "pause",
    "redrive",
)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The root parser with its global options and every subcommand."""
    parser = argparse.ArgumentParser(
        prog="tracking-export-admin",
        description="Operate the tracking-log export service (docs/operations.md). Where the stack is: "
        "--stack (a deployed stack's outputs), --env-file (events/env.local.json's shape, the local "
        "stack of make serve), or else the functions' environment variables.",
    )
    where = parser.add_argument_group("where the stack is")
    where.add_argument("--stack", metavar="NAME", help="a deployed stack: its CloudFormation outputs")
    where.add_argument(
        "--env-file", metavar="FILE", type=Path, help="function logical id -> environment (JSON)"
    )
    where.add_argument("--region", help="AWS region (default: the environment's, or the env file's ARNs)")
    where.add_argument("--endpoint-url", metavar="URL", help="every service at this URL (moto server)")
    where.add_argument("--dynamodb-endpoint-url", metavar="URL", help="DynamoDB at this URL (dynalite)")
    where.add_argument(
        "--runner",
        choices=("auto", "lambda", "in-process"),
        default="auto",
        help="how runs are started: Lambda Invoke, or the handlers in this process "
        "(auto: in-process for a local stack, Lambda otherwise)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"tools.admin.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, find the stack, run the subcommand; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        target = resolve(
            stack=args.stack,
            env_file=args.env_file,
            region=args.region,
            endpoint_url=args.endpoint_url,
            dynamodb_endpoint_url=args.dynamodb_endpoint_url,
        )
        if target.local:
            # Local endpoints check no signature, but botocore will not send a request without one.
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                os.environ.setdefault(name, "local")
        code: int = args.handler(args, target)
    except TargetError as exc:
        print(f"tracking-export-admin {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
