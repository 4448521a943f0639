"""Spec export-definition.md §4 ``<moveToFolder>``: file name tokens, the extension that
follows format and compression, and ``folderPath`` kept inside the tenant's area.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tracking_export.filename import object_key, render_file_name
from tracking_export.model import FileExportAction, MoveToFolder

# 5 March 2007, 08:09:04 in the tenant's zone: every field has a leading zero to keep.
RUN_TIME = datetime(2007, 3, 5, 8, 9, 4)
CSV = FileExportAction()


def name(pattern: str | None, action: FileExportAction = CSV, *, run: int = 12, guid: str = "daily") -> str:
    move = MoveToFolder() if pattern is None else MoveToFolder(file_name=pattern, file_name_given=True)
    return render_file_name(move, action, RUN_TIME, run, guid)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("x_%d.csv", "x_05.csv"),
        ("x_%m.csv", "x_03.csv"),
        ("x_%y.csv", "x_07.csv"),
        ("x_%Y.csv", "x_2007.csv"),
        ("x_%H.csv", "x_08.csv"),
        ("x_%M.csv", "x_09.csv"),
        ("x_%S.csv", "x_04.csv"),
        ("x_%i.csv", "x_12.csv"),
        ("x_%e.csv", "x_daily.csv"),
        ("x_100%%.csv", "x_100%.csv"),
        ("%%d_%d.csv", "%d_05.csv"),
        ("%e_%Y%m%d_%H%M%S_%i.csv", "daily_20070305_080904_12.csv"),
    ],
)
def test_each_token(pattern: str, expected: str) -> None:
    assert name(pattern) == expected


def test_run_number_is_not_padded() -> None:
    assert name("run_%i.csv", run=3) == "run_3.csv"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (FileExportAction(), "daily_20070305_080904.csv"),
        (FileExportAction(format="TSV", delimiter="tabulation"), "daily_20070305_080904.tsv"),
        (FileExportAction(compression="gzip"), "daily_20070305_080904.csv.gz"),
        (FileExportAction(format="TSV", compression="gzip"), "daily_20070305_080904.tsv.gz"),
    ],
)
def test_default_pattern_extension_follows_format_and_compression(
    action: FileExportAction, expected: str
) -> None:
    assert name(None, action) == expected


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (FileExportAction(), "export_2007-03-05.csv"),
        (FileExportAction(format="TSV"), "export_2007-03-05.tsv"),
        (FileExportAction(compression="gzip"), "export_2007-03-05.csv.gz"),
    ],
)
def test_pattern_without_extension_gets_one(action: FileExportAction, expected: str) -> None:
    assert name("export_%Y-%m-%d", action) == expected


def test_pattern_with_extension_keeps_it() -> None:
    assert name("tracking_%Y%m%d.txt") == "tracking_20070305.txt"


def test_dots_in_the_export_guid_are_not_an_extension() -> None:
    assert name("%e_%Y", guid="daily.v2") == "daily.v2_2007.csv"


def test_given_extension_gains_gz_when_compressed() -> None:
    assert name("tracking_%Y.csv", FileExportAction(compression="gzip")) == "tracking_2007.csv.gz"


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("", "tenants/t-42/f.csv"),
        ("exports/daily", "tenants/t-42/exports/daily/f.csv"),
        ("exports/daily/", "tenants/t-42/exports/daily/f.csv"),
        ("exports//daily", "tenants/t-42/exports/daily/f.csv"),
    ],
)
def test_folder_path_becomes_a_prefix_inside_the_tenant_area(folder: str, expected: str) -> None:
    assert object_key("t-42", MoveToFolder(folder_path=folder), "f.csv") == expected
