"""Spec export-definition.md §1: every validation error names the element, its line and
what is allowed; all errors of a file are reported together.

The documents are built by :func:`definition`, whose layout fixes the line of each
part (see the constants below), so every expected line is known without running the code.
"""

from __future__ import annotations

import pytest

from tracking_export.definition import load_definition
from tracking_export.errors import DefinitionError, DefinitionIssue

EXPORT_LINE = 2
SCHEDULE_LINE = 3
COLUMNS_LINE = 6
PARAMETERS_LINE = 7
ACTIONS_LINE = 10
CONSOLIDATORS_LINE = 11

EXPORT = "/export-config/export"
PROVIDER = f"{EXPORT}/providers/trackingLogProvider"
COLUMNS = f"{PROVIDER}/columns"
PARAMETERS = f"{PROVIDER}/parameters"


def definition(
    *,
    columns: str = "<candidateId/>",
    parameters: str = "",
    actions: str = "",
    consolidators: str = "",
    schedule: str = "",
    export_attrs: str = 'guid="daily"',
) -> str:
    """A one-export definition; each argument is one line of the document."""
    return (
        "<export-config>\n"  # 1
        f"  <export {export_attrs}>\n"  # 2
        f"    {schedule}\n"  # 3
        "    <providers>\n"  # 4
        "      <trackingLogProvider>\n"  # 5
        f"        <columns>{columns}</columns>\n"  # 6
        f"        <parameters>{parameters}</parameters>\n"  # 7
        "      </trackingLogProvider>\n"  # 8
        "    </providers>\n"  # 9
        f"    <actions>{actions}</actions>\n"  # 10
        f"    <consolidators>{consolidators}</consolidators>\n"  # 11
        "  </export>\n"  # 12
        "</export-config>\n"  # 13
    )


def issues_of(data: str, name: str = "definition.xml") -> list[DefinitionIssue]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(data, name=name)
    return caught.value.issues


def only_issue(data: str, name: str = "definition.xml") -> DefinitionIssue:
    issues = issues_of(data, name)
    assert len(issues) == 1, issues
    return issues[0]


def test_the_helper_document_is_valid() -> None:
    loaded = load_definition(definition())
    assert loaded.guid == "daily"
    assert loaded.columns[0].line == COLUMNS_LINE


# ------------------------------------------------------------ unknown names


@pytest.mark.parametrize(
    ("kwargs", "path", "line", "allowed"),
    [
        ({"schedule": "<frequency/>"}, f"{EXPORT}/frequency", SCHEDULE_LINE, "schedule, providers, actions"),
        ({"actions": "<ftpAction/>"}, f"{EXPORT}/actions/ftpAction", ACTIONS_LINE, "fileExportAction"),
        (
            {"consolidators": "<zipIt/>"},
            f"{EXPORT}/consolidators/zipIt",
            CONSOLIDATORS_LINE,
            "moveToFolder, emailReport, generateEndFile, archive, cleanFolder",
        ),
        (
            {"actions": "<fileExportAction><separator>comma</separator></fileExportAction>"},
            f"{EXPORT}/actions/fileExportAction/separator",
            ACTIONS_LINE,
            "format, encoding, delimiter, showHeaders",
        ),
        (
            {"consolidators": "<moveToFolder><folder>x</folder></moveToFolder>"},
            f"{EXPORT}/consolidators/moveToFolder/folder",
            CONSOLIDATORS_LINE,
            "fileName, folderPath, deleteEmptyFiles",
        ),
    ],
)
def test_unknown_element_anywhere(kwargs: dict[str, str], path: str, line: int, allowed: str) -> None:
    issue = only_issue(definition(**kwargs))
    assert (issue.path, issue.line) == (path, line)
    assert "unknown" in issue.message and allowed in issue.message


