"""The seed's Laurie example (data-contract.md, last section) rendered with the seed's
full column list (the commented XML example of tracking-log-provider.md, 39 columns,
bare ``<providers>`` root, ``dateTimeFormat`` ``YYYY-MM-DD hh:ii:ss``), with the default
``<fileExportAction>``: CSV, semicolon, UTF-8, headers, CRLF after every record,
RFC 4180 quoting, formula escape on. Tenant zone Europe/Paris (UTC+1 on 2020-02-10).

golden/laurie_seed_columns.csv was written by hand from the spec, not by the code.
Header: the 39 element names as written in the seed, in order (no labels). Each
column, with its cell for log 9001 (10:30 Paris, unfinished) / log 9002 (18:00 Paris,
completed):

 1 candidateId            1 / 1: learner 1's learnerId.
 2 candidateGuid          3f2a9c4e-1b7d-4e8a-9c01-5a6b7c8d9e01 both: learner guid.
 3 candidateRefNumber     ACME-0001 both: refNumber.
 4 candidateName          Martin both: surname (name).
 5 candidateFirstname     Laurie both.
 6 candidateLogin         laurie.martin both.
 7 candidateEmail         laurie.martin@acme.example both.
 8 candidateCustomFieldGuid  empty both: the seed's element carries no GUID, so the
                          cell is empty although Laurie has a custom-field value.
 9 candidatePresentation  "Sales assistant; joined in 2020" both: it holds the
                          delimiter, so RFC 4180 quotes it.
10 candidateTimeZone      Europe/Paris both: the learner's own timezone field.
11 contentGuid            c0e1d2c3-b4a5-4968-8776-655443322101 both.
12 learningObjectGuid     10b1e2c3-d4e5-4f60-8172-839405162701 both.
13 contentRefNumber       WELCOME-01 both.
14 contentTitle           Welcome to our team both.
15 contentLocale          en-US both.
16 learningObjectPublisher  Acme Studio both: the content's publisherName.
17 registrationGuid       e0f1a2b3-c4d5-4e6f-8a7b-9c0d1e2f3a01 both: tracking 501's.
18 sessionId              70 both.
19 sessionTitle           Session 01 both.
20 sessionGuid            5e0c1a2b-3d4e-4f5a-8b6c-7d8e9f0a1b70 both.
21 sessionStartDate       2020-02-03 both: a day, default dateFormat YYYY-MM-DD.
22 sessionEndDate         2020-03-31 both.
23 trainingId             7 both.
24 trainingGuid           7a1e0b52-4c3d-4f6e-8a9b-0c1d2e3f4a07 both.
25 trainingPathCode       FIRST-STEPS both.
26 trainingTitle          First steps both.
27 trainingContentFolder  Introduction both: trainingContent (7, the learning object).
28 trainingContentMandatory  Y both: mandatory true.
29 firstLaunchDate        2020-02-10 10:30:00 / 2020-02-10 18:00:00: startedAt 09:30Z /
                          17:00Z shown in Paris (+1 h), dateTimeFormat YYYY-MM-DD hh:ii:ss.
30 completionTime         2020-02-10 10:33:00 / 2020-02-10 18:01:00: lastAccessAt 09:33Z / 17:01Z.
31 firstCompletionDate    empty / 2020-02-10 18:01:00: completedAt null / 17:01Z.
32 progression            40 / 100: decimals without trailing zeros.
33 score                  empty / 4: score null / 4.
34 status                 incomplete / completed: default statusFormat texts.
35 timeGlobal             180 / 60: timeSpentSeconds, default rawSeconds.
36 constantValue          empty both: no value attribute, no text.
37 logDate                2020-02-10 both: startedAt's day in Paris, dateFormat default.
38 trainingModality       learning_channel both: the training's modality code.
39 trainingPublisher      Acme Academy both: the training's publisher title.

Row order: same day, learner, session and content, so by action start: 9001 then 9002.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract_records import utc
from engine_helpers import run_definition

from tracking_export.definition import load_definition

GOLDEN = Path(__file__).parent / "golden" / "laurie_seed_columns.csv"

# The seed's example, exactly as written in tracking-log-provider.md.
SEED_XML = """<providers>
    <trackingLogProvider>
        <columns>
            <candidateId/>
            <candidateGuid/>
            <candidateRefNumber/>
            <candidateName/>
            <candidateFirstname/>
            <candidateLogin/>
            <candidateEmail/>
            <candidateCustomFieldGuid/>
            <candidatePresentation/>
            <candidateTimeZone/>
            <contentGuid/>
            <learningObjectGuid/>
            <contentRefNumber/>
            <contentTitle/>
            <contentLocale/>
            <learningObjectPublisher/>
            <registrationGuid/>
            <sessionId/>
            <sessionTitle/>
            <sessionGuid/>
            <sessionStartDate/>
            <sessionEndDate/>
            <trainingId/>
            <trainingGuid/>
            <trainingPathCode/>
            <trainingTitle/>
            <trainingContentFolder/>
            <trainingContentMandatory/>
            <firstLaunchDate/>
            <completionTime/>
            <firstCompletionDate/>
            <progression/>
            <score/>
            <status/>
            <timeGlobal/>
            <constantValue/>
            <logDate/>
            <trainingModality/>
            <trainingPublisher/>
        </columns>
        <parameters>
            <dateTimeFormat>YYYY-MM-DD hh:ii:ss</dateTimeFormat>
        </parameters>
    </trackingLogProvider>
