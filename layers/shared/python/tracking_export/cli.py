"""``tracking-export``: validate a definition, or preview the exact file of a run.

tracking-export validate DEFINITION
tracking-export render --definition DEF --dataset DATA.jsonl --tenant ID
    [--timezone ZONE] [--now INSTANT] [--previous-run-start INSTANT]
    [--run-number N] --output FILE|-

The caps of docs/limits.md apply, overridable by the same environment variables as the
service's (MAX_DEFINITION_BYTES, …): a definition `validate` accepts, config-sync accepts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

from tracking_export.definition import load_definition
from tracking_export.engine import run_export
from tracking_export.errors import DefinitionError, ExportRunError
from tracking_export.filename import render_file_name
from tracking_export.limits import Limits, LimitsError, zone_problem
from tracking_export.model import ExportDefinition
from tracking_export.report import SkippedRecord, Window
from tracking_export.source import InMemorySource, parse_instant

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _instant_argument(text: str) -> datetime:
    parsed = parse_instant(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant with an offset or Z")
    return parsed


def _zone(text: str) -> str:
    problem = zone_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"not an IANA time zone: {problem}")
    return text


def _run_number(text: str) -> int:
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise argparse.ArgumentTypeError("a run number is a whole number 1..999999999")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracking-export", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a definition; exit 2 listing every error")
    validate.add_argument("definition", type=Path)
    render = commands.add_parser("render", help="write the exact bytes the service would write for a run")
    render.add_argument("--definition", type=Path, required=True)
    render.add_argument("--dataset", type=Path, required=True, help="JSONL dataset (data-contract.md)")
    render.add_argument("--tenant", required=True)
    render.add_argument("--timezone", type=_zone, default="UTC", help="tenant's IANA zone (default UTC)")
    render.add_argument("--now", type=_instant_argument, default=None, help="the run's time (default: now)")
    render.add_argument("--previous-run-start", type=_instant_argument, default=None)
    render.add_argument("--run-number", type=_run_number, default=1)
    render.add_argument("--output", required=True, help="file path, or - for standard output")
    render.add_argument("--list-skipped", action="store_true", help="list skipped records after the summary")
    return parser


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 run failed, 2 invalid input)."""
    args = _parser().parse_args(argv)
    # `validate` reports on standard output, like a linter; `render` keeps standard output
    # for the file itself (`--output -`) and reports on standard error.
    report_to = sys.stdout if args.command == "validate" else sys.stderr
    try:
        limits = Limits.from_env(os.environ if environ is None else environ)
    except LimitsError as exc:
        print(f"tracking-export: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        # Never more than the cap plus one byte: a huge file is refused without being read.
        with args.definition.open("rb") as handle:
            data = handle.read(limits.max_definition_bytes + 1)
    except OSError as exc:
        print(f"{args.definition}: cannot read: {exc.strerror or type(exc).__name__}", file=report_to)
        return EXIT_INVALID
    if len(data) > limits.max_definition_bytes:
        print(
            f"{args.definition}: /: the definition is larger than {limits.max_definition_bytes} bytes "
            "(setting MAX_DEFINITION_BYTES)",
            file=report_to,
        )
        return EXIT_INVALID
    try:
        definition = load_definition(data, name=args.definition.name, limits=limits)
    except DefinitionError as exc:
        for issue in exc.issues:
            print(f"{args.definition}: {issue}", file=report_to)
        return EXIT_INVALID
    for warning in definition.warnings:
        print(f"{args.definition}: warning: {warning}", file=report_to)
    if args.command == "validate":
        print(f"{args.definition}: valid (export {definition.guid!r}, {len(definition.columns)} columns)")
        return EXIT_OK
    for option, instant in (("--now", args.now), ("--previous-run-start", args.previous_run_start)):
        problem = limits.run_time_problem(instant) if instant is not None else None
        if problem is not None:
            print(f"{option}: {problem} (settings FIRST_RUN_YEAR, LAST_RUN_YEAR)", file=sys.stderr)
            return EXIT_INVALID
    try:
        source = InMemorySource.from_jsonl(args.tenant, args.dataset)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 at byte {exc.start}"
        print(f"{args.dataset}: cannot read the dataset: {reason}", file=sys.stderr)
        return EXIT_INVALID
    try:
        return _render(args, definition, source)
    except OSError as exc:
        print(f"{args.output}: cannot write: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILED


def _render(args: argparse.Namespace, definition: ExportDefinition, source: InMemorySource) -> int:
    now = args.now or datetime.now(UTC)
    to_stdout = args.output == "-"
    target = Path(args.output) if not to_stdout else None
    # Written next to the target and renamed at the end: like the service, the file
    # appears complete or not at all.
    tmp_path: str | None = None
    handle: BinaryIO
    if target is None:
        handle = sys.stdout.buffer
    else:
        fd, tmp_path = tempfile.mkstemp(prefix=".tracking-export-", dir=target.parent or Path("."))
        handle = os.fdopen(fd, "wb")
    try:
        report = run_export(
            definition,
            source,
            handle,
            tenant_id=args.tenant,
            timezone=args.timezone,
            now=now,
            previous_success_start=args.previous_run_start,
        )
    except ExportRunError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        if tmp_path:
            handle.close()
            os.unlink(tmp_path)
        return EXIT_FAILED
    for line in source.invalid_lines:
        report.skip(SkippedRecord("line", line.line_number, line.reason))
    written = "written"
    if tmp_path and target is not None:
        handle.close()
        if report.rows == 0 and definition.move_to_folder.delete_empty_files:
            os.unlink(tmp_path)
            written = "not written (deleteEmptyFiles: no rows)"
        else:
            os.replace(tmp_path, target)
    else:
        handle.flush()
    local_now = now.astimezone(ZoneInfo(args.timezone))
    name = render_file_name(
        definition.move_to_folder, definition.file_action, local_now, args.run_number, definition.guid
    )
    print(
        f"rows={report.rows} skipped={report.skipped_count} bytes={report.bytes_written} "
        f"window={_window_text(report.window)} "
        f"service-name={name} file {written}",
        file=sys.stderr,
    )
    if args.list_skipped:
        for skipped in report.skipped:
            print(f"skipped {skipped.kind} {skipped.key}: {skipped.reason}", file=sys.stderr)
    return EXIT_OK


def _window_text(window: Window) -> str:
    if window.kind == "timeFrame":
        return f"timeFrame:{window.start:%Y-%m-%dT%H:%M:%SZ}..{window.end:%Y-%m-%dT%H:%M:%SZ}"
    if window.first_day is None:
        # A first deltaMode run: all data up to the end of its local day.
        return f"{window.kind}:all-data" + ("" if window.last_day is None else f"..{window.last_day}")
    return f"{window.kind}:{window.first_day}..{window.last_day}"


if __name__ == "__main__":
    sys.exit(main())