def test_unknown_element_in_provider() -> None:
    document = (
        "<providers>\n"
        "  <trackingLogProvider>\n"
        "    <columns><candidateId/></columns>\n"
        "    <filters/>\n"
        "  </trackingLogProvider>\n"
        "</providers>\n"
    )
    issue = only_issue(document, name="p.xml")
    assert (issue.path, issue.line) == ("/providers/trackingLogProvider/filters", 4)
    assert "unknown element <filters>" in issue.message and "columns, parameters" in issue.message


def test_unknown_column() -> None:
    issue = only_issue(definition(columns="<candidateId/><candidateFoo/>"))
    assert (issue.path, issue.line) == (f"{COLUMNS}/candidateFoo", COLUMNS_LINE)
    assert "unknown column <candidateFoo>" in issue.message and "spec §2" in issue.message


def test_unknown_parameter() -> None:
    issue = only_issue(definition(parameters="<deltaModus>yes</deltaModus>"))
    assert (issue.path, issue.line) == (f"{PARAMETERS}/deltaModus", PARAMETERS_LINE)
    assert "unknown parameter 'deltaModus'" in issue.message
    assert "did you mean 'deltaMode'" in issue.message and "spec §3" in issue.message


def test_unknown_attribute_on_a_column() -> None:
    issue = only_issue(definition(columns='<candidateId value="x"/>'))
    assert (issue.path, issue.line) == (f"{COLUMNS}/candidateId/@value", COLUMNS_LINE)
    assert "'value' is not allowed" in issue.message and "allowed: label" in issue.message


# ------------------------------------------------------------------ bad values


@pytest.mark.parametrize(
    ("parameters", "element", "allowed"),
    [
        (
            "<timeGlobalFormat>hours</timeGlobalFormat>",
            "timeGlobalFormat",
            "rawSeconds, rawMinutes, iso-8601, padded, paddedhh",
        ),
        (
            "<timeFrameScaleMode>sum</timeFrameScaleMode>",
            "timeFrameScaleMode",
            "timeSpent, lastActivity, lastActivityCumulative",
        ),
        ("<modality>online</modality>", "modality", "learning_channel, guided, blended, kc, campus"),
        (
            "<trainingModalityFormat>kc, web</trainingModalityFormat>",
            "trainingModalityFormat",
            "serious_game",
        ),
        ("<trainingStatus>P, X</trainingStatus>", "trainingStatus", "C, P, A"),
        ("<reportStatus><failed/></reportStatus>", "reportStatus/failed", "notAttempted"),
        ("<statusFormat><passed>P</passed></statusFormat>", "statusFormat/passed", "pendingFeedback"),
    ],
)
def test_bad_enum_value_names_the_allowed_values(parameters: str, element: str, allowed: str) -> None:
    issue = only_issue(definition(parameters=parameters))
    assert (issue.path, issue.line) == (f"{PARAMETERS}/{element}", PARAMETERS_LINE)
    assert allowed in issue.message


def test_bad_enum_in_file_export_action() -> None:
    issue = only_issue(definition(actions="<fileExportAction><format>XLS</format></fileExportAction>"))
    assert (issue.path, issue.line) == (f"{EXPORT}/actions/fileExportAction/format", ACTIONS_LINE)
    assert "'XLS' is not allowed" in issue.message and "CSV, TSV" in issue.message


def test_bad_yes_no() -> None:
    issue = only_issue(definition(parameters="<deltaMode>sometimes</deltaMode>"))
    assert (issue.path, issue.line) == (f"{PARAMETERS}/deltaMode", PARAMETERS_LINE)
    assert "'sometimes'" in issue.message and "yes or no" in issue.message


def test_bad_yes_no_in_an_action_attribute() -> None:
    issue = only_issue(definition(actions='<fileExportAction showHeaders="ja"/>'))
    assert (issue.path, issue.line) == (f"{EXPORT}/actions/fileExportAction/@showHeaders", ACTIONS_LINE)
    assert "yes or no" in issue.message


