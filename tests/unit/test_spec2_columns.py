"""Spec export-definition.md §2: what each column prints, and the header row.

Every expected cell is worked out by hand from the spec and the records of
``engine_helpers.standard()`` plus the one log below (tenant zone Europe/Paris,
UTC+1 in February).
"""

from __future__ import annotations

from typing import Any

import pytest
from contract_records import Dataset
from engine_helpers import body, provider, render, standard

# The log every single-column case reads: Laurie opens "Welcome to our team" on
# 2021-02-10 at 09:30:00Z = 10:30:00 Paris, completes it at 09:45:00Z = 10:45:00,
# last access 09:45:15Z = 10:45:15, 915 s spent, progression 100, score 37.5.
LOG: dict[str, Any] = {
    "lastAccessAt": "2021-02-10T09:45:15Z",
    "completedAt": "2021-02-10T09:45:00Z",
    "progression": 100,
    "score": 37.5,
    "status": "completed",
}


def laurie(**log_over: Any) -> Dataset:
    data = standard()
    data.log(1000, 9001, "2021-02-10T09:30:00Z", seconds=915, **{**LOG, **log_over})
    return data


# (column element, header, cell) — one case per column of the §2 table and the three extras.
COLUMNS: list[tuple[str, str, str]] = [
    ("<reportId/>", "reportId", "1000"),
    ("<reportGuid/>", "reportGuid", "tracking-guid-1000"),
    ("<candidateId/>", "candidateId", "1"),
    ("<candidateGuid/>", "candidateGuid", "learner-guid-1"),
    ("<candidateName/>", "candidateName", "Martin"),
    ("<candidateFirstname/>", "candidateFirstname", "Laurie"),
    ("<candidateLogin/>", "candidateLogin", "laurie.m"),
    ("<candidateEmail/>", "candidateEmail", "laurie@example.com"),
    ("<candidateRefNumber/>", "candidateRefNumber", "EMP-001"),
    ("<candidateCustomFieldGuid>CF-DEPT</candidateCustomFieldGuid>", "candidateCustomFieldGuid", "Sales"),
    # The learner's own zone, not the tenant's.
    ("<candidateTimeZone/>", "candidateTimeZone", "America/New_York"),
    # Groups 1 "Zeta team" and 2 "Alpha team": sorted by name, not by id.
    ("<candidateSmartgroups/>", "candidateSmartgroups", "Alpha team;Zeta team"),
    # Entity 3 "Entity 01.1" < 2 "Entity 01" < 1 "All users"; own entity left out by default.
    ("<candidateEntityAncestors/>", "candidateEntityAncestors", "All users -> Entity 01"),
    ("<candidateEntityName/>", "candidateEntityName", "Entity 01.1"),
    ("<trainingId/>", "trainingId", "10"),
    ("<trainingGuid/>", "trainingGuid", "training-guid-10"),
    ("<trainingTitle/>", "trainingTitle", "First steps"),
    ("<trainingPathCode/>", "trainingPathCode", "FS-01"),
    ("<sessionId/>", "sessionId", "100"),
    ("<sessionGuid/>", "sessionGuid", "session-guid-100"),
    ("<sessionTitle/>", "sessionTitle", "Session 01"),
    ("<sessionStartDate/>", "sessionStartDate", "2021-02-01"),
    ("<sessionEndDate/>", "sessionEndDate", "2021-03-31"),
    ("<registrationGuid/>", "registrationGuid", "registration-guid-1000"),
    ("<learningObjectGuid/>", "learningObjectGuid", "LO-1"),
    ("<contentGuid/>", "contentGuid", "C-1"),
    ("<contentTitle/>", "contentTitle", "Welcome to our team"),
    ("<contentRefNumber/>", "contentRefNumber", "CNT-001"),
    ("<contentLocale/>", "contentLocale", "en-US"),
    ("<learningObjectPublisher/>", "learningObjectPublisher", "Acme Publishing"),
    # Progression 100: the launch time of this log.
    ("<learningObjectRealCompletionTime/>", "learningObjectRealCompletionTime", "2021-02-10 10:30:00"),
    ("<trainingContentFolder/>", "trainingContentFolder", "Onboarding"),
    ("<trainingContentMandatory/>", "trainingContentMandatory", "Y"),
    ("<firstLaunchDate/>", "firstLaunchDate", "2021-02-10 10:30:00"),
    ("<completionTime/>", "completionTime", "2021-02-10 10:45:15"),
    ("<firstCompletionDate/>", "firstCompletionDate", "2021-02-10 10:45:00"),
    ("<progression/>", "progression", "100"),
    ("<score/>", "score", "37.5"),
    ("<status/>", "status", "completed"),
    ("<timeGlobal/>", "timeGlobal", "915"),
    ("<constantValue/>", "constantValue", ""),
    ("<logDate/>", "logDate", "2021-02-10"),
    ("<candidatePresentation/>", "candidatePresentation", "Hello, I am Laurie"),
    ("<trainingModality/>", "trainingModality", "learning_channel"),
    ("<trainingPublisher/>", "trainingPublisher", "Acme Academy"),
]

