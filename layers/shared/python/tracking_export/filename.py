"""``moveToFolder`` and ``generateEndFile`` file names (spec §4): ``%d %m %y %Y %H %M %S %i %e %%``."""

from __future__ import annotations

import posixpath
import re
from datetime import datetime

from tracking_export.model import FileExportAction, GenerateEndFile, MoveToFolder

TOKENS = "dmyYHMSie%"
_TOKEN_RE = re.compile(r"%(.?)", re.DOTALL)
# Characters refused in an object name: path separators and control characters.
_BAD_NAME_CHARS = re.compile(r"[/\\\x00-\x1f\x7f]")
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._ =@+,-]+$")


def pattern_problems(pattern: str) -> list[str]:
    """What is wrong with a ``fileName`` pattern; empty when it is valid."""
    problems: list[str] = []
    if not pattern.strip():
        return ["the file name pattern is empty"]
    for match in _TOKEN_RE.finditer(pattern):
        token = match.group(1)
        if token not in TOKENS or token == "":
            shown = f"%{token}" if token else "a lone %"
            problems.append(f"unknown token {shown!r}; allowed: %d %m %y %Y %H %M %S %i %e %%")
    if _BAD_NAME_CHARS.search(pattern):
        problems.append(
            "the file name may not contain '/' (no folders, no absolute path), '\\' or control characters"
        )
    if not pattern.strip("."):
        problems.append("a file name may not be only dots ('.', '..')")
    return problems


def folder_problems(folder: str) -> list[str]:
    """What is wrong with a ``folderPath``: it must stay inside the tenant's area."""
    problems: list[str] = []
    if "\\" in folder:
        problems.append("backslashes are not allowed in folderPath")
    if folder.startswith("/"):
        problems.append("folderPath must be relative to the tenant's area (no leading '/')")
    segments = [s for s in folder.split("/") if s]
    if any(s in ("..", ".") for s in segments):
        problems.append("'..' and '.' are not allowed in folderPath")
    bad = [s for s in segments if s not in ("..", ".") and not _SAFE_SEGMENT.match(s)]
    if bad:
        problems.append(
            f"folderPath segment {bad[0]!r} has characters outside A-Z a-z 0-9 . _ - = @ + , space"
        )
    return problems


def normalise_folder(folder: str) -> str:
    """``folderPath`` as a key prefix: no leading/trailing or doubled slashes."""
    return "/".join(s for s in folder.split("/") if s)


def extension(action: FileExportAction) -> str:
    ext = ".tsv" if action.format == "TSV" else ".csv"
    return ext + (".gz" if action.compression == "gzip" else "")


def render_file_name(
    move: MoveToFolder,
    action: FileExportAction,
    run_time_local: datetime,
    run_number: int,
    export_guid: str,
) -> str:
    """The object name (without folder) for a run at ``run_time_local`` (tenant's zone)."""
    values = _token_values(run_time_local, run_number, export_guid)
    pattern = move.file_name
    ext = extension(action)
    if not move.file_name_given:
        # The default pattern's ".csv" follows the format and compression.
        pattern = pattern.removesuffix(".csv")
    name = _TOKEN_RE.sub(lambda m: values[m.group(1)], pattern)
    # Whether the pattern has an extension is judged without the export guid, whose
    # dots ("daily.v2") are not an extension.
    shape = _TOKEN_RE.sub(lambda m: "e" if m.group(1) == "e" else values[m.group(1)], pattern)
    if not posixpath.splitext(shape)[1] or not move.file_name_given:
        name += ext
    elif action.compression == "gzip" and not name.endswith(".gz"):
        name += ".gz"
    return name


def render_end_file_name(
    end: GenerateEndFile, run_time_local: datetime, run_number: int, export_guid: str
) -> str:
    """The end file's object name (without folder): its pattern's tokens rendered like the
    export file's, and no extension added (a marker keeps the name it was given)."""
    values = _token_values(run_time_local, run_number, export_guid)
    return _TOKEN_RE.sub(lambda m: values[m.group(1)], end.file_name)


def _token_values(t: datetime, run_number: int, export_guid: str) -> dict[str, str]:
    return {
        "d": f"{t.day:02d}",
        "m": f"{t.month:02d}",
        "y": f"{t.year % 100:02d}",
        "Y": f"{t.year:04d}",
        "H": f"{t.hour:02d}",
        "M": f"{t.minute:02d}",
        "S": f"{t.second:02d}",
        "i": str(run_number),
        "e": export_guid,
        "%": "%",
    }


def object_key(tenant_id: str, move: MoveToFolder, file_name: str) -> str:
    """The export object's key: always inside ``tenants/{tenantId}/``."""
    folder = normalise_folder(move.folder_path)
    parts = ["tenants", tenant_id, *([folder] if folder else []), file_name]
    return "/".join(parts)