@pytest.mark.parametrize(
    ("parameters", "element", "gist"),
    [
        ("<maxLength>ten</maxLength>", "maxLength", "whole number ≥ 1, got 'ten'"),
        ("<maxLength>0</maxLength>", "maxLength", "whole number ≥ 1, got '0'"),
        ("<maxLength>2.5</maxLength>", "maxLength", "whole number ≥ 1"),
        (
            "<timeFrames>-1</timeFrames><timeFramesScale>less_than_n_days</timeFramesScale>",
            "timeFrames",
            "whole number ≥ 0, got '-1'",
        ),
        ("<entityIds>12, x7</entityIds>", "entityIds", "'x7' is not an id"),
        ("<learnersSmartGroups>1;2</learnersSmartGroups>", "learnersSmartGroups", "'1;2' is not an id"),
    ],
)
def test_bad_int(parameters: str, element: str, gist: str) -> None:
    issue = only_issue(definition(parameters=parameters))
    assert (issue.path, issue.line) == (f"{PARAMETERS}/{element}", PARAMETERS_LINE)
    assert gist in issue.message


@pytest.mark.parametrize(
    ("parameters", "element", "gist"),
    [
        ("<dateFormat>yyyy-mm-dd</dateFormat>", "dateFormat", "'yy' is not a token"),
        ("<dateTimeFormat>YYYY-MM-DD hh:mm</dateTimeFormat>", "dateTimeFormat", "'mm' is not a token"),
        ("<dateFormat>YYY-MM-DD</dateFormat>", "dateFormat", "stray 'Y'"),
        ("<dateFormat></dateFormat>", "dateFormat", "empty"),
    ],
)
def test_bad_date_pattern(parameters: str, element: str, gist: str) -> None:
    issue = only_issue(definition(parameters=parameters))
    assert (issue.path, issue.line) == (f"{PARAMETERS}/{element}", PARAMETERS_LINE)
    assert "bad date pattern" in issue.message and gist in issue.message


# ------------------------------------------------------------------ templates


def test_templated_value_without_template_id() -> None:
    issue = only_issue(definition(columns="<templatedValue/>"))
    assert (issue.path, issue.line) == (f"{COLUMNS}/templatedValue", COLUMNS_LINE)
    assert "needs a templateId" in issue.message


def test_template_id_naming_a_missing_template() -> None:
    issue = only_issue(
        definition(
            columns='<candidateId/><templatedValue templateId="2"/>',
            parameters='<templates><template id="1">{0}</template></templates>',
        )
    )
    assert (issue.path, issue.line) == (f"{COLUMNS}/templatedValue", COLUMNS_LINE)
    assert "templateId '2' names no template" in issue.message and "'1'" in issue.message


def test_placeholder_out_of_range() -> None:
    # Two columns: {0} and {1} are fine, {2} is not.
    issue = only_issue(
        definition(
            columns='<candidateId/><templatedValue templateId="t"/>',
            parameters='<templates><template id="t">{0}-{1}-{2}</template></templates>',
        )
    )
    assert (issue.path, issue.line) == (f"{PARAMETERS}/templates/template", PARAMETERS_LINE)
    assert "{2} is out of range" in issue.message and "{0}..{1}" in issue.message


@pytest.mark.parametrize(
    ("text", "stray"), [("{0} {x}", "'{'"), ("a } b", "'}'"), ("{{0}", "'}'"), ("{", "'{'")]
)
def test_stray_brace_in_template(text: str, stray: str) -> None:
    issue = only_issue(
        definition(
            columns='<templatedValue templateId="1"/>',
            parameters=f'<templates><template id="1">{text}</template></templates>',
        )
    )
    assert (issue.path, issue.line) == (f"{PARAMETERS}/templates/template", PARAMETERS_LINE)
    assert f"stray {stray}" in issue.message and "{{" in issue.message