# The seed's names (spec §2 "seed name" column) and the table's aliases: same value,
# header is the name as written.
ALIASES: list[tuple[str, str]] = [
    ("learningObjectRegistrationGuid", "registration-guid-1000"),
    ("contentGUID", "C-1"),
    ("contentFirstLaunchDate", "2021-02-10 10:30:00"),
    ("contentCompletionTime", "2021-02-10 10:45:15"),
    ("contentFirstCompletionDate", "2021-02-10 10:45:00"),
    ("learningObjectProgression", "100"),
    ("learningObjectScore", "37.5"),
    ("learningObjectStatus", "completed"),
    ("trackingLogTimeGlobal", "915"),
]


@pytest.mark.parametrize(("element", "header", "cell"), COLUMNS, ids=[c[1] for c in COLUMNS])
def test_each_column_prints_its_value(element: str, header: str, cell: str) -> None:
    assert render(provider(element), laurie().records) == [[header], [cell]]


def test_templated_value_column() -> None:
    inner = provider(
        '<templatedValue templateId="t"/>', '<templates><template id="t">fixed text</template></templates>'
    )
    assert render(inner, laurie().records) == [["templatedValue"], ["fixed text"]]


def test_all_columns_in_one_definition_keep_document_order() -> None:
    inner = provider("".join(element for element, _, _ in COLUMNS))
    assert render(inner, laurie().records) == [[h for _, h, _ in COLUMNS], [c for _, _, c in COLUMNS]]


@pytest.mark.parametrize(("alias", "cell"), ALIASES, ids=[a for a, _ in ALIASES])
def test_seed_names_are_aliases_and_header_is_the_name_as_written(alias: str, cell: str) -> None:
    assert render(provider(f"<{alias}/>"), laurie().records) == [[alias], [cell]]


def test_label_is_the_header() -> None:
    inner = provider('<candidateId label="Learner ID"/><candidateName label="Nom, famille"/><status/>')
    assert render(inner, laurie().records) == [
        ["Learner ID", "Nom, famille", "status"],
        ["1", "Martin", "completed"],
    ]


def test_header_is_never_formula_escaped() -> None:
    data = laurie()
    rows = render(provider('<candidateId label="=total"/><candidateName label="-name"/>'), data.records)
    assert rows[0] == ["=total", "-name"]


def test_a_column_may_appear_twice() -> None:
    inner = provider('<candidateId/><candidateFirstname/><candidateId label="again"/><candidateFirstname/>')
    assert render(inner, laurie().records) == [
        ["candidateId", "candidateFirstname", "again", "candidateFirstname"],
        ["1", "Laurie", "1", "Laurie"],
    ]


@pytest.mark.parametrize(
    ("element", "cell"),
    [
        ('<constantValue value="from attribute">from text</constantValue>', "from attribute"),
        ("<constantValue>from text</constantValue>", "from text"),
        ('<constantValue value="only attribute"/>', "only attribute"),
        ("<constantValue/>", ""),
        ("<constantValue></constantValue>", ""),
    ],
)
def test_constant_value(element: str, cell: str) -> None:
    assert body(provider(element), laurie().records) == [[cell]]


