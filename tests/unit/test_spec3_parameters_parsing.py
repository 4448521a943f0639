"""Spec export-definition.md §3 (parameters): every parameter, its aliases (the seed's
names), the yes/no spellings, lists, and the JSON spellings.

Expected values are written from the spec's table by hand.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tracking_export.definition import load_definition
from tracking_export.errors import DefinitionError
from tracking_export.model import Parameters

# Spec §3, column "XML element", in order.
SPEC_PARAMETERS = (
    "dateFormat",
    "dateTimeFormat",
    "entityIds",
    "modality",
    "onlyFromImportedRegistrations",
    "onlyFromImportedSessions",
    "onlyFromImportedTraining",
    "preferredLocales",
    "publishers",
    "reportStatus",
    "statusFormat",
    "timeFrames",
    "timeFramesScale",
    "timeFrameScaleMode",
    "timeGlobalFormat",
    "trainingGuid",
    "trainingPathCode",
    "trainingStatus",
    "trainingPublishers",
    "trainingStatusFormat",
    "trainingModalityFormat",
    "sessionTitle",
    "sessionGuid",
    "withoutLaunchTime",
    "deltaMode",
    "ancestorsWithCurrent",
    "learnersSmartGroups",
    "catalogVisibility",
    "templates",
    "onlyHrisSelectedItems",
    "stripHTML",
    "maxLength",
)

DEFAULT_STATUS_TEXT = {
    "completed": "completed",
    "incomplete": "incomplete",
    "notAttempted": "not attempted",
    "pendingFeedback": "pending feedback",
}
DEFAULT_TRAINING_STATUS_TEXT = {"C": "underConstruction", "P": "published", "A": "archived"}


def parameters(xml: str) -> Parameters:
    """Parameters of a bare-providers definition with two columns (so {0} and {1} exist)."""
    document = (
        "<providers><trackingLogProvider>"
        "<columns><candidateId/><status/></columns>"
        f"<parameters>{xml}</parameters>"
        "</trackingLogProvider></providers>"
    )
    return load_definition(document, name="daily.xml").parameters


def parameters_json(params: dict[str, Any]) -> Parameters:
    document = {
        "guid": "daily",
        "columns": ["candidateId", {"name": "status"}],
        "parameters": params,
    }
    return load_definition(json.dumps(document), name="daily.json").parameters


# (element written, XML inside <parameters>, expected model fields)
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("dateFormat", "<dateFormat>DD/MM/YYYY</dateFormat>", {"date_format": "DD/MM/YYYY"}),
    ("dateFormat", "<dateFormat> MM-DD-YYYY </dateFormat>", {"date_format": "MM-DD-YYYY"}),
    (
        "dateTimeFormat",
        "<dateTimeFormat>YYYY-MM-DDThh:ii:ss</dateTimeFormat>",
        {"date_time_format": "YYYY-MM-DDThh:ii:ss"},
    ),
    ("entityIds", "<entityIds> 12, 14 ,, 3 </entityIds>", {"entity_ids": (12, 14, 3)}),
    ("entityIds", "<entityIds/>", {"entity_ids": None}),
    ("modality", "<modality>blended</modality>", {"modality": "blended"}),
    ("modality", "<modality>Serious_Game</modality>", {"modality": "serious_game"}),
    ("modality", "<modality></modality>", {"modality": None}),
    (
        "onlyFromImportedRegistrations",
        "<onlyFromImportedRegistrations>yes</onlyFromImportedRegistrations>",
        {"only_from_imported_registrations": True},
    ),
    (
        "onlyFromImportedSessions",
        "<onlyFromImportedSessions>yes</onlyFromImportedSessions>",
        {"only_from_imported_sessions": True},
    ),
    (
        "onlyFromImportedTraining",
        "<onlyFromImportedTraining>yes</onlyFromImportedTraining>",
        {"only_from_imported_training": True},
    ),
    (
        "preferredLocales",
        "<preferredLocales>en-US, fr-FR</preferredLocales>",
        {"preferred_locales": ("en-US", "fr-FR")},
    ),
    (
        "contentPreferredLocales",
        "<contentPreferredLocales>de-DE</contentPreferredLocales>",
        {"preferred_locales": ("de-DE",)},
    ),
    ("publishers", "<publishers>AB12-CD, EF34-GH</publishers>", {"publishers": ("AB12-CD", "EF34-GH")}),
    (
        "reportStatus",
        "<reportStatus><completed/><pendingFeedback/></reportStatus>",
        {"report_status": frozenset({"completed", "pendingFeedback"})},
    ),
    (
        "contentReportStatus",
        "<contentReportStatus><notAttempted/><incomplete/></contentReportStatus>",
        {"report_status": frozenset({"notAttempted", "incomplete"})},
    ),
    (
        "reportStatus",
        "<reportStatus>completed, incomplete</reportStatus>",
        {"report_status": frozenset({"completed", "incomplete"})},
    ),
    (
        "reportStatus",
        "<reportStatus><completed>yes</completed><incomplete>no</incomplete></reportStatus>",
        {"report_status": frozenset({"completed"})},
    ),
    ("reportStatus", "<reportStatus/>", {"report_status": None}),
    (
        "statusFormat",
        "<statusFormat><completed>C</completed><notAttempted>N/A</notAttempted></statusFormat>",
        {
            "status_format": {
                "completed": "C",
                "incomplete": "incomplete",
                "notAttempted": "N/A",
                "pendingFeedback": "pending feedback",
            }
        },
    ),
    (
        "timeFrames",
        "<timeFrames>3</timeFrames><timeFramesScale>less_than_n_full_months</timeFramesScale>",
        {"time_frames": 3, "time_frames_scale": "less_than_n_full_months"},
    ),
    (
        "contentTimeFrames",
        "<contentTimeFrames>0</contentTimeFrames><contentTimeFramesScale>less_than_n_days</contentTimeFramesScale>",
        {"time_frames": 0, "time_frames_scale": "less_than_n_days"},
    ),
    (
        "timeFramesScale",
        "<timeFrames>2</timeFrames><timeFramesScale>LESS_THAN_N_FULL_YEARS</timeFramesScale>",
        {"time_frames": 2, "time_frames_scale": "less_than_n_full_years"},
    ),
    (
        "contentTimeFramesScale",
        "<timeFrames>1</timeFrames><contentTimeFramesScale>less_than_n_months</contentTimeFramesScale>",
        {"time_frames": 1, "time_frames_scale": "less_than_n_months"},
    ),
    (
        "timeFrameScaleMode",
        "<timeFrameScaleMode>lastActivity</timeFrameScaleMode>",
        {"time_frame_scale_mode": "lastActivity"},
    ),
    (
        "contentTimeFrameScaleMode",
        "<contentTimeFrameScaleMode>lastActivityCumulative</contentTimeFrameScaleMode>",
        {"time_frame_scale_mode": "lastActivityCumulative"},
    ),
    ("timeGlobalFormat", "<timeGlobalFormat>paddedhh</timeGlobalFormat>", {"time_global_format": "paddedhh"}),
    ("timeGlobalFormat", "<timeGlobalFormat>ISO-8601</timeGlobalFormat>", {"time_global_format": "iso-8601"}),
    (
        "contentTimeGlobalFormat",
        "<contentTimeGlobalFormat>rawMinutes</contentTimeGlobalFormat>",
        {"time_global_format": "rawMinutes"},
    ),
    ("trainingGuid", "<trainingGuid> 0A1B-2C </trainingGuid>", {"training_guid": "0A1B-2C"}),
    ("trainingPathCode", "<trainingPathCode>ONB-01</trainingPathCode>", {"training_path_code": "ONB-01"}),
    ("trainingStatus", "<trainingStatus>C, A</trainingStatus>", {"training_status": frozenset({"C", "A"})}),
    (
        "trainingStatus",
        "<trainingStatus>published, underConstruction</trainingStatus>",
        {"training_status": frozenset({"P", "C"})},
    ),
    ("trainingStatus", "<trainingStatus>p</trainingStatus>", {"training_status": frozenset({"P"})}),
    (
        "trainingPublishers",
        "<trainingPublishers>Acme Learning, Globex</trainingPublishers>",
        {"training_publishers": ("Acme Learning", "Globex")},
    ),
    (
        "trainingStatusFormat",
        "<trainingStatusFormat><published>Live</published><archived>Old</archived></trainingStatusFormat>",
        {"training_status_format": {"C": "underConstruction", "P": "Live", "A": "Old"}},
    ),
    (
        "trainingModalityFormat",
        "<trainingModalityFormat>kc, portal</trainingModalityFormat>",
        {"training_modality_format": ("kc", "portal")},
    ),
    ("sessionTitle", "<sessionTitle>Session 01</sessionTitle>", {"session_title": "Session 01"}),
    (
        "completeSessionTitle",
        "<completeSessionTitle>Session 02</completeSessionTitle>",
        {"session_title": "Session 02"},
    ),
    ("sessionGuid", "<sessionGuid>9F8E</sessionGuid>", {"session_guid": "9F8E"}),
    ("withoutLaunchTime", "<withoutLaunchTime>yes</withoutLaunchTime>", {"without_launch_time": True}),
    ("deltaMode", "<deltaMode>yes</deltaMode>", {"delta_mode": True}),
    (
        "ancestorsWithCurrent",
        "<ancestorsWithCurrent>yes</ancestorsWithCurrent>",
        {"ancestors_with_current": True},
    ),
    (
        "learnersSmartGroups",
        "<learnersSmartGroups>5,6</learnersSmartGroups>",
        {"learners_smart_groups": (5, 6)},
    ),
    ("catalogVisibility", "<catalogVisibility>no</catalogVisibility>", {"catalog_visibility": False}),
    ("catalogVisibility", "<catalogVisibility>yes</catalogVisibility>", {"catalog_visibility": True}),
    (
        "templates",
        '<templates><template id="t">{0}</template><template id="2">{{x}} {1}</template></templates>',
        {"templates": {"t": "{0}", "2": "{{x}} {1}"}},
    ),
    (
        "onlyHrisSelectedItems",
        "<onlyHrisSelectedItems>x</onlyHrisSelectedItems>",
        {"only_hris_selected_items": True},
    ),
    ("stripHTML", "<stripHTML>1</stripHTML>", {"strip_html": True}),
    ("maxLength", "<maxLength>50</maxLength>", {"max_length": 50}),
]


def test_every_spec_parameter_has_a_case() -> None:
    aliases = {
        "contentPreferredLocales": "preferredLocales",
        "contentReportStatus": "reportStatus",
        "contentTimeFrames": "timeFrames",
        "contentTimeFramesScale": "timeFramesScale",
        "contentTimeFrameScaleMode": "timeFrameScaleMode",
        "contentTimeGlobalFormat": "timeGlobalFormat",
        "completeSessionTitle": "sessionTitle",
    }
    covered = {aliases.get(element, element) for element, _, _ in CASES}
    assert covered == set(SPEC_PARAMETERS)
    assert len(SPEC_PARAMETERS) == 32
    assert set(aliases) <= {element for element, _, _ in CASES}


@pytest.mark.parametrize(("element", "xml", "expected"), CASES, ids=[f"{c[0]}:{c[1][:40]}" for c in CASES])
def test_parameter(element: str, xml: str, expected: dict[str, Any]) -> None:
    assert parameters(xml) == Parameters(**expected)


def test_defaults_when_absent() -> None:
    assert parameters("") == Parameters(
        date_format="YYYY-MM-DD",
        date_time_format="YYYY-MM-DD hh:ii:ss",
        entity_ids=None,
        modality=None,
        only_from_imported_registrations=False,
        only_from_imported_sessions=False,
        only_from_imported_training=False,
        preferred_locales=None,
        publishers=None,
        report_status=None,
        status_format=DEFAULT_STATUS_TEXT,
        time_frames=None,
        time_frames_scale=None,
        time_frame_scale_mode="timeSpent",
        time_global_format="rawSeconds",
        training_guid=None,
        training_path_code=None,
        training_status=None,
        training_publishers=None,
        training_status_format=DEFAULT_TRAINING_STATUS_TEXT,
        training_modality_format=None,
        session_title=None,
        session_guid=None,
        without_launch_time=False,
        delta_mode=False,
        ancestors_with_current=False,
        learners_smart_groups=None,
        catalog_visibility=None,
        templates={},
        only_hris_selected_items=False,
        strip_html=False,
        max_length=None,
    )


YES_NO_PARAMETERS = {
    "onlyFromImportedRegistrations": "only_from_imported_registrations",
    "onlyFromImportedSessions": "only_from_imported_sessions",
    "onlyFromImportedTraining": "only_from_imported_training",
    "withoutLaunchTime": "without_launch_time",
    "deltaMode": "delta_mode",
    "ancestorsWithCurrent": "ancestors_with_current",
    "catalogVisibility": "catalog_visibility",
}
YES_NO_FORMS = [
    ("yes", True),
    ("YES", True),
    ("y", True),
    ("Y", True),
    ("true", True),
    ("True", True),
    ("1", True),
    (" yes ", True),
    ("no", False),
    ("No", False),
    ("n", False),
    ("N", False),
    ("false", False),
    ("FALSE", False),
    ("0", False),
]


@pytest.mark.parametrize("element", YES_NO_PARAMETERS)
@pytest.mark.parametrize(("text", "value"), YES_NO_FORMS)
def test_yes_no_forms(element: str, text: str, value: bool) -> None:
    parsed = parameters(f"<{element}>{text}</{element}>")
    assert getattr(parsed, YES_NO_PARAMETERS[element]) is value


@pytest.mark.parametrize("element", YES_NO_PARAMETERS)
@pytest.mark.parametrize("text", ["", "oui", "2", "yes please"])
def test_yes_no_refuses_other_words(element: str, text: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parameters(f"<{element}>{text}</{element}>")
    [issue] = caught.value.issues
    assert issue.path == f"/providers/trackingLogProvider/parameters/{element}"
    assert "yes or no" in issue.message


@pytest.mark.parametrize(
    ("element", "field"), [("onlyHrisSelectedItems", "only_hris_selected_items"), ("stripHTML", "strip_html")]
)
@pytest.mark.parametrize(
    ("xml_text", "value"),
    [
        ("yes", True),
        ("x", True),
        ("anything at all", True),
        ("", False),
        ("no", False),
        ("FALSE", False),
        ("0", False),
    ],
)
def test_non_empty_flags(element: str, field: str, xml_text: str, value: bool) -> None:
    assert getattr(parameters(f"<{element}>{xml_text}</{element}>"), field) is value


def test_non_empty_flags_absent_are_false() -> None:
    parsed = parameters("")
    assert (parsed.only_hris_selected_items, parsed.strip_html) == (False, False)


def test_json_parameters_equal_their_xml_spelling() -> None:
    xml = parameters(
        "<entityIds>12, 14</entityIds>"
        "<deltaMode>yes</deltaMode>"
        "<catalogVisibility>no</catalogVisibility>"
        "<reportStatus><completed/><incomplete/></reportStatus>"
        "<statusFormat><completed>C</completed></statusFormat>"
        "<trainingStatus>C, P</trainingStatus>"
        "<trainingStatusFormat><archived>Old</archived></trainingStatusFormat>"
        "<contentTimeGlobalFormat>padded</contentTimeGlobalFormat>"
        "<maxLength>80</maxLength>"
        "<stripHTML>yes</stripHTML>"
    )
    json_form = parameters_json(
        {
            "entityIds": [12, 14],
            "deltaMode": True,
            "catalogVisibility": False,
            "reportStatus": ["completed", "incomplete"],
            "statusFormat": {"completed": "C"},
            "trainingStatus": "C, P",
            "trainingStatusFormat": {"archived": "Old"},
            "contentTimeGlobalFormat": "padded",
            "maxLength": 80,
            "stripHTML": True,
        }
    )
    assert xml == json_form
    assert json_form.entity_ids == (12, 14)
    assert json_form.report_status == frozenset({"completed", "incomplete"})
    assert json_form.training_status_format == {"C": "underConstruction", "P": "published", "A": "Old"}


def test_json_report_status_as_object() -> None:
    parsed = parameters_json(
        {"reportStatus": {"completed": True, "incomplete": False, "pendingFeedback": True}}
    )
    assert parsed.report_status == frozenset({"completed", "pendingFeedback"})


def test_free_text_keeps_its_spaces() -> None:
    parsed = parameters(
        "<statusFormat><completed> done </completed></statusFormat>"
        '<templates><template id="u"> {0} </template></templates>'
    )
    assert parsed.status_format["completed"] == " done "
    assert parsed.templates["u"] == " {0} "


def test_duplicate_template_ids_are_refused() -> None:
    document = (
        "<providers><trackingLogProvider><columns><candidateId/></columns><parameters><templates>\n"
        '<template id="a">x</template>\n'
        '<template id="a">y</template>\n'
        "</templates></parameters></trackingLogProvider></providers>"
    )
    with pytest.raises(DefinitionError) as caught:
        load_definition(document, name="daily.xml")
    [issue] = caught.value.issues
    assert (issue.path, issue.line) == ("/providers/trackingLogProvider/parameters/templates/template", 3)
    assert issue.message == "template id 'a' is given twice (first on line 2)"