def test_escaped_braces_and_placeholders_are_accepted() -> None:
    loaded = load_definition(
        definition(
            columns='<candidateId/><templatedValue templateId="1"/>',
            parameters='<templates><template id="1">{{{0}}} {{literal}} {1}</template></templates>',
        )
    )
    assert loaded.parameters.templates == {"1": "{{{0}}} {{literal}} {1}"}


# ------------------------------------------------------------ deltaMode, time frames


def test_delta_mode_with_a_time_frame() -> None:
    issue = only_issue(
        definition(
            parameters="<deltaMode>yes</deltaMode><timeFrames>3</timeFrames>"
            "<timeFramesScale>less_than_n_days</timeFramesScale>"
        )
    )
    assert (issue.path, issue.line) == (f"{PARAMETERS}/deltaMode", PARAMETERS_LINE)
    assert "cannot be combined with a time frame" in issue.message


def test_delta_mode_no_with_a_time_frame_is_fine() -> None:
    loaded = load_definition(
        definition(
            parameters="<deltaMode>no</deltaMode><timeFrames>3</timeFrames>"
            "<timeFramesScale>less_than_n_days</timeFramesScale>"
        )
    )
    assert (loaded.parameters.delta_mode, loaded.parameters.time_frames) == (False, 3)


def test_delta_mode_in_an_export_without_guid() -> None:
    issue = only_issue(definition(export_attrs="", parameters="<deltaMode>y</deltaMode>"))
    assert (issue.path, issue.line) == (f"{PARAMETERS}/deltaMode", PARAMETERS_LINE)
    assert "needs the export's guid attribute" in issue.message


def test_delta_mode_in_bare_providers_uses_the_file_name() -> None:
    document = (
        "<providers><trackingLogProvider><columns><candidateId/></columns>"
        "<parameters><deltaMode>yes</deltaMode></parameters></trackingLogProvider></providers>"
    )
    loaded = load_definition(document, name="daily.xml")
    assert (loaded.guid, loaded.guid_given, loaded.parameters.delta_mode) == ("daily", True, True)


def test_time_frames_without_scale() -> None:
    issue = only_issue(definition(parameters="<timeFrames>3</timeFrames>"))
    assert (issue.path, issue.line) == (f"{PARAMETERS}/timeFrames", PARAMETERS_LINE)
    assert "timeFrames needs timeFramesScale" in issue.message and "less_than_n_full_months" in issue.message


def test_time_frames_scale_without_time_frames() -> None:
    issue = only_issue(definition(parameters="<timeFramesScale>less_than_n_years</timeFramesScale>"))
    assert (issue.path, issue.line) == (f"{PARAMETERS}/timeFramesScale", PARAMETERS_LINE)
    assert "timeFramesScale needs timeFrames" in issue.message


# ------------------------------------------------------------------ structure


def test_no_columns_at_all() -> None:
    issue = only_issue(definition(columns=""))
    assert (issue.path, issue.line) == (COLUMNS, COLUMNS_LINE)
    assert "no columns" in issue.message


def test_missing_columns_element() -> None:
    issue = only_issue("<providers>\n<trackingLogProvider/>\n</providers>", name="p.xml")
    assert (issue.path, issue.line) == ("/providers/trackingLogProvider", 2)
    assert "needs a <columns> element" in issue.message


def test_duplicate_file_export_action() -> None:
    issue = only_issue(definition(actions="<fileExportAction/>\n<fileExportAction/>"))
    assert (issue.path, issue.line) == (f"{EXPORT}/actions/fileExportAction", ACTIONS_LINE + 1)
    assert "appears twice" in issue.message and f"line {ACTIONS_LINE}" in issue.message


def test_parameter_given_twice() -> None:
    issue = only_issue(definition(parameters="<reportStatus/><contentReportStatus/>"))
    assert (issue.path, issue.line) == (f"{PARAMETERS}/contentReportStatus", PARAMETERS_LINE)
    assert "reportStatus is given twice" in issue.message


# ------------------------------------------------------------ where the file goes