def test_custom_field_value_missing_value_and_missing_guid() -> None:
    data = laurie()
    # Learner 2: no value for CF-DEPT (another field only); learner 3: no customFields at all.
    data.learner(2, customFields={"CF-OTHER": "x"})
    data.learner(3, customFields=None)
    data.tracking(1002, 2, 100, "C-1")
    data.tracking(1003, 3, 100, "C-1")
    data.log(1002, 9002, "2021-02-10T09:30:00Z")
    data.log(1003, 9003, "2021-02-10T09:30:00Z")
    inner = provider(
        "<candidateId/>"
        '<candidateCustomFieldGuid label="Department">CF-DEPT</candidateCustomFieldGuid>'
        "<candidateCustomFieldGuid/>"
    )
    assert render(inner, data.records) == [
        ["candidateId", "Department", "candidateCustomFieldGuid"],
        ["1", "Sales", ""],
        ["2", "", ""],
        ["3", "", ""],
    ]


def test_smartgroups_sorted_by_name_joined_by_semicolon() -> None:
    data = standard()
    data.records = [r for r in data.records if r["type"] != "learner"]
    data.learner(1, smartgroupIds=[1, 3, 2], entityId=3)  # Zeta team, Managers, Alpha team
    data.learner(2, smartgroupIds=[], entityId=3)
    data.tracking(1002, 2, 100, "C-1")
    data.log(1000, 9001, "2021-02-10T09:30:00Z")
    data.log(1002, 9002, "2021-02-10T09:30:00Z")
    assert body(provider("<candidateId/><candidateSmartgroups/>"), data.records) == [
        ["1", "Alpha team;Managers;Zeta team"],
        ["2", ""],
    ]


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ("", ["All users -> Entity 01", "All users", ""]),
        ("<ancestorsWithCurrent>no</ancestorsWithCurrent>", ["All users -> Entity 01", "All users", ""]),
        (
            "<ancestorsWithCurrent>yes</ancestorsWithCurrent>",
            ["All users -> Entity 01 -> Entity 01.1", "All users -> Entity 02", "All users"],
        ),
    ],
)
def test_entity_ancestors_from_the_root(parameters: str, expected: list[str]) -> None:
    data = laurie()
    data.learner(2, entityId=4)  # Entity 02, child of the root
    data.learner(3, entityId=1)  # the root itself
    data.tracking(1002, 2, 100, "C-1")
    data.tracking(1003, 3, 100, "C-1")
    data.log(1002, 9002, "2021-02-10T09:30:00Z")
    data.log(1003, 9003, "2021-02-10T09:30:00Z")
    rows = body(provider("<candidateEntityAncestors/><candidateEntityName/>", parameters), data.records)
    assert rows == [
        [expected[0], "Entity 01.1"],
        [expected[1], "Entity 02"],
        [expected[2], "All users"],
    ]


def test_real_completion_time_only_when_progression_is_100() -> None:
    data = standard()
    # 09:30Z = 10:30 Paris, progression 40; 17:00Z = 18:00 Paris, progression 100.
    data.log(1000, 9001, "2021-02-10T09:30:00Z", seconds=180, progression=40)
    data.log(1000, 9002, "2021-02-10T17:00:00Z", seconds=60, progression=100, status="completed")
    inner = provider("<learningObjectRealCompletionTime/><progression/>")
    assert body(inner, data.records) == [["", "40"], ["2021-02-10 18:00:00", "100"]]


def test_training_content_folder_and_mandatory() -> None:
    data = standard()
    data.content("C-2", learningObjectGuid="LO-2")
    data.content("C-3", learningObjectGuid="LO-3")
    data.training_content(10, "LO-2", folder="Extras", mandatory=False)
    # No trainingContent record for LO-3 in training 10.
    data.tracking(1002, 1, 100, "C-2")
    data.tracking(1003, 1, 100, "C-3")
    for tracking, log_id in ((1000, 9001), (1002, 9002), (1003, 9003)):
        data.log(tracking, log_id, "2021-02-10T09:30:00Z")
    inner = provider("<contentGuid/><trainingContentFolder/><trainingContentMandatory/>")
    assert body(inner, data.records) == [
        ["C-1", "Onboarding", "Y"],
        ["C-2", "Extras", "N"],
        ["C-3", "", ""],
    ]


