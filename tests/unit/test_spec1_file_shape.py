"""Spec export-definition.md §1 (file shape): both XML roots and the JSON form load into
one model; the seed's own example loads; unsafe or malformed XML is a clear issue.

Expected models are written out from the spec and docs/definition-format.md by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracking_export.definition import load_definition
from tracking_export.errors import DefinitionError, DefinitionIssue
from tracking_export.model import (
    Column,
    EmailReport,
    ExportDefinition,
    FileExportAction,
    GenerateEndFile,
    MoveToFolder,
    Parameters,
    Schedule,
)

ROOT = Path(__file__).resolve().parents[2]
SEED_EXAMPLE = ROOT / "tests" / "fixtures" / "seed-example.xml"
FORMAT_DOC = ROOT / "docs" / "definition-format.md"


def doc_examples() -> tuple[str, str, str]:
    """The three examples of docs/definition-format.md: export-config, providers, JSON."""
    text = FORMAT_DOC.read_text(encoding="utf-8")
    xml_blocks = re.findall(r"```xml\n(.*?)```", text, re.DOTALL)
    json_blocks = re.findall(r"```json\n(.*?)```", text, re.DOTALL)
    assert len(xml_blocks) == 2 and len(json_blocks) == 1
    return xml_blocks[0], xml_blocks[1], json_blocks[0]


def without_lines(definition: ExportDefinition) -> ExportDefinition:
    """JSON has no line numbers: compare the forms with column lines blanked."""
    columns = tuple(c.model_copy(update={"line": None}) for c in definition.columns)
    return definition.model_copy(update={"columns": columns})


def issues_of(data: bytes | str, name: str = "definition.xml") -> list[DefinitionIssue]:
    with pytest.raises(DefinitionError) as caught:
        load_definition(data, name=name)
    return caught.value.issues


# The docs' export-config example, written out by hand.
DOC_EXAMPLE = ExportDefinition(
    guid="daily-tracking-log",
    guid_given=True,
    schedule=Schedule(expression="cron(0 2 * * ? *)", timezone="Europe/Paris"),
    columns=(
        Column(name="candidateId", header="candidateId"),
        Column(name="candidateName", label="Surname", header="Surname"),
        Column(
            name="candidateCustomFieldGuid",
            label="Department",
            header="Department",
            text="8345C0A3-1111-2222-3333-444455556666",
        ),
        Column(name="contentTitle", header="contentTitle"),
        Column(name="firstLaunchDate", header="firstLaunchDate"),
        Column(name="status", header="status"),
        Column(name="timeGlobal", label="Time spent", header="Time spent"),
        Column(name="constantValue", header="constantValue", value="ACME"),
        Column(name="templatedValue", label="Who", header="Who", template_id="1"),
    ),
    parameters=Parameters(
        date_format="DD/MM/YYYY",
        entity_ids=(12, 14),
        report_status=frozenset({"completed", "incomplete"}),
        status_format={
            "completed": "C",
            "incomplete": "I",
            "notAttempted": "not attempted",
            "pendingFeedback": "pending feedback",
        },
        time_global_format="iso-8601",
        delta_mode=True,
        templates={"1": "{1} ({0}) {{learner}}"},
        max_length=200,
    ),
    file_action=FileExportAction(format="CSV", encoding="UTF-8-BOM", delimiter="comma", show_headers=True),
    move_to_folder=MoveToFolder(
        file_name="tracking_%Y%m%d.csv",
        file_name_given=True,
        folder_path="exports/daily",
        delete_empty_files=True,
    ),
    email_report=EmailReport(target_emails=("ops@example.com", "hr@example.com"), include_download_link=True),
    generate_end_file=GenerateEndFile(file_name="tracking_%Y%m%d.end", file_content="done"),
)


def test_export_config_example_loads_to_the_expected_model() -> None:
    xml, _, _ = doc_examples()
    loaded = load_definition(xml.encode("utf-8"), name="anything.xml")
    assert without_lines(loaded) == DOC_EXAMPLE
    # <candidateId/> is on line 8 of the example, <templatedValue> on line 16.
    assert loaded.columns[0].line == 8
    assert loaded.columns[-1].line == 16


def test_json_example_loads_to_the_same_model_as_the_xml_example() -> None:
    _, _, text = doc_examples()
    loaded = load_definition(text, name="anything.json")
    assert loaded == DOC_EXAMPLE
    assert all(column.line is None for column in loaded.columns)


def test_bare_providers_example_takes_its_id_from_the_file_name() -> None:
    _, xml, _ = doc_examples()
    loaded = load_definition(xml, name="weekly-hr.xml")
    assert loaded == ExportDefinition(
        guid="weekly-hr",
        guid_given=True,
        columns=(
            Column(name="candidateId", header="candidateId", line=4),
            Column(name="contentGuid", label="Content", header="Content", line=5),
            Column(name="progression", header="progression", line=6),
            Column(name="status", header="status", line=7),
        ),
        parameters=Parameters(time_frames=7, time_frames_scale="less_than_n_days", strip_html=True),
    )


def test_bare_providers_and_export_config_give_the_same_model() -> None:
    provider = (
        "<providers><trackingLogProvider>"
        "<columns><candidateId/><status/></columns>"
        "<parameters><deltaMode>yes</deltaMode></parameters>"
        "</trackingLogProvider></providers>"
    )
    bare = load_definition(provider, name="nightly.xml")
    wrapped = load_definition(f'<export-config><export guid="nightly">{provider}</export></export-config>')
    assert bare == wrapped
    assert bare.guid == "nightly" and bare.guid_given is True
    assert bare.file_action == FileExportAction()
    assert bare.move_to_folder == MoveToFolder()
    assert bare.schedule is None and bare.generate_end_file is None


def test_seed_example_loads_with_all_its_columns() -> None:
    loaded = load_definition(SEED_EXAMPLE.read_bytes(), name="seed-example.xml")
    # The 39 elements of the seed's example, in its order; canonical names per spec §2.
    assert [c.name for c in loaded.columns] == [
        "candidateId",
        "candidateGuid",
        "candidateRefNumber",
        "candidateName",
        "candidateFirstname",
        "candidateLogin",
        "candidateEmail",
        "candidateCustomFieldGuid",
        "candidatePresentation",
        "candidateTimeZone",
        "contentGuid",
        "learningObjectGuid",
        "contentRefNumber",
        "contentTitle",
        "contentLocale",
        "learningObjectPublisher",
        "registrationGuid",
        "sessionId",
        "sessionTitle",
        "sessionGuid",
        "sessionStartDate",
        "sessionEndDate",
        "trainingId",
        "trainingGuid",
        "trainingPathCode",
        "trainingTitle",
        "trainingContentFolder",
        "trainingContentMandatory",
        "firstLaunchDate",
        "completionTime",
        "firstCompletionDate",
        "progression",
        "score",
        "status",
        "timeGlobal",
        "constantValue",
        "logDate",
        "trainingModality",
        "trainingPublisher",
    ]
    assert [c.header for c in loaded.columns] == [c.name for c in loaded.columns]
    assert {"candidatePresentation", "trainingModality", "trainingPublisher"} <= {
        c.name for c in loaded.columns
    }
    assert loaded.guid == "seed-example" and loaded.guid_given is True
    assert loaded.parameters == Parameters(date_time_format="YYYY-MM-DD hh:ii:ss")
    # <candidateId/> is on line 4 of the fixture, <candidateCustomFieldGuid/> on line 11.
    assert loaded.columns[0].line == 4
    assert loaded.warnings == (
        "line 11: /providers/trackingLogProvider/columns/candidateCustomFieldGuid: "
        "candidateCustomFieldGuid names no custom field GUID; its cells will be empty",
    )


def test_header_is_the_element_name_as_written_for_an_alias() -> None:
    loaded = load_definition(
        "<providers><trackingLogProvider><columns>"
        "<contentGUID/><learningObjectStatus/><status/><status label='Status again'/>"
        "</columns></trackingLogProvider></providers>",
        name="x.xml",
    )
    assert [(c.name, c.header) for c in loaded.columns] == [
        ("contentGuid", "contentGUID"),
        ("status", "learningObjectStatus"),
        ("status", "status"),
        ("status", "Status again"),
    ]


def test_export_without_guid_derives_an_id_but_does_not_count_as_given() -> None:
    loaded = load_definition(
        "<export-config><export><providers><trackingLogProvider><columns><candidateId/></columns>"
        "</trackingLogProvider></providers></export></export-config>",
        name="My Export.xml",
    )
    assert loaded.guid_given is False
    assert loaded.guid == "My-Export"


def test_json_without_guid_derives_an_id_from_the_name() -> None:
    loaded = load_definition('  \n {"columns": ["candidateId"]}', name="hr.json")
    assert (loaded.guid, loaded.guid_given) == ("hr", False)
    assert loaded.columns == (Column(name="candidateId", header="candidateId"),)


def test_options_may_be_attributes_and_tsv_defaults_to_tabulation() -> None:
    loaded = load_definition(
        "<export-config><export guid='g'><providers><trackingLogProvider><columns><candidateId/></columns>"
        "</trackingLogProvider></providers>"
        "<actions><fileExportAction format='TSV' showHeaders='no'/></actions>"
        "</export></export-config>"
    )
    assert loaded.file_action == FileExportAction(format="TSV", delimiter="tabulation", show_headers=False)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("", FileExportAction(format="CSV", delimiter="semicolon")),
        ("<format>CSV</format>", FileExportAction(format="CSV", delimiter="semicolon")),
        ("<format>tsv</format>", FileExportAction(format="TSV", delimiter="tabulation")),
        ("<format>TSV</format><delimiter>pipe</delimiter>", FileExportAction(format="TSV", delimiter="pipe")),
        (
            "<encoding>utf-16le</encoding><decimal>comma</decimal><compression>gzip</compression>"
            "<formulaEscape>no</formulaEscape><onUnencodable>replace</onUnencodable>",
            FileExportAction(
                encoding="UTF-16LE",
                decimal="comma",
                compression="gzip",
                formula_escape=False,
                on_unencodable="replace",
            ),
        ),
    ],
)
def test_file_export_action_options(action: str, expected: FileExportAction) -> None:
    loaded = load_definition(
        "<export-config><export guid='g'><providers><trackingLogProvider><columns><candidateId/></columns>"
        f"</trackingLogProvider></providers><actions><fileExportAction>{action}</fileExportAction></actions>"
        "</export></export-config>"
    )
    assert loaded.file_action == expected


def test_move_to_folder_file_name_given_only_when_written() -> None:
    def load(move: str) -> MoveToFolder:
        return load_definition(
            "<export-config><export guid='g'><providers><trackingLogProvider>"
            "<columns><candidateId/></columns></trackingLogProvider></providers>"
            f"<consolidators><moveToFolder>{move}</moveToFolder>"
            "</consolidators></export></export-config>"
        ).move_to_folder

    assert load("<folderPath>a/b</folderPath>") == MoveToFolder(folder_path="a/b")
    assert load("") == MoveToFolder(file_name="%e_%Y%m%d_%H%M%S.csv", file_name_given=False)
    assert load("<fileName>%e_%Y%m%d_%H%M%S.csv</fileName>") == MoveToFolder(
        file_name="%e_%Y%m%d_%H%M%S.csv", file_name_given=True
    )


def test_schedule_archive_and_clean_folder() -> None:
    loaded = load_definition(
        "<export-config><export guid='g'><schedule>rate(1 day)</schedule>"
        "<providers><trackingLogProvider><columns><candidateId/></columns></trackingLogProvider></providers>"
        "<consolidators><archive/><cleanFolder><cleanOlderThan>30</cleanOlderThan></cleanFolder>"
        "</consolidators></export></export-config>"
    )
    assert loaded.schedule == Schedule(expression="rate(1 day)", timezone=None)
    assert loaded.archive is True
    assert loaded.clean_older_than_days == 30


def test_json_archive_clean_folder_and_string_schedule() -> None:
    loaded = load_definition(
        '{"guid": "g", "schedule": "at(2026-01-31T02:00:00)", "columns": ["candidateId"],'
        ' "archive": true, "cleanFolder": {"cleanOlderThan": 7}, "parameters": null}'
    )
    assert loaded.schedule == Schedule(expression="at(2026-01-31T02:00:00)")
    assert (loaded.archive, loaded.clean_older_than_days) == (True, 7)


def test_bytes_with_utf8_bom_and_str_input_load_alike() -> None:
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<providers><trackingLogProvider><columns>'
        "<constantValue>é€</constantValue></columns></trackingLogProvider></providers>"
    )
    from_bytes = load_definition(b"\xef\xbb\xbf" + text.encode("utf-8"), name="x.xml")
    from_str = load_definition(text, name="x.xml")
    assert from_bytes == from_str
    assert from_str.columns[0].text == "é€"


# ---------------------------------------------------------------- unsafe XML


DTD_ONLY = """<?xml version="1.0"?>
<!DOCTYPE providers>
<providers/>
"""
INTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE providers [
  <!ENTITY who "Laurie">
]>
<providers><trackingLogProvider><columns><constantValue>&who;</constantValue></columns></trackingLogProvider></providers>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE providers [
  <!ENTITY secret SYSTEM "file:///etc/passwd">
]>
<providers><trackingLogProvider><columns><constantValue>&secret;</constantValue></columns></trackingLogProvider></providers>
"""
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<providers>&lol3;</providers>
"""
EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE providers SYSTEM "http://example.com/evil.dtd">
<providers/>
"""