@pytest.mark.parametrize(
    ("file_name", "gist"),
    [("%q_%Y.csv", "unknown token '%q'"), ("a/b.csv", "may not contain '/'"), ("export_%", "a lone %")],
)
def test_file_name_pattern_problems(file_name: str, gist: str) -> None:
    issue = only_issue(
        definition(consolidators=f"<moveToFolder><fileName>{file_name}</fileName></moveToFolder>")
    )
    assert (issue.path, issue.line) == (f"{EXPORT}/consolidators/moveToFolder/fileName", CONSOLIDATORS_LINE)
    assert "bad file name pattern" in issue.message and gist in issue.message


def test_end_file_name_pattern_problem() -> None:
    issue = only_issue(
        definition(consolidators="<generateEndFile><fileName>%z.end</fileName></generateEndFile>")
    )
    assert (issue.path, issue.line) == (
        f"{EXPORT}/consolidators/generateEndFile/fileName",
        CONSOLIDATORS_LINE,
    )
    assert "unknown token '%z'" in issue.message


@pytest.mark.parametrize(
    ("folder", "gist"),
    [
        ("exports/../other-tenant", "'..'"),
        ("/etc", "no leading '/'"),
        ("exports\\daily", "backslashes"),
    ],
)
def test_folder_path_problems(folder: str, gist: str) -> None:
    issue = only_issue(
        definition(consolidators=f"<moveToFolder><folderPath>{folder}</folderPath></moveToFolder>")
    )
    assert (issue.path, issue.line) == (f"{EXPORT}/consolidators/moveToFolder/folderPath", CONSOLIDATORS_LINE)
    assert "bad folderPath" in issue.message and gist in issue.message


def test_bad_email_address() -> None:
    issue = only_issue(
        definition(
            consolidators="<emailReport><targetEmail>a@example.com, a.example.com</targetEmail></emailReport>"
        )
    )
    assert (issue.path, issue.line) == (f"{EXPORT}/consolidators/emailReport/targetEmail", CONSOLIDATORS_LINE)
    assert "'a.example.com' is not an e-mail address" in issue.message


# ------------------------------------------------------------------ schedule, guid


def test_bad_schedule_timezone() -> None:
    issue = only_issue(
        definition(schedule='<schedule timezone="Europe/Atlantis">cron(0 2 * * ? *)</schedule>')
    )
    assert (issue.path, issue.line) == (f"{EXPORT}/schedule/@timezone", SCHEDULE_LINE)
    assert "unknown time zone 'Europe/Atlantis'" in issue.message and "IANA" in issue.message


@pytest.mark.parametrize(
    "expression", ["daily", "cron(0 2 * * ?)", "rate(5 fortnights)", "rate(1 days)", "at(tomorrow)", ""]
)
def test_bad_schedule_expression(expression: str) -> None:
    issue = only_issue(definition(schedule=f"<schedule>{expression}</schedule>"))
    assert (issue.path, issue.line) == (f"{EXPORT}/schedule", SCHEDULE_LINE)
    assert "cron(" in issue.message and "rate(" in issue.message and "at(" in issue.message


@pytest.mark.parametrize(
    "expression", ["cron(0 2 * * ? *)", "rate(15 minutes)", "rate(1 hour)", "at(2026-03-01T02:00:00)"]
)
def test_good_schedule_expressions(expression: str) -> None:
    assert load_definition(definition(schedule=f"<schedule>{expression}</schedule>")).schedule is not None


@pytest.mark.parametrize("guid", ["-daily", "daily export", "a" * 129, "", "x/y"])
def test_bad_export_guid(guid: str) -> None:
    issue = only_issue(definition(export_attrs=f'guid="{guid}"'))
    assert (issue.path, issue.line) == (f"{EXPORT}/@guid", EXPORT_LINE)
    assert "must match" in issue.message


