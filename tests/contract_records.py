"""One builder of data-contract.md records for every test tier (unit, integration, bench).

``Dataset`` builds a consistent tenant dataset (records as in data-contract.md's JSONL),
with defaults derived from each record's id that a test overrides by keyword, using the
JSON field names (``data.learner(7, name="Doe", entityId=4)``). ``Records`` is the
seed's example (Laurie in "First steps", tracking 501) built with it, for the tests that
load a stack. ``tests/conftest.py`` puts this folder on ``sys.path``, so both tiers
``import contract_records``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tracking_export.records import TrackingLog

TENANT = "acme"

Record = dict[str, Any]


def utc(text: str) -> datetime:
    """An aware UTC datetime from ``2021-02-10T09:30:00Z``."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Dataset:
    """Records of one tenant, in insertion order."""

    tenant: str = TENANT
    records: list[Record] = field(default_factory=list)

    def _add(self, kind: str, fields: Record, overrides: dict[str, Any]) -> Record:
        record: Record = {"type": kind, "tenantId": self.tenant, **fields, **overrides}
        self.records.append(record)
        return record

    def entity(self, entity_id: int, name: str, parent_id: int | None = None, **over: Any) -> Record:
        return self._add("entity", {"entityId": entity_id, "name": name, "parentId": parent_id}, over)

    def smartgroup(self, smartgroup_id: int, name: str, **over: Any) -> Record:
        return self._add("smartgroup", {"smartgroupId": smartgroup_id, "name": name}, over)

    def learner(self, learner_id: int, **over: Any) -> Record:
        return self._add(
            "learner",
            {
                "learnerId": learner_id,
                "guid": f"learner-guid-{learner_id}",
                "name": f"Name{learner_id}",
                "firstname": f"First{learner_id}",
                "login": f"login{learner_id}",
                "email": f"learner{learner_id}@example.com",
                "refNumber": f"REF-{learner_id}",
                "timezone": "Europe/Paris",
                "entityId": 1,
                "smartgroupIds": [],
                "customFields": {},
                "presentation": "",
            },
            over,
        )

    def training(self, training_id: int, **over: Any) -> Record:
        return self._add(
            "training",
            {
                "trainingId": training_id,
                "guid": f"training-guid-{training_id}",
                "title": f"Training {training_id}",
                "pathCode": f"PATH-{training_id}",
                "modality": "learning_channel",
                "status": "P",
                "publisher": "Acme Academy",
                "catalogVisible": True,
                "imported": False,
            },
            over,
        )

    def session(self, session_id: int, training_id: int, **over: Any) -> Record:
        return self._add(
            "session",
            {
                "sessionId": session_id,
                "guid": f"session-guid-{session_id}",
                "title": f"Session {session_id}",
                "trainingId": training_id,
                "startDate": "2021-01-01",
                "endDate": "2021-12-31",
                "imported": False,
                "hrisSelected": False,
            },
            over,
        )

    def content(self, content_guid: str, **over: Any) -> Record:
        return self._add(
            "content",
            {
                "contentGuid": content_guid,
                "learningObjectGuid": f"lo-{content_guid}",
                "title": f"Content {content_guid}",
                "refNumber": f"REF-{content_guid}",
                "locale": "en-US",
                "publisherGuid": "PUB-1",
                "publisherName": "Acme Publishing",
                "hrisSelected": False,
            },
            over,
        )

    def training_content(self, training_id: int, learning_object_guid: str, **over: Any) -> Record:
        return self._add(
            "trainingContent",
            {
                "trainingId": training_id,
                "learningObjectGuid": learning_object_guid,
                "folder": "Folder",
                "mandatory": True,
            },
            over,
        )

    def tracking(
        self, tracking_id: int, learner_id: int, session_id: int, content_guid: str, **over: Any
    ) -> Record:
        return self._add(
            "tracking",
            {
                "trackingId": tracking_id,
                "guid": f"tracking-guid-{tracking_id}",
                "learnerId": learner_id,
                "sessionId": session_id,
                "contentGuid": content_guid,
                "registrationGuid": f"registration-guid-{tracking_id}",
                "registrationImported": False,
                "updatedAt": "2021-01-01T00:00:00Z",
            },
            over,
        )

    def log(self, tracking_id: int, log_id: int, started_at: str, seconds: int = 60, **over: Any) -> Record:
        """A tracking log; ``lastAccessAt`` defaults to ``startedAt`` + ``seconds``."""
        last = iso(utc(started_at) + timedelta(seconds=seconds))
        return self._add(
            "trackingLog",
            {
                "trackingId": tracking_id,
                "logId": log_id,
                "startedAt": started_at,
                "lastAccessAt": last,
                "completedAt": None,
                "progression": 50,
                "score": None,
                "status": "incomplete",
                "timeSpentSeconds": seconds,
                "updatedAt": last,
            },
            over,
        )