</providers>
"""

TENANT = "acme"
LEARNING_OBJECT = "10b1e2c3-d4e5-4f60-8172-839405162701"
CONTENT = "c0e1d2c3-b4a5-4968-8776-655443322101"

# The catalogue around the seed's two logs (invented; the logs are data-contract.md's).
RECORDS: list[dict[str, Any]] = [
    {"type": "entity", "tenantId": TENANT, "entityId": 1, "name": "All users", "parentId": None},
    {"type": "entity", "tenantId": TENANT, "entityId": 2, "name": "Sales", "parentId": 1},
    {"type": "smartgroup", "tenantId": TENANT, "smartgroupId": 1, "name": "Newcomers"},
    {
        "type": "learner",
        "tenantId": TENANT,
        "learnerId": 1,
        "guid": "3f2a9c4e-1b7d-4e8a-9c01-5a6b7c8d9e01",
        "name": "Martin",
        "firstname": "Laurie",
        "login": "laurie.martin",
        "email": "laurie.martin@acme.example",
        "refNumber": "ACME-0001",
        "timezone": "Europe/Paris",
        "entityId": 2,
        "smartgroupIds": [1],
        "customFields": {"8345C0A3-5D1E-4F7A-9B2C-3E4F5A6B7C8D": "Sales"},
        "presentation": "Sales assistant; joined in 2020",
    },
    {
        "type": "training",
        "tenantId": TENANT,
        "trainingId": 7,
        "guid": "7a1e0b52-4c3d-4f6e-8a9b-0c1d2e3f4a07",
        "title": "First steps",
        "pathCode": "FIRST-STEPS",
        "modality": "learning_channel",
        "status": "P",
        "publisher": "Acme Academy",
        "catalogVisible": True,
        "imported": False,
    },
    {
        "type": "session",
        "tenantId": TENANT,
        "sessionId": 70,
        "guid": "5e0c1a2b-3d4e-4f5a-8b6c-7d8e9f0a1b70",
        "title": "Session 01",
        "trainingId": 7,
        "startDate": "2020-02-03",
        "endDate": "2020-03-31",
        "imported": False,
        "hrisSelected": False,
    },
    {
        "type": "content",
        "tenantId": TENANT,
        "contentGuid": CONTENT,
        "learningObjectGuid": LEARNING_OBJECT,
        "title": "Welcome to our team",
        "refNumber": "WELCOME-01",
        "locale": "en-US",
        "publisherGuid": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c01",
        "publisherName": "Acme Studio",
        "hrisSelected": False,
    },
    {
        "type": "trainingContent",
        "tenantId": TENANT,
        "trainingId": 7,
        "learningObjectGuid": LEARNING_OBJECT,
        "folder": "Introduction",
        "mandatory": True,
    },
    {
        "type": "tracking",
        "tenantId": TENANT,
        "trackingId": 501,
        "guid": "a501b2c3-d4e5-4f60-9172-8394a5b6c501",
        "learnerId": 1,
        "sessionId": 70,
        "contentGuid": CONTENT,
        "registrationGuid": "e0f1a2b3-c4d5-4e6f-8a7b-9c0d1e2f3a01",
        "registrationImported": False,
        "updatedAt": "2020-02-10T17:01:00Z",
    },
    # data-contract.md, "The seed's example as records" (log 9002 listed first on purpose).
    {
        "type": "trackingLog",
        "tenantId": "acme",
        "trackingId": 501,
        "logId": 9002,
        "startedAt": "2020-02-10T17:00:00Z",
        "lastAccessAt": "2020-02-10T17:01:00Z",
        "completedAt": "2020-02-10T17:01:00Z",
        "progression": 100,
        "score": 4,
        "status": "completed",
        "timeSpentSeconds": 60,
        "updatedAt": "2020-02-10T17:01:00Z",
    },
    {
        "type": "trackingLog",
        "tenantId": "acme",
        "trackingId": 501,
        "logId": 9001,
        "startedAt": "2020-02-10T09:30:00Z",
        "lastAccessAt": "2020-02-10T09:33:00Z",
        "completedAt": None,
        "progression": 40,
        "score": None,
        "status": "incomplete",
        "timeSpentSeconds": 180,
        "updatedAt": "2020-02-10T09:33:00Z",
    },
]


def test_seed_example_renders_the_golden_file_byte_for_byte() -> None:
    definition = load_definition(SEED_XML, name="laurie-seed.xml")
    assert len(definition.columns) == 39
    raw, report = run_definition(
        definition, RECORDS, tz="Europe/Paris", now=utc("2020-02-11T02:00:00Z"), tenant=TENANT
    )
    assert raw == GOLDEN.read_bytes()
    assert report.rows == 2
    assert report.skipped_count == 0
    assert report.bytes_written == len(raw)