def test_bad_file_name_as_guid_in_bare_providers() -> None:
    issue = only_issue(
        "<providers><trackingLogProvider><columns><candidateId/></columns></trackingLogProvider></providers>",
        name="daily export.xml",
    )
    assert (issue.path, issue.line) == ("/providers", 1)
    assert "file name" in issue.message and "'daily export'" in issue.message


# ------------------------------------------------------------------ all at once


def test_three_different_errors_are_all_reported() -> None:
    document = (
        "<export-config>\n"  # 1
        '  <export guid="daily">\n'  # 2
        "    <providers>\n"  # 3
        "      <trackingLogProvider>\n"  # 4
        "        <columns>\n"  # 5
        "          <candidateId/>\n"  # 6
        "          <candidateFoo/>\n"  # 7
        "        </columns>\n"  # 8
        "        <parameters>\n"  # 9
        "          <stripHTML>yes</stripHTML>\n"  # 10
        "          <withoutLaunchTime>perhaps</withoutLaunchTime>\n"  # 11
        "        </parameters>\n"  # 12
        "      </trackingLogProvider>\n"  # 13
        "    </providers>\n"  # 14
        "    <consolidators>\n"  # 15
        "      <moveToFolder>\n"  # 16
        "        <folderPath>../elsewhere</folderPath>\n"  # 17
        "      </moveToFolder>\n"  # 18
        "    </consolidators>\n"  # 19
        "  </export>\n"  # 20
        "</export-config>\n"  # 21
    )
    issues = issues_of(document)
    assert [(i.path, i.line) for i in issues] == [
        (f"{COLUMNS}/candidateFoo", 7),
        (f"{PARAMETERS}/withoutLaunchTime", 11),
        (f"{EXPORT}/consolidators/moveToFolder/folderPath", 17),
    ]
    assert "unknown column" in issues[0].message
    assert "yes or no" in issues[1].message
    assert "'..'" in issues[2].message


def test_error_text_lists_every_issue_with_line_and_path() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition(
            definition(columns="<candidateFoo/>", parameters="<maxLength>0</maxLength>"), name="d.xml"
        )
    text = str(caught.value)
    assert text.startswith("d.xml: 2 error(s)")
    assert f"line {COLUMNS_LINE}: {COLUMNS}/candidateFoo: unknown column" in text
    assert f"line {PARAMETERS_LINE}: {PARAMETERS}/maxLength: expected a whole number" in text


# ------------------------------------------------------------------ JSON form


def test_json_issues_use_pointers_and_no_line() -> None:
    issues = issues_of(
        '{"guid": "daily", "columns": ["candidateId", {"name": "candidateFoo"}],'
        ' "parameters": {"deltaMode": "maybe", "templates": {"1": "{7}"}},'
        ' "moveToFolder": {"folderPath": "/abs"}, "emailReport": {"targetEmail": ["x"]}}',
        name="d.json",
    )
    assert [(i.path, i.line) for i in issues] == [
        ("/columns/1", None),
        ("/parameters/deltaMode", None),
        ("/parameters/templates/1", None),
        ("/moveToFolder/folderPath", None),
        ("/emailReport/targetEmail", None),
    ]
    assert "unknown column <candidateFoo>" in issues[0].message
    assert "yes or no" in issues[1].message
    assert "{7} is out of range" in issues[2].message


def test_json_unknown_key_and_missing_columns() -> None:
    issues = issues_of('{"guid": "daily", "colums": ["candidateId"]}', name="d.json")
    assert [(i.path, i.line) for i in issues] == [("/colums", None), ("/", None)]
    assert 'unknown key "colums"' in issues[0].message and "did you mean 'columns'" in issues[0].message
    assert 'needs "columns"' in issues[1].message


def test_json_delta_mode_without_guid() -> None:
    issue = only_issue('{"columns": ["candidateId"], "parameters": {"deltaMode": true}}', name="d.json")
    assert (issue.path, issue.line) == ("/parameters/deltaMode", None)
    assert "guid" in issue.message