class Records:
    """Builders of data-contract.md records around the seed's example (Laurie, "First steps")."""

    @staticmethod
    def catalogue(
        tenant_id: str, *, name: str = "Martin", firstname: str = "Laurie", email: str = "laurie@acme.example"
    ) -> list[Record]:
        """One learner in session "Session 01" of training "First steps", content "Welcome to our team",
        and her tracking 501. Another tenant gets the same ids (ids are unique only within a tenant)."""
        data = Dataset(tenant_id)
        data.entity(1, "All users")
        data.smartgroup(1, "Newcomers")
        data.learner(
            1,
            guid="lrn-0001",
            name=name,
            firstname=firstname,
            login=firstname.lower(),
            email=email,
            refNumber="EMP001",
            smartgroupIds=[1],
            customFields={"cf-department": "Sales"},
            presentation=None,
        )
        data.training(10, guid="trn-0010", title="First steps", pathCode="FS-01", publisher="Academy")
        data.session(
            20, 10, guid="ses-0020", title="Session 01", startDate="2020-02-01", endDate="2030-12-31"
        )
        data.content(
            "cnt-welcome-v1",
            learningObjectGuid="lo-welcome",
            title="Welcome to our team",
            refNumber="LO-001",
            publisherGuid="pub-1",
            publisherName="Academy",
        )
        data.training_content(10, "lo-welcome", folder="Onboarding")
        data.tracking(
            501,
            1,
            20,
            "cnt-welcome-v1",
            guid="trk-0501",
            registrationGuid="reg-0501",
            updatedAt="2020-02-01T08:00:00Z",
        )
        return data.records

    @staticmethod
    def log(
        tenant_id: str,
        log_id: int,
        started_at: str,
        seconds: int,
        *,
        progression: int = 40,
        status: str = "incomplete",
        score: float | None = None,
        completed: bool = False,
    ) -> Record:
        """A log of tracking 501 starting at ``started_at`` (ISO, Z) and lasting ``seconds``."""
        start = utc(started_at)
        end = iso(start + timedelta(seconds=seconds))
        return Dataset(tenant_id).log(
            501,
            log_id,
            iso(start),
            seconds,
            progression=progression,
            status=status,
            score=score,
            completedAt=end if completed else None,
        )

    @staticmethod
    def seed_logs(tenant_id: str) -> list[Record]:
        """The two logs of data-contract.md's seed example."""
        return [
            Records.log(tenant_id, 9001, "2020-02-10T09:30:00Z", 180),
            Records.log(
                tenant_id,
                9002,
                "2020-02-10T17:00:00Z",
                60,
                progression=100,
                status="completed",
                score=4,
                completed=True,
            ),
        ]


def log_value(log: Any, field: str) -> Any:
    """A field of a log as a source hands it out: a ``TrackingLog`` (a valid log) or its record."""
    if isinstance(log, TrackingLog):
        return getattr(log, re.sub("([A-Z])", r"_\1", field).lower())
    return log[field]


def log_id_of(log: Any) -> Any:
    return log_value(log, "logId")
