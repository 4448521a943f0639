"""Test data and a one-call renderer for the engine's spec tests.

``standard()`` is a small consistent tenant dataset built with
:class:`contract_records.Dataset`, the records builder shared by every test tier.

``render`` wraps the inside of a ``<trackingLogProvider>`` (``<columns>`` and
``<parameters>``) into a full ``<export-config>``, runs the export into memory
and parses the CSV so that tests assert on cells.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from contract_records import TENANT, Dataset, Record

from tracking_export.definition import load_definition
from tracking_export.engine import run_export
from tracking_export.model import ExportDefinition, Parameters
from tracking_export.report import RunReport
from tracking_export.source import InMemorySource

PARIS = "Europe/Paris"
# A run time in winter (Paris = UTC+1): 2021-02-24 13:00 in Paris.
NOW = datetime(2021, 2, 24, 12, 0, tzinfo=UTC)


def standard(tenant: str = TENANT) -> Dataset:
    """One learner (Laurie, learner 1) registered to one content of one session; no logs yet.

    Entities: 1 "All users" (root) > 2 "Entity 01" > 3 "Entity 01.1" (Laurie's), and
    4 "Entity 02" under the root. Smart groups: 1 "Zeta team", 2 "Alpha team",
    3 "Managers" (Laurie is in 1 and 2). Training 10 "First steps" > session 100
    "Session 01"; content "C-1" (learning object "LO-1", in training 10's folder
    "Onboarding", mandatory); tracking 1000 = learner 1 x session 100 x "C-1".
    """
    data = Dataset(tenant)
    data.entity(1, "All users")
    data.entity(2, "Entity 01", 1)
    data.entity(3, "Entity 01.1", 2)
    data.entity(4, "Entity 02", 1)
    data.smartgroup(1, "Zeta team")
    data.smartgroup(2, "Alpha team")
    data.smartgroup(3, "Managers")
    data.learner(
        1,
        guid="learner-guid-1",
        name="Martin",
        firstname="Laurie",
        login="laurie.m",
        email="laurie@example.com",
        refNumber="EMP-001",
        timezone="America/New_York",
        entityId=3,
        smartgroupIds=[1, 2],
        customFields={"CF-DEPT": "Sales"},
        presentation="Hello, I am Laurie",
    )
    data.training(
        10,
        guid="training-guid-10",
        title="First steps",
        pathCode="FS-01",
        modality="learning_channel",
        status="P",
        publisher="Acme Academy",
    )
    data.session(100, 10, title="Session 01", startDate="2021-02-01", endDate="2021-03-31")
    data.content(
        "C-1",
        learningObjectGuid="LO-1",
        title="Welcome to our team",
        refNumber="CNT-001",
        locale="en-US",
        publisherGuid="PUB-1",
        publisherName="Acme Publishing",
    )
    data.training_content(10, "LO-1", folder="Onboarding", mandatory=True)
    data.tracking(1000, 1, 100, "C-1")
    return data


def provider(columns: str, parameters: str = "") -> str:
    """The inside of ``<trackingLogProvider>``: ``columns`` and ``parameters`` are inner XML."""
    xml = f"<columns>{columns}</columns>"
    if parameters:
        xml += f"<parameters>{parameters}</parameters>"
    return xml


def definition_xml(inner: str, action: str = "<delimiter>comma</delimiter>", guid: str = "spec-tests") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<export-config><export guid="{guid}">'
        f"<providers><trackingLogProvider>{inner}</trackingLogProvider></providers>"
        f"<actions><fileExportAction>{action}</fileExportAction></actions>"
        "</export></export-config>"
    )


def load(inner: str, action: str = "<delimiter>comma</delimiter>") -> ExportDefinition:
    return load_definition(definition_xml(inner, action), name="spec-tests.xml")


def parameters(parameters_xml: str) -> Parameters:
    """The validated parameters of a definition with one column and these parameters."""
    return load(provider("<reportId/>", parameters_xml)).parameters


def run(
    inner: str,
    records: list[Record],
    *,
    tz: str = PARIS,
    now: datetime = NOW,
    previous: datetime | None = None,
    action: str = "<delimiter>comma</delimiter>",
    tenant: str = TENANT,
) -> tuple[bytes, RunReport]:
    """Run the export of ``inner`` over ``records``; the file's bytes and the report."""
    definition = load(inner, action)
    return run_definition(definition, records, tz=tz, now=now, previous=previous, tenant=tenant)


def run_definition(
    definition: ExportDefinition,
    records: list[Record],
    *,
    tz: str = PARIS,
    now: datetime = NOW,
    previous: datetime | None = None,
    tenant: str = TENANT,
) -> tuple[bytes, RunReport]:
    out = io.BytesIO()
    report = run_export(
        definition,
        InMemorySource(tenant, records),
        out,
        tenant_id=tenant,
        timezone=tz,
        now=now,
        previous_success_start=previous,
    )
    return out.getvalue(), report


def parse(data: bytes, delimiter: str = ",") -> list[list[str]]:
    """CSV cells; a record of one empty cell may be written as an empty line, read as ``[""]``."""
    rows = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter)
    return [row or [""] for row in rows]


def render(
    inner: str,
    records: list[Record],
    *,
    tz: str = PARIS,
    now: datetime = NOW,
    previous: datetime | None = None,
    action: str = "<delimiter>comma</delimiter>",
    tenant: str = TENANT,
) -> list[list[str]]:
    """Header row and data rows, as cells (comma-delimited unless ``action`` says otherwise)."""
    data, _ = run(inner, records, tz=tz, now=now, previous=previous, action=action, tenant=tenant)
    return parse(data, _delimiter_of(action))


def _delimiter_of(action: str) -> str:
    for name, char in (("comma", ","), ("pipe", "|"), ("tabulation", "\t")):
        if f"<delimiter>{name}</delimiter>" in action:
            return char
    return ";"


def body(inner: str, records: list[Record], **kwargs: Any) -> list[list[str]]:
    """The data rows only (header dropped)."""
    return render(inner, records, **kwargs)[1:]


def column(inner: str, records: list[Record], **kwargs: Any) -> list[str]:
    """The first cell of every data row."""
    return [row[0] for row in body(inner, records, **kwargs)]


def zone(name: str = PARIS) -> ZoneInfo:
    return ZoneInfo(name)