def test_training_content_is_looked_up_in_the_logs_own_training() -> None:
    data = standard()
    data.training(20)
    data.session(200, 20)
    data.training_content(20, "LO-1", folder="Elsewhere", mandatory=False)
    data.tracking(1002, 1, 200, "C-1")
    data.log(1000, 9001, "2021-02-10T09:30:00Z")
    data.log(1002, 9002, "2021-02-10T09:30:00Z")
    inner = provider("<sessionId/><trainingContentFolder/><trainingContentMandatory/>")
    assert body(inner, data.records) == [["100", "Onboarding", "Y"], ["200", "Elsewhere", "N"]]


@pytest.mark.parametrize(
    ("progression", "score", "cells"),
    [
        (100, 37.5, ["100", "37.5"]),
        (0, 0, ["0", "0"]),
        (40, None, ["40", ""]),
        (37.5, 4, ["37.5", "4"]),
        (12.25, 12.25, ["12.25", "12.25"]),
        (100.0, 4.0, ["100", "4"]),
    ],
)
def test_decimals_print_without_trailing_zeros(
    progression: float, score: float | None, cells: list[str]
) -> None:
    data = laurie(progression=progression, score=score)
    assert body(provider("<progression/><score/>"), data.records) == [cells]


def test_decimals_use_the_file_actions_decimal_separator() -> None:
    data = laurie(progression=37.5, score=12.25)
    rows = render(
        provider("<progression/><score/><timeGlobal/>"),
        data.records,
        action="<delimiter>semicolon</delimiter><decimal>comma</decimal>",
    )
    assert rows == [["progression", "score", "timeGlobal"], ["37,5", "12,25", "915"]]


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ("completed", "completed"),
        ("incomplete", "incomplete"),
        ("notAttempted", "not attempted"),
        ("pendingFeedback", "pending feedback"),
    ],
)
def test_status_default_texts(status: str, text: str) -> None:
    assert body(provider("<status/>"), laurie(status=status).records) == [[text]]


@pytest.mark.parametrize("seconds", [0, 59, 5115, 360000])
def test_time_global_default_is_raw_seconds(seconds: int) -> None:
    data = standard()
    data.log(1000, 9001, "2021-02-10T09:30:00Z", seconds=seconds)
    assert body(provider("<timeGlobal/>"), data.records) == [[str(seconds)]]


@pytest.mark.parametrize(
    ("tz", "started", "cells"),
    [
        # 23:30Z on 1 January is 00:30 on 2 January in Paris (UTC+1).
        ("Europe/Paris", "2021-01-01T23:30:00Z", ["2021-01-02", "2021-01-02 00:30:00"]),
        ("UTC", "2021-01-01T23:30:00Z", ["2021-01-01", "2021-01-01 23:30:00"]),
        # Summer time (UTC+2): 22:30Z on 1 July is 00:30 on 2 July.
        ("Europe/Paris", "2021-07-01T22:30:00Z", ["2021-07-02", "2021-07-02 00:30:00"]),
        ("Europe/Paris", "2021-07-01T21:59:59Z", ["2021-07-01", "2021-07-01 23:59:59"]),
        # An instant written with another offset is the same instant.
        ("Europe/Paris", "2021-01-02T01:30:00+02:00", ["2021-01-02", "2021-01-02 00:30:00"]),
    ],
)
def test_log_date_and_datetimes_are_in_the_tenant_zone(tz: str, started: str, cells: list[str]) -> None:
    data = standard()
    data.log(1000, 9001, started)
    assert body(provider("<logDate/><firstLaunchDate/>"), data.records, tz=tz) == [cells]


def test_unfinished_log_has_empty_completion_date_and_score() -> None:
    data = standard()
    data.log(1000, 9001, "2021-02-10T09:30:00Z", seconds=180, lastAccessAt="2021-02-10T09:33:00Z")
    inner = provider("<firstLaunchDate/><completionTime/><firstCompletionDate/><score/><status/>")
    assert body(inner, data.records) == [["2021-02-10 10:30:00", "2021-02-10 10:33:00", "", "", "incomplete"]]


def test_header_only_when_no_rows() -> None:
    assert render(provider('<candidateId/><status label="State"/>'), standard().records) == [
        ["candidateId", "State"]
    ]