@pytest.mark.parametrize(
    "document", [DTD_ONLY, INTERNAL_ENTITY, EXTERNAL_ENTITY, BILLION_LAUGHS, EXTERNAL_DTD]
)
def test_dtds_and_entities_are_refused_with_one_clear_issue(document: str) -> None:
    issues = issues_of(document.encode("utf-8"))
    assert len(issues) == 1
    # The DOCTYPE is on line 2 of every document above.
    assert issues[0].line == 2
    assert "DOCTYPE" in issues[0].message and "not allowed" in issues[0].message
    assert "entit" in issues[0].message


def test_undeclared_entity_reference_is_malformed_xml() -> None:
    issues = issues_of("<providers>\n<trackingLogProvider>&who;</trackingLogProvider></providers>")
    assert len(issues) == 1
    assert issues[0].line == 2
    assert "malformed XML" in issues[0].message and "undefined entity" in issues[0].message


@pytest.mark.parametrize(
    ("document", "line", "gist"),
    [
        (
            "<providers>\n  <trackingLogProvider>\n    <columns>\n  </trackingLogProvider>\n</providers>",
            4,
            "mismatched tag",
        ),
        ("<providers>\n<trackingLogProvider>", 2, "no element found"),
        ("", 1, "no element found"),
        ("<providers>\n<columns a='1' a='2'/></providers>", 2, "duplicate attribute"),
        ("<providers/>\n<providers/>", 2, "junk after document element"),
    ],
)
def test_malformed_xml_is_one_issue_with_the_parser_line(document: str, line: int, gist: str) -> None:
    issues = issues_of(document)
    assert len(issues) == 1
    assert issues[0].line == line
    assert issues[0].message.startswith("malformed XML") and gist in issues[0].message


def test_malformed_json_is_one_issue_with_its_line() -> None:
    issues = issues_of('{\n  "columns": ["candidateId"],\n  "guid": \n}', name="x.json")
    assert len(issues) == 1
    assert issues[0].line == 4
    assert issues[0].message.startswith("malformed JSON")


def test_json_duplicate_keys_are_refused() -> None:
    issues = issues_of('{"columns": ["candidateId"], "columns": ["status"]}', name="x.json")
    assert [(i.path, i.line) for i in issues] == [("/", None)]
    assert "'columns' appears twice" in issues[0].message


def test_unknown_root_element() -> None:
    issues = issues_of("<exports/>")
    assert [(i.path, i.line) for i in issues] == [("/exports", 1)]
    assert "<export-config> or <providers>" in issues[0].message
