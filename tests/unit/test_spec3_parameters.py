"""Spec export-definition.md §3: parameters (filters, formats, time frames, templates, …),
row order, tenant isolation and invalid records (data-contract.md).

Expected rows are worked out by hand from the records built here; the tenant zone
is Europe/Paris (UTC+1 in winter, UTC+2 from 2021-03-28 to 2021-10-31) unless a
test says otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from contract_records import Dataset, utc
from engine_helpers import NOW, body, column, parameters, provider, render, run, standard, zone

from tracking_export.window import compute_window

# ---------------------------------------------------------------------------
# Filters: one world, six trackings, one log each, all on 2021-02-10.
#
# Entities: 1 All users (root) > 2 Entity 01 > 3 Entity 01.1 > 5 Entity 01.1.1; 4 Entity 02 (root's).
# Learners (entity, smart groups): L1 (3, [1]), L2 (4, [2]), L3 (5, []), L4 (1, [1, 2]).
# Trainings (modality, status, publisher, catalogVisible, imported):
#   T10 learning_channel P "Acme Academy" yes no; T20 guided C "Other Pub" no yes;
#   T30 blended A "Acme Academy" yes no.
# Sessions (training, title, imported, hrisSelected):
#   S100 T10 "Session A" no yes; S200 T20 "Session B" no no; S300 T30 "Session A extra" yes yes.
# Contents (locale, publisherGuid, hrisSelected): C-1 en-US PUB-1 yes; C-2 fr-FR PUB-2 no;
#   C-3 de-DE PUB-1 yes.
# Trackings (learner, session, content, registrationImported, log status):
#   1001 L1 S100 C-1 no  completed
#   1002 L2 S200 C-2 yes incomplete
#   1003 L3 S300 C-3 no  notAttempted
#   1004 L4 S100 C-2 yes pendingFeedback
#   1005 L1 S300 C-1 no  completed
#   1006 L2 S200 C-3 no  incomplete
# Same day, so rows go by learner, session, content: 1001, 1005, 1002, 1006, 1003, 1004.
# ---------------------------------------------------------------------------

ALL = ["1001", "1005", "1002", "1006", "1003", "1004"]


def filter_world() -> Dataset:
    data = Dataset()
    data.entity(1, "All users")
    data.entity(2, "Entity 01", 1)
    data.entity(3, "Entity 01.1", 2)
    data.entity(4, "Entity 02", 1)
    data.entity(5, "Entity 01.1.1", 3)
    data.smartgroup(1, "Zeta team")
    data.smartgroup(2, "Alpha team")
    data.learner(1, entityId=3, smartgroupIds=[1])
    data.learner(2, entityId=4, smartgroupIds=[2])
    data.learner(3, entityId=5, smartgroupIds=[])
    data.learner(4, entityId=1, smartgroupIds=[1, 2])
    data.training(10, modality="learning_channel", status="P", publisher="Acme Academy", catalogVisible=True)
    data.training(
        20, modality="guided", status="C", publisher="Other Pub", catalogVisible=False, imported=True
    )
    data.training(30, modality="blended", status="A", publisher="Acme Academy", catalogVisible=True)
    data.session(100, 10, title="Session A", imported=False, hrisSelected=True)
    data.session(200, 20, title="Session B", imported=False, hrisSelected=False)
    data.session(300, 30, title="Session A extra", imported=True, hrisSelected=True)
    data.content("C-1", locale="en-US", publisherGuid="PUB-1", hrisSelected=True)
    data.content("C-2", locale="fr-FR", publisherGuid="PUB-2", hrisSelected=False)
    data.content("C-3", locale="de-DE", publisherGuid="PUB-1", hrisSelected=True)
    trackings = [
        (1001, 1, 100, "C-1", False, "completed"),
        (1002, 2, 200, "C-2", True, "incomplete"),
        (1003, 3, 300, "C-3", False, "notAttempted"),
        (1004, 4, 100, "C-2", True, "pendingFeedback"),
        (1005, 1, 300, "C-1", False, "completed"),
        (1006, 2, 200, "C-3", False, "incomplete"),
    ]
    for index, (tid, learner, session, content, imported, status) in enumerate(trackings):
        data.tracking(tid, learner, session, content, registrationImported=imported)
        data.log(tid, 9000 + tid, f"2021-02-10T{8 + index:02d}:00:00Z", status=status)
    return data


def kept(parameters_xml: str) -> list[str]:
    return column(provider("<reportId/>", parameters_xml), filter_world().records)


def test_without_filters_every_row_in_order() -> None:
    assert kept("") == ALL


@pytest.mark.parametrize(
    ("parameters_xml", "expected"),
    [
        # entityIds: the entity or any entity below it.
        ("<entityIds>2</entityIds>", ["1001", "1005", "1003"]),
        ("<entityIds>3</entityIds>", ["1001", "1005", "1003"]),
        ("<entityIds>5</entityIds>", ["1003"]),
        ("<entityIds>4</entityIds>", ["1002", "1006"]),
        ("<entityIds> 4 , 5 </entityIds>", ["1002", "1006", "1003"]),
        ("<entityIds>1</entityIds>", ALL),
        # modality of the session's training
        ("<modality>guided</modality>", ["1002", "1006"]),
        ("<modality>learning_channel</modality>", ["1001", "1004"]),
        ("<modality>blended</modality>", ["1005", "1003"]),
        ("<modality>kc</modality>", []),
        ("<modality></modality>", ALL),
        # imported registration / session / training
        ("<onlyFromImportedRegistrations>yes</onlyFromImportedRegistrations>", ["1002", "1004"]),
        ("<onlyFromImportedRegistrations>no</onlyFromImportedRegistrations>", ALL),
        ("<onlyFromImportedSessions>yes</onlyFromImportedSessions>", ["1005", "1003"]),
        ("<onlyFromImportedSessions>true</onlyFromImportedSessions>", ["1005", "1003"]),
        ("<onlyFromImportedTraining>1</onlyFromImportedTraining>", ["1002", "1006"]),
        ("<onlyFromImportedTraining>y</onlyFromImportedTraining>", ["1002", "1006"]),
        # content locale
        ("<preferredLocales>fr-FR, de-DE</preferredLocales>", ["1002", "1006", "1003", "1004"]),
        ("<contentPreferredLocales>en-US</contentPreferredLocales>", ["1001", "1005"]),
        # the content's publisherGuid
        ("<publishers>PUB-2</publishers>", ["1002", "1004"]),
        ("<publishers>PUB-1</publishers>", ["1001", "1005", "1006", "1003"]),
        ("<publishers> PUB-2 , PUB-9 </publishers>", ["1002", "1004"]),
        # the log's status
        ("<reportStatus><completed/><pendingFeedback/></reportStatus>", ["1001", "1005", "1004"]),
        ("<reportStatus><notAttempted/></reportStatus>", ["1003"]),
        ("<contentReportStatus><incomplete/></contentReportStatus>", ["1002", "1006"]),
        # training
        ("<trainingGuid>training-guid-20</trainingGuid>", ["1002", "1006"]),
        ("<trainingPathCode>PATH-30</trainingPathCode>", ["1005", "1003"]),
        ("<trainingStatus>C</trainingStatus>", ["1002", "1006"]),
        ("<trainingStatus>P, A</trainingStatus>", ["1001", "1005", "1003", "1004"]),
        ("<trainingStatus>archived</trainingStatus>", ["1005", "1003"]),
        ("<trainingStatus>underConstruction,published</trainingStatus>", ["1001", "1002", "1006", "1004"]),
        ("<trainingPublishers>Other Pub</trainingPublishers>", ["1002", "1006"]),
        ("<trainingPublishers>Acme Academy</trainingPublishers>", ["1001", "1005", "1003", "1004"]),
        (
            "<trainingModalityFormat>guided, blended</trainingModalityFormat>",
            ["1005", "1002", "1006", "1003"],
        ),
        ("<catalogVisibility>yes</catalogVisibility>", ["1001", "1005", "1003", "1004"]),
        ("<catalogVisibility>no</catalogVisibility>", ["1002", "1006"]),
        # session: exact title, not a prefix
        ("<sessionTitle>Session A</sessionTitle>", ["1001", "1004"]),
        ("<completeSessionTitle>Session A extra</completeSessionTitle>", ["1005", "1003"]),
        ("<sessionTitle>Session</sessionTitle>", []),
        ("<sessionGuid>session-guid-200</sessionGuid>", ["1002", "1006"]),
        # learner's smart groups
        ("<learnersSmartGroups>2</learnersSmartGroups>", ["1002", "1006", "1004"]),
        ("<learnersSmartGroups>1</learnersSmartGroups>", ["1001", "1005", "1004"]),
        # session AND content flagged for the HR connector:
        # 1001 S100+C-1, 1005 S300+C-1, 1003 S300+C-3; 1004 has C-2 (no), 1002/1006 have S200 (no).
        ("<onlyHrisSelectedItems>yes</onlyHrisSelectedItems>", ["1001", "1005", "1003"]),
        # Filters combine with AND.
        ("<modality>blended</modality><reportStatus><notAttempted/></reportStatus>", ["1003"]),
        ("<entityIds>2</entityIds><trainingStatus>A</trainingStatus>", ["1005", "1003"]),
        (
            "<learnersSmartGroups>1</learnersSmartGroups><catalogVisibility>yes</catalogVisibility>",
            ["1001", "1005", "1004"],
        ),
        ("<publishers>PUB-1</publishers><sessionGuid>session-guid-100</sessionGuid>", ["1001"]),
    ],
)
def test_filter_keeps_exactly(parameters_xml: str, expected: list[str]) -> None:
    assert kept(parameters_xml) == expected


def test_status_format_renames_statuses() -> None:
    inner = provider(
        "<reportId/><status/>",
        "<statusFormat><completed>C</completed><notAttempted>N/A</notAttempted></statusFormat>",
    )
    assert body(inner, filter_world().records) == [
        ["1001", "C"],
        ["1005", "C"],
        ["1002", "incomplete"],
        ["1006", "incomplete"],
        ["1003", "N/A"],
        ["1004", "pending feedback"],
    ]


def test_report_status_filters_on_status_not_on_its_renamed_text() -> None:
    inner = provider(
        "<reportId/><status/>",
        "<reportStatus><completed/></reportStatus><statusFormat><completed>Done</completed></statusFormat>",
    )
    assert body(inner, filter_world().records) == [["1001", "Done"], ["1005", "Done"]]


# ---------------------------------------------------------------------------
# Date patterns. Log at 2021-02-03T08:04:05Z = 09:04:05 Paris; session 100 runs
# 2021-02-01 .. 2021-03-31.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters_xml", "started", "expected"),
    [
        ("", "2021-02-03T08:04:05Z", ["2021-02-03 09:04:05", "2021-02-03", "2021-02-01", "2021-03-31"]),
        (
            "<dateTimeFormat>YYYY-MM-DDThh:ii:ss</dateTimeFormat>",
            "2021-02-03T08:04:05Z",
            ["2021-02-03T09:04:05", "2021-02-03", "2021-02-01", "2021-03-31"],
        ),
        (
            "<dateTimeFormat>DD/MM/YYYY hh:ii</dateTimeFormat><dateFormat>MM-DD-YYYY</dateFormat>",
            "2021-02-03T08:04:05Z",
            ["03/02/2021 09:04", "02-03-2021", "02-01-2021", "03-31-2021"],
        ),
        (
            "<dateFormat>DD.MM.YY</dateFormat><dateTimeFormat>YY/MM/DD hh:ii:ss</dateTimeFormat>",
            "2021-02-03T14:07:08Z",
            ["21/02/03 15:07:08", "03.02.21", "01.02.21", "31.03.21"],
        ),
        # dateFormat leaves datetime cells alone.
        (
            "<dateFormat>DD/MM/YYYY</dateFormat>",
            "2021-02-03T08:04:05Z",
            ["2021-02-03 09:04:05", "03/02/2021", "01/02/2021", "31/03/2021"],
        ),
    ],
)
def test_date_patterns(parameters_xml: str, started: str, expected: list[str]) -> None:
    data = standard()
    data.log(1000, 9001, started)
    inner = provider("<firstLaunchDate/><logDate/><sessionStartDate/><sessionEndDate/>", parameters_xml)
    assert body(inner, data.records) == [expected]


def test_date_time_format_applies_to_every_datetime_column() -> None:
    data = standard()
    data.log(
        1000,
        9001,
        "2021-02-03T08:04:05Z",
        seconds=60,
        completedAt="2021-02-03T08:05:00Z",
        progression=100,
        status="completed",
    )
    inner = provider(
        "<firstLaunchDate/><completionTime/><firstCompletionDate/><learningObjectRealCompletionTime/>",
        "<dateTimeFormat>DD/MM/YYYY hh:ii</dateTimeFormat>",
    )
    assert body(inner, data.records) == [
        ["03/02/2021 09:04", "03/02/2021 09:05", "03/02/2021 09:05", "03/02/2021 09:04"]
    ]


# ---------------------------------------------------------------------------
# timeGlobalFormat
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "seconds", "decimal", "cell"),
    [
        ("rawSeconds", 5115, "point", "5115"),
        ("rawMinutes", 5115, "point", "85.25"),
        ("iso-8601", 5115, "point", "PT1H25M15S"),
        ("padded", 5115, "point", "001:25"),
        ("paddedhh", 5115, "point", "01:25"),
        ("rawSeconds", 0, "point", "0"),
        ("rawMinutes", 0, "point", "0.00"),
        ("rawMinutes", 90, "point", "1.50"),
        ("rawMinutes", 180, "point", "3.00"),
        ("rawMinutes", 5115, "comma", "85,25"),
        ("rawMinutes", 3600000, "point", "60000.00"),
        ("iso-8601", 0, "point", "PT0S"),
        ("iso-8601", 59, "point", "PT59S"),
        ("iso-8601", 180, "point", "PT3M"),
        ("iso-8601", 3600, "point", "PT1H"),
        ("iso-8601", 3605, "point", "PT1H5S"),
        ("padded", 0, "point", "000:00"),
        ("padded", 59, "point", "000:00"),
        ("padded", 3605, "point", "001:00"),
        ("padded", 360000, "point", "100:00"),
        ("padded", 3600000, "point", "1000:00"),
        ("padded", 3600359, "point", "1000:05"),
        ("paddedhh", 0, "point", "00:00"),
        ("paddedhh", 119, "point", "00:01"),
        ("paddedhh", 36000, "point", "10:00"),
        ("paddedhh", 360000, "point", "100:00"),
        ("paddedhh", 360059, "point", "100:00"),
    ],
)
def test_time_global_format(fmt: str, seconds: int, decimal: str, cell: str) -> None:
    data = standard()
    data.log(1000, 9001, "2021-02-10T09:30:00Z", seconds=seconds)
    rows = render(
        provider("<timeGlobal/>", f"<timeGlobalFormat>{fmt}</timeGlobalFormat>"),
        data.records,
        action=f"<delimiter>semicolon</delimiter><decimal>{decimal}</decimal>",
    )
    assert rows == [["timeGlobal"], [cell]]


def test_time_global_format_seed_name() -> None:
    data = standard()
    data.log(1000, 9001, "2021-02-10T09:30:00Z", seconds=5115)
    inner = provider("<timeGlobal/>", "<contentTimeGlobalFormat>iso-8601</contentTimeGlobalFormat>")
    assert body(inner, data.records) == [["PT1H25M15S"]]


# ---------------------------------------------------------------------------
# Time frames: windows in the tenant's zone.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "n", "now", "start"),
    [
        # The spec's own example: N=3 on 2021-02-24 -> 2020-11-01 00:00 Paris (= 2020-10-31 23:00Z).
        ("less_than_n_full_months", 3, "2021-02-24T12:00:00Z", "2020-10-31T23:00:00Z"),
        ("less_than_n_full_months", 0, "2021-02-24T12:00:00Z", "2021-01-31T23:00:00Z"),
        ("less_than_n_full_months", 1, "2021-01-10T12:00:00Z", "2020-11-30T23:00:00Z"),
        ("less_than_n_full_months", 13, "2021-02-24T12:00:00Z", "2019-12-31T23:00:00Z"),
        # 23:30Z on 28 Feb is already 1 March in Paris: the current month is March.
        ("less_than_n_full_months", 0, "2021-02-28T23:30:00Z", "2021-02-28T23:00:00Z"),
        # Now in summer time, window start in winter time: 1 March 00:00 CET.
        ("less_than_n_full_months", 1, "2021-04-15T10:00:00Z", "2021-02-28T23:00:00Z"),
        ("less_than_n_full_months", 0, "2021-07-15T10:00:00Z", "2021-06-30T22:00:00Z"),
        # Same wall-clock time N months before: 2021-02-24 13:00 Paris -> 2020-11-24 13:00 Paris.
        ("less_than_n_months", 3, "2021-02-24T12:00:00Z", "2020-11-24T12:00:00Z"),
        ("less_than_n_months", 12, "2021-02-24T12:00:00Z", "2020-02-24T12:00:00Z"),
        ("less_than_n_months", 0, "2021-02-24T12:00:00Z", "2021-02-24T12:00:00Z"),
        # 31 March 12:00 CEST -> 28 February 12:00 CET (day clamped), 29 February in a leap year.
        ("less_than_n_months", 1, "2021-03-31T10:00:00Z", "2021-02-28T11:00:00Z"),
        ("less_than_n_months", 1, "2020-03-31T10:00:00Z", "2020-02-29T11:00:00Z"),
        # Wall-clock kept across the DST change: 15 April 12:00 CEST -> 15 March 12:00 CET.
        ("less_than_n_months", 1, "2021-04-15T10:00:00Z", "2021-03-15T11:00:00Z"),
        ("less_than_n_years", 1, "2021-02-24T12:00:00Z", "2020-02-24T12:00:00Z"),
        ("less_than_n_years", 1, "2020-02-29T12:00:00Z", "2019-02-28T12:00:00Z"),
        ("less_than_n_years", 2, "2021-07-01T10:00:00Z", "2019-07-01T10:00:00Z"),
        ("less_than_n_full_years", 1, "2021-02-24T12:00:00Z", "2019-12-31T23:00:00Z"),
        ("less_than_n_full_years", 0, "2021-02-24T12:00:00Z", "2020-12-31T23:00:00Z"),
        # 23:30Z on 31 Dec 2020 is 2021 in Paris.
        ("less_than_n_full_years", 0, "2020-12-31T23:30:00Z", "2020-12-31T23:00:00Z"),
        # now - N x 24 h, even across a DST change (28 March / 31 October 2021).
        ("less_than_n_days", 2, "2021-03-29T12:00:00Z", "2021-03-27T12:00:00Z"),
        ("less_than_n_days", 1, "2021-10-31T12:00:00Z", "2021-10-30T12:00:00Z"),
        ("less_than_n_days", 30, "2021-02-24T12:00:00Z", "2021-01-25T12:00:00Z"),
        ("less_than_n_days", 0, "2021-02-24T12:00:00Z", "2021-02-24T12:00:00Z"),
    ],
)
def test_time_frame_window_start(scale: str, n: int, now: str, start: str) -> None:
    params = parameters(f"<timeFrames>{n}</timeFrames><timeFramesScale>{scale}</timeFramesScale>")
    window = compute_window(params, zone(), utc(now), None)
    assert window.kind == "timeFrame"
    assert window.start == utc(start)
    assert window.end == utc(now)


def frame_rows(scale: str, n: int, now: str, starts: list[str]) -> list[str]:
    """Logs of tracking 1000 whose timeGlobal is their position (1, 2, …); the kept ones."""
    data = standard()
    for position, started in enumerate(starts, start=1):
        data.log(1000, 9000 + position, started, seconds=position)
    inner = provider(
        "<timeGlobal/>", f"<timeFrames>{n}</timeFrames><timeFramesScale>{scale}</timeFramesScale>"
    )
    return column(inner, data.records, now=utc(now))


def test_full_months_rows_in_window_boundaries_included() -> None:
    starts = [
        "2020-10-31T22:59:59Z",  # 31 Oct 23:59:59 Paris: before the window
        "2020-10-31T23:00:00Z",  # 1 Nov 00:00:00 Paris: the window's start, included
        "2021-01-15T10:00:00Z",
        "2021-02-24T12:00:00Z",  # exactly now: included
        "2021-02-24T12:00:01Z",  # after now
    ]
    assert frame_rows("less_than_n_full_months", 3, "2021-02-24T12:00:00Z", starts) == ["2", "3", "4"]


def test_days_window_is_n_times_24_hours_across_dst() -> None:
    starts = [
        "2021-03-27T11:59:59Z",
        "2021-03-27T12:00:00Z",  # now - 48 h
        "2021-03-27T12:30:00Z",  # inside 48 h (a wall-clock reading would start at 13:00Z)
        "2021-03-29T12:00:00Z",
        "2021-03-29T12:00:01Z",
    ]
    assert frame_rows("less_than_n_days", 2, "2021-03-29T12:00:00Z", starts) == ["2", "3", "4"]


def test_months_window_clamped_to_month_end() -> None:
    starts = ["2021-02-28T10:59:59Z", "2021-02-28T11:00:00Z", "2021-03-31T10:00:00Z"]
    assert frame_rows("less_than_n_months", 1, "2021-03-31T10:00:00Z", starts) == ["2", "3"]


def test_years_windows() -> None:
    starts = ["2020-02-24T11:59:59Z", "2020-02-24T12:00:00Z", "2021-01-01T00:00:00Z"]
    assert frame_rows("less_than_n_years", 1, "2021-02-24T12:00:00Z", starts) == ["2", "3"]
    starts = ["2019-12-31T22:59:59Z", "2019-12-31T23:00:00Z", "2021-01-01T00:00:00Z"]
    assert frame_rows("less_than_n_full_years", 1, "2021-02-24T12:00:00Z", starts) == ["2", "3"]


def test_time_frame_seed_names() -> None:
    data = standard()
    data.log(1000, 9001, "2021-02-23T12:00:00Z", seconds=1)
    data.log(1000, 9002, "2021-02-20T12:00:00Z", seconds=2)
    inner = provider(
        "<timeGlobal/>",
        "<contentTimeFrames>2</contentTimeFrames><contentTimeFramesScale>less_than_n_days</contentTimeFramesScale>",
    )
    assert column(inner, data.records) == ["1"]


# timeFrameScaleMode. Window: full months, N=0 -> from 1 Feb 2021 00:00 Paris; now 24 Feb.
# Tracking 1000 (C-1): 10 Jan 100 s (outside), 10 Feb 200 s, 20 Feb 300 s, 25 Feb 1000 s (after now).
# Tracking 1001 (C-2): 1 Dec 2020 25 s (outside), 15 Feb 50 s.
# Rows: 10 Feb (1000), 15 Feb (1001), 20 Feb (1000).
# timeSpent: 200, 50, 300. lastActivity*: 100+200=300, 25+50=75, 100+200+300=600.


def scale_mode_world() -> Dataset:
    data = standard()
    data.content("C-2")
    data.tracking(1001, 1, 100, "C-2")
    data.log(1000, 9001, "2021-01-10T10:00:00Z", seconds=100)
    data.log(1000, 9002, "2021-02-10T10:00:00Z", seconds=200)
    data.log(1000, 9003, "2021-02-20T10:00:00Z", seconds=300)
    data.log(1000, 9004, "2021-02-25T10:00:00Z", seconds=1000)
    data.log(1001, 9005, "2020-12-01T10:00:00Z", seconds=25)
    data.log(1001, 9006, "2021-02-15T10:00:00Z", seconds=50)
    return data


@pytest.mark.parametrize(
    ("mode_xml", "expected"),
    [
        ("", [["1000", "200"], ["1001", "50"], ["1000", "300"]]),
        (
            "<timeFrameScaleMode>timeSpent</timeFrameScaleMode>",
            [["1000", "200"], ["1001", "50"], ["1000", "300"]],
        ),
        (
            "<timeFrameScaleMode>lastActivity</timeFrameScaleMode>",
            [["1000", "300"], ["1001", "75"], ["1000", "600"]],
        ),
        (
            "<timeFrameScaleMode>lastActivityCumulative</timeFrameScaleMode>",
            [["1000", "300"], ["1001", "75"], ["1000", "600"]],
        ),
        (
            "<contentTimeFrameScaleMode>lastActivity</contentTimeFrameScaleMode>"
            "<timeGlobalFormat>iso-8601</timeGlobalFormat>",
            [["1000", "PT5M"], ["1001", "PT1M15S"], ["1000", "PT10M"]],
        ),
    ],
)
def test_time_frame_scale_mode(mode_xml: str, expected: list[list[str]]) -> None:
    inner = provider(
        "<reportId/><timeGlobal/>",
        "<timeFrames>0</timeFrames><timeFramesScale>less_than_n_full_months</timeFramesScale>" + mode_xml,
    )
    assert body(inner, scale_mode_world().records) == expected


# ---------------------------------------------------------------------------
# withoutLaunchTime
#
# Tracking 1001 (learner 2, S100, C-1) has one completed log on 10 Feb. Trackings without
# any log: 1000 (L1, S100, C-1), 1002 (L1, S100, C-2), 1003 (L1, S200 of guided T20, C-1).
# Unlaunched rows come after the logged one, by learner, session, content: 1000, 1002, 1003.
# ---------------------------------------------------------------------------

UNLAUNCHED_COLUMNS = (
    "<reportId/><firstLaunchDate/><completionTime/><firstCompletionDate/>"
    "<learningObjectRealCompletionTime/><logDate/><progression/><score/><status/><timeGlobal/>"
)
LOGGED_1001 = [
    "1001",
    "2021-02-10 10:30:00",
    "2021-02-10 10:31:00",
    "2021-02-10 10:31:00",
    "2021-02-10 10:30:00",
    "2021-02-10",
    "100",
    "4",
    "completed",
    "60",
]


def unlaunched_row(tracking: str, status: str = "not attempted", time: str = "0") -> list[str]:
    return [tracking, "", "", "", "", "", "0", "", status, time]


def unlaunched_world() -> Dataset:
    data = standard()
    data.learner(2, entityId=3)
    data.content("C-2")
    data.training(20, modality="guided")
    data.session(200, 20)
    data.tracking(1001, 2, 100, "C-1")
    data.tracking(1002, 1, 100, "C-2")
    data.tracking(1003, 1, 200, "C-1")
    data.log(
        1001,
        9001,
        "2021-02-10T09:30:00Z",
        seconds=60,
        completedAt="2021-02-10T09:31:00Z",
        progression=100,
        score=4,
        status="completed",
    )
    return data


@pytest.mark.parametrize("flag", ["", "<withoutLaunchTime>no</withoutLaunchTime>"])
def test_without_launch_time_off_emits_only_logs(flag: str) -> None:
    assert body(provider(UNLAUNCHED_COLUMNS, flag), unlaunched_world().records) == [LOGGED_1001]


def test_without_launch_time_rows_after_logged_rows_in_order() -> None:
    inner = provider(UNLAUNCHED_COLUMNS, "<withoutLaunchTime>yes</withoutLaunchTime>")
    assert body(inner, unlaunched_world().records) == [
        LOGGED_1001,
        unlaunched_row("1000"),
        unlaunched_row("1002"),
        unlaunched_row("1003"),
    ]


@pytest.mark.parametrize(
    ("parameters_xml", "expected"),
    [
        (
            "<modality>learning_channel</modality>",
            [LOGGED_1001, unlaunched_row("1000"), unlaunched_row("1002")],
        ),
        ("<reportStatus><completed/></reportStatus>", [LOGGED_1001]),
        (
            "<reportStatus><notAttempted/></reportStatus>",
            [unlaunched_row("1000"), unlaunched_row("1002"), unlaunched_row("1003")],
        ),
        ("<entityIds>4</entityIds>", []),
        ("<sessionGuid>session-guid-200</sessionGuid>", [unlaunched_row("1003")]),
        (
            "<statusFormat><notAttempted>N/A</notAttempted></statusFormat>",
            [
                LOGGED_1001,
                unlaunched_row("1000", "N/A"),
                unlaunched_row("1002", "N/A"),
                unlaunched_row("1003", "N/A"),
            ],
        ),
        (
            "<timeGlobalFormat>iso-8601</timeGlobalFormat>",
            [
                [*LOGGED_1001[:-1], "PT1M"],
                unlaunched_row("1000", time="PT0S"),
                unlaunched_row("1002", time="PT0S"),
                unlaunched_row("1003", time="PT0S"),
            ],
        ),
        # The time-frame window drops the 10 Feb log but not the never-launched trackings;
        # tracking 1001 has a log, so it is not "never launched".
        (
            "<timeFrames>1</timeFrames><timeFramesScale>less_than_n_days</timeFramesScale>",
            [unlaunched_row("1000"), unlaunched_row("1002"), unlaunched_row("1003")],
        ),
    ],
)
def test_without_launch_time_other_filters_apply_windows_do_not(
    parameters_xml: str, expected: list[list[str]]
) -> None:
    inner = provider(UNLAUNCHED_COLUMNS, "<withoutLaunchTime>yes</withoutLaunchTime>" + parameters_xml)
    assert body(inner, unlaunched_world().records) == expected


def test_without_launch_time_ignores_the_delta_window() -> None:
    inner = provider(
        UNLAUNCHED_COLUMNS, "<withoutLaunchTime>yes</withoutLaunchTime><deltaMode>yes</deltaMode>"
    )
    rows = body(inner, unlaunched_world().records, previous=utc("2021-02-23T01:00:00Z"))
    assert rows == [unlaunched_row("1000"), unlaunched_row("1002"), unlaunched_row("1003")]


# ---------------------------------------------------------------------------
# templates
# ---------------------------------------------------------------------------


def laurie_completed() -> Dataset:
    data = standard()
    data.log(1000, 9001, "2021-02-10T09:30:00Z", seconds=60, progression=37.5, status="completed")
    return data


@pytest.mark.parametrize(
    ("columns_xml", "template", "expected"),
    [
        ("<candidateFirstname/><candidateName/>", "{0} / {1}", ["Laurie", "Martin", "Laurie / Martin"]),
        ("<candidateFirstname/>", "{{{0}}}", ["Laurie", "{Laurie}"]),
        ("<candidateFirstname/>", "{{0}} is {0}", ["Laurie", "{0} is Laurie"]),
        ("<candidateFirstname/>", "no placeholder", ["Laurie", "no placeholder"]),
        ('<constantValue value="X"/>', "{0}{0}", ["X", "XX"]),
    ],
)
def test_templates(columns_xml: str, template: str, expected: list[str]) -> None:
    inner = provider(
        columns_xml + '<templatedValue templateId="t"/>',
        f'<templates><template id="t">{template}</template></templates>',
    )
    assert body(inner, laurie_completed().records) == [expected]


def test_template_may_reference_a_later_column() -> None:
    inner = provider(
        '<templatedValue templateId="1"/><candidateId/>',
        '<templates><template id="1">learner {1}</template></templates>',
    )
    assert body(inner, laurie_completed().records) == [["learner 1", "1"]]


def test_template_sees_formatted_values() -> None:
    inner = provider(
        '<firstLaunchDate/><status/><progression/><templatedValue templateId="d"/>',
        "<dateTimeFormat>DD/MM/YYYY hh:ii</dateTimeFormat>"
        "<statusFormat><completed>Done</completed></statusFormat>"
        '<templates><template id="d">{0}|{1}|{2}</template></templates>',
    )
    rows = body(
        inner, laurie_completed().records, action="<delimiter>semicolon</delimiter><decimal>comma</decimal>"
    )
    assert rows == [["10/02/2021 10:30", "Done", "37,5", "10/02/2021 10:30|Done|37,5"]]


# ---------------------------------------------------------------------------
# stripHTML and maxLength
# ---------------------------------------------------------------------------


def titled(title: str) -> Dataset:
    data = standard()
    data.records = [r for r in data.records if r["type"] != "content"]
    data.content("C-1", learningObjectGuid="LO-1", title=title)
    data.log(1000, 9001, "2021-02-10T09:30:00Z")
    return data


def test_strip_html_removes_tags_and_decodes_entities() -> None:
    data = titled("<b>Welcome</b> to <i>our</i> team &amp; co")
    inner = provider('<contentTitle label="&lt;b&gt;Title&lt;/b&gt;"/>', "<stripHTML>yes</stripHTML>")
    assert render(inner, data.records) == [["<b>Title</b>"], ["Welcome to our team & co"]]


def test_without_strip_html_cells_keep_tags() -> None:
    data = titled("<b>Welcome</b> &amp; co")
    assert body(provider("<contentTitle/>"), data.records) == [["<b>Welcome</b> &amp; co"]]


def test_max_length_cuts_characters_not_bytes_and_not_the_header() -> None:
    data = titled("Éléphant rose")
    raw, _ = run(provider("<contentTitle/><reportId/>", "<maxLength>4</maxLength>"), data.records)
    # "Élép" is 4 characters, 6 bytes in UTF-8.
    assert raw == b"contentTitle,reportId\r\n" + "Élép".encode() + b",1000\r\n"


def test_max_length_applies_to_every_cell_after_formatting() -> None:
    data = titled("Welcome to our team")
    inner = provider("<contentTitle/><firstLaunchDate/><reportId/>", "<maxLength>10</maxLength>")
    assert render(inner, data.records) == [
        ["contentTitle", "firstLaunchDate", "reportId"],
        ["Welcome to", "2021-02-10", "1000"],
    ]


def test_max_length_is_applied_after_strip_html() -> None:
    data = titled("<b>Éléphant</b> rose")
    inner = provider("<contentTitle/>", "<stripHTML>yes</stripHTML><maxLength>4</maxLength>")
    assert body(inner, data.records) == [["Élép"]]


def test_max_length_cuts_templated_cells_too() -> None:
    inner = provider(
        '<candidateFirstname/><templatedValue templateId="t"/>',
        '<templates><template id="t">{0} Martin</template></templates><maxLength>8</maxLength>',
    )
    assert body(inner, laurie_completed().records) == [["Laurie", "Laurie M"]]


# ---------------------------------------------------------------------------
# Row order and determinism
#
# Trackings: 501 L1 S100 C-A; 502 L1 S100 C-B; 503 L1 S20 C-A; 504 L2 S100 C-A; 505 L10 S100 C-A.
# Each log's timeGlobal is its expected position.
#   1: 505 at 2021-02-10T22:00Z = 10 Feb 23:00 Paris            (day 10 Feb)
#   2: 503 at 2021-02-11T12:00Z   L1 S20                        (day 11 Feb from here)
#   3: 501 at 2021-02-11T08:00Z   L1 S100 C-A, earlier start
#   4: 501 at 2021-02-11T15:00Z   L1 S100 C-A, later start
#   5: 502 at 2021-02-11T07:00Z   L1 S100 C-B
#   6: 504 at 2021-02-10T23:30Z = 11 Feb 00:30 Paris, L2
#   7: 504 at 2021-02-11T09:00Z   L2
#   8: 505 at 2021-02-11T06:00Z   L10 (ids compare as numbers: 2 < 10; sessions 20 < 100)
# ---------------------------------------------------------------------------


def order_world(reverse: bool = False) -> list[dict[str, Any]]:
    data = standard()
    data.learner(2, entityId=3)
    data.learner(10, entityId=3)
    data.session(20, 10)
    data.content("C-A")
    data.content("C-B")
    data.tracking(501, 1, 100, "C-A")
    data.tracking(502, 1, 100, "C-B")
    data.tracking(503, 1, 20, "C-A")
    data.tracking(504, 2, 100, "C-A")
    data.tracking(505, 10, 100, "C-A")
    logs = [
        (504, "2021-02-11T09:00:00Z", 7),
        (501, "2021-02-11T15:00:00Z", 4),
        (505, "2021-02-11T06:00:00Z", 8),
        (502, "2021-02-11T07:00:00Z", 5),
        (503, "2021-02-11T12:00:00Z", 2),
        (504, "2021-02-10T23:30:00Z", 6),
        (501, "2021-02-11T08:00:00Z", 3),
        (505, "2021-02-10T22:00:00Z", 1),
    ]
    for index, (tracking, started, position) in enumerate(logs):
        data.log(tracking, 9100 + index, started, seconds=position)
    return list(reversed(data.records)) if reverse else data.records


def test_row_order() -> None:
    rows = body(provider("<timeGlobal/><reportId/><logDate/>"), order_world())
    assert rows == [
        ["1", "505", "2021-02-10"],
        ["2", "503", "2021-02-11"],
        ["3", "501", "2021-02-11"],
        ["4", "501", "2021-02-11"],
        ["5", "502", "2021-02-11"],
        ["6", "504", "2021-02-11"],
        ["7", "504", "2021-02-11"],
        ["8", "505", "2021-02-11"],
    ]


def test_two_runs_are_byte_identical_whatever_the_record_order() -> None:
    inner = provider("<reportId/><candidateId/><firstLaunchDate/><timeGlobal/><status/>")
    first, _ = run(inner, order_world())
    second, _ = run(inner, order_world())
    shuffled, _ = run(inner, order_world(reverse=True))
    assert first == second == shuffled
    assert len(first.splitlines()) == 9


# ---------------------------------------------------------------------------
# Tenants: ids are unique only within a tenant.
# ---------------------------------------------------------------------------


def test_other_tenants_records_never_appear() -> None:
    acme = standard()
    acme.log(1000, 9001, "2021-02-10T09:30:00Z", seconds=60)
    other = standard(tenant="other")
    other.records = [r for r in other.records if r["type"] != "learner"]
    other.learner(1, name="Intruder", firstname="Eve", entityId=3)
    other.log(1000, 9001, "2021-02-10T09:30:00Z", seconds=777)
    other.log(1000, 9002, "2021-02-11T09:30:00Z", seconds=888)
    inner = provider("<reportId/><candidateName/><candidateFirstname/><timeGlobal/>")
    alone, _ = run(inner, acme.records)
    mixed, _ = run(inner, other.records + acme.records + other.records[:3])
    assert mixed == alone
    assert body(inner, other.records + acme.records) == [["1000", "Martin", "Laurie", "60"]]
    # And the other tenant sees only its own.
    assert body(inner, acme.records + other.records, tenant="other") == [
        ["1000", "Intruder", "Eve", "777"],
        ["1000", "Intruder", "Eve", "888"],
    ]


# ---------------------------------------------------------------------------
# Invalid records (data-contract.md): skipped, counted, listed with their keys;
# the other rows are exactly what they would be without them.
# ---------------------------------------------------------------------------


def valid_world() -> Dataset:
    data = standard()
    data.log(1000, 9001, "2021-02-10T09:30:00Z", seconds=60)
    data.log(1000, 9002, "2021-02-11T09:30:00Z", seconds=120)
    return data


def _log_without(field_name: str, data: Dataset, log_id: int) -> None:
    record = data.log(1000, log_id, "2021-02-10T12:00:00Z")
    del record[field_name]


def add_log_without_tracking(data: Dataset) -> None:
    data.log(9999, 9101, "2021-02-10T10:00:00Z")


def add_tracking_without_learner(data: Dataset) -> None:
    data.tracking(2001, 77, 100, "C-1")
    data.log(2001, 9102, "2021-02-10T10:00:00Z")


def add_tracking_without_content(data: Dataset) -> None:
    data.tracking(2002, 1, 100, "C-404")
    data.log(2002, 9103, "2021-02-10T10:00:00Z")


def add_session_without_training(data: Dataset) -> None:
    data.session(300, 99)
    data.tracking(2003, 1, 300, "C-1")
    data.log(2003, 9104, "2021-02-10T10:00:00Z")


def add_tracking_without_session(data: Dataset) -> None:
    data.tracking(2004, 1, 404, "C-1")
    data.log(2004, 9105, "2021-02-10T10:00:00Z")


def add_log_missing_started_at(data: Dataset) -> None:
    _log_without("startedAt", data, 9106)


def add_log_with_wrong_type(data: Dataset) -> None:
    data.log(1000, 9107, "2021-02-10T10:00:00Z", timeSpentSeconds="sixty")


def add_log_with_wrong_progression_type(data: Dataset) -> None:
    data.log(1000, 9108, "2021-02-10T10:00:00Z", progression="forty")


INVALID = [
    (add_log_without_tracking, "trackingLog", 9101),
    (add_tracking_without_learner, "tracking", 2001),
    (add_tracking_without_content, "tracking", 2002),
    (add_session_without_training, "session", 300),
    (add_tracking_without_session, "tracking", 2004),
    (add_log_missing_started_at, "trackingLog", 9106),
    (add_log_with_wrong_type, "trackingLog", 9107),
    (add_log_with_wrong_progression_type, "trackingLog", 9108),
]
INVALID_COLUMNS = provider(
    "<reportId/><candidateName/><sessionTitle/><trainingTitle/><contentTitle/><firstLaunchDate/><timeGlobal/>"
)


def _names(key: Any) -> set[Any]:
    if isinstance(key, tuple | list):
        return set(key)
    return {key}


@pytest.mark.parametrize(("add", "kind", "key"), INVALID, ids=[add.__name__ for add, _, _ in INVALID])
def test_invalid_record_is_skipped_counted_and_listed(add: Any, kind: str, key: int) -> None:
    clean, clean_report = run(INVALID_COLUMNS, valid_world().records)
    assert clean_report.skipped_count == 0
    data = valid_world()
    add(data)
    dirty, report = run(INVALID_COLUMNS, data.records)
    assert dirty == clean
    assert report.rows == clean_report.rows == 2
    assert report.skipped_count >= 1
    assert report.skipped_count == len(report.skipped)
    assert any(s.kind == kind and key in _names(s.key) for s in report.skipped), report.skipped
    assert all(s.reason for s in report.skipped)


def test_all_invalid_records_at_once() -> None:
    clean, _ = run(INVALID_COLUMNS, valid_world().records)
    data = valid_world()
    for add, _, _ in INVALID:
        add(data)
    dirty, report = run(INVALID_COLUMNS, data.records)
    assert dirty == clean
    assert report.rows == 2
    assert report.skipped_count >= len(INVALID)
    for _, kind, key in INVALID:
        assert any(s.kind == kind and key in _names(s.key) for s in report.skipped), (kind, key)


def test_window_reported_for_time_frame_runs() -> None:
    _, report = run(
        provider(
            "<reportId/>",
            "<timeFrames>3</timeFrames><timeFramesScale>less_than_n_full_months</timeFramesScale>",
        ),
        valid_world().records,
        now=NOW,
    )
    assert report.window.kind == "timeFrame"
    assert report.window.start == datetime.fromisoformat("2020-11-01T00:00:00+01:00")
    assert report.window.end == NOW
