"""``tracking-export``: validate a definition, or preview the exact file of a run.

tracking-export validate DEFINITION
tracking-export render --definition DEF --dataset DATA.jsonl --tenant ID
    [--timezone ZONE] [--now INSTANT] [--previous-run-start INSTANT]
    [--run-number N] --output FILE|-
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracking_export.definition import load_definition
from tracking_export.engine import run_export
from tracking_export.errors import DefinitionError, ExportRunError
from tracking_export.filename import render_file_name
from tracking_export.model import ExportDefinition
from tracking_export.report import SkippedRecord, Window
from tracking_export.source import InMemorySource, parse_instant

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _instant(text: str) -> datetime:
    parsed = parse_instant(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant with an offset or Z")
    return parsed


def _zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IANA time zone") from exc
    return text


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
    render.add_argument("--now", type=_instant, default=None, help="the run's time (default: now)")
    render.add_argument("--previous-run-start", type=_instant, default=None)
    render.add_argument("--run-number", type=int, default=1)
    render.add_argument("--output", required=True, help="file path, or - for standard output")
    render.add_argument("--list-skipped", action="store_true", help="list skipped records after the summary")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # `validate` reports on standard output, like a linter; `render` keeps standard output
    # for the file itself (`--output -`) and reports on standard error.
    report_to = sys.stdout if args.command == "validate" else sys.stderr
    try:
        definition = load_definition(args.definition.read_bytes(), name=args.definition.name)
    except OSError as exc:
        print(f"{args.definition}: cannot read: {exc.strerror}", file=report_to)
        return EXIT_INVALID
    except DefinitionError as exc:
        for issue in exc.issues:
            print(f"{args.definition}: {issue}", file=report_to)
        return EXIT_INVALID
    for warning in definition.warnings:
        print(f"{args.definition}: warning: {warning}", file=report_to)
    if args.command == "validate":
        print(f"{args.definition}: valid (export {definition.guid!r}, {len(definition.columns)} columns)")
        return EXIT_OK
    return _render(args, definition)


def _render(args: argparse.Namespace, definition: ExportDefinition) -> int:
    now = args.now or datetime.now(UTC)
    source = InMemorySource.from_jsonl(args.tenant, args.dataset)
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
