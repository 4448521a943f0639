"""Validation of raw records (data-contract.md) into typed, immutable records.

Each ``parse_*`` returns the record or raises :class:`InvalidRecord` with a reason
naming the field and the rule it breaks, never the value itself: reasons go into
notifications, and a value may be personal data (an address) or arbitrarily long.
Hand-written rather than pydantic: logs are on the hot path and these checks are a
handful of ``isinstance`` calls.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from tracking_export.source import FIRST_YEAR, LAST_YEAR, Raw, parse_instant


class InvalidRecord(ValueError):
    """A record that cannot be used; the message names the field and the rule, not the value."""


# A key shown in a skip report: what ids and GUIDs look like (no '@', no spaces, short).
_SHOWABLE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,39}")


def _kind_of(value: Any) -> str:
    """What a wrong value is, without the value: "a string", "a list"…"""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, float):
        return "a decimal number" if math.isfinite(value) else "NaN or an infinity"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "another type"


def safe_key(key: Any) -> Any:
    """``key`` as a skip report may show it: an integer id or an id-like string (each part of
    a tuple likewise); anything else, which could be any data value, becomes None."""
    if isinstance(key, tuple | list):
        return tuple(safe_key(part) for part in key)
    if type(key) is int:
        return key
    if isinstance(key, str) and _SHOWABLE_KEY.fullmatch(key):
        return key
    return None


def _int(raw: Raw, name: str, *, required: bool = True) -> Any:
    value = raw.get(name)
    if value is None:
        if required:
            raise InvalidRecord(f"missing required field {name!r}")
        return None
    if type(value) is not int:
        raise InvalidRecord(f"field {name!r} must be an integer, got {_kind_of(value)}")
    return value


def _str(raw: Raw, name: str, *, required: bool = False) -> Any:
    value = raw.get(name)
    if value is None:
        if required:
            raise InvalidRecord(f"missing required field {name!r}")
        return None
    if type(value) is not str:
        raise InvalidRecord(f"field {name!r} must be a string, got {_kind_of(value)}")
    return value


def _guid(raw: Raw, name: str, *, required: bool = False) -> Any:
    value = _str(raw, name, required=required)
    if value is not None and len(value) > 40:
        raise InvalidRecord(f"field {name!r} is longer than 40 characters")
    if required and value == "":
        raise InvalidRecord(f"field {name!r} is empty")
    return value


def _bool(raw: Raw, name: str) -> bool:
    value = raw.get(name)
    if value is None:
        return False
    if type(value) is not bool:
        raise InvalidRecord(f"field {name!r} must be true or false, got {_kind_of(value)}")
    return value


def _number(raw: Raw, name: str, *, required: bool = True) -> Any:
    value = raw.get(name)
    if value is None:
        if required:
            raise InvalidRecord(f"missing required field {name!r}")
        return None
    if type(value) not in (int, float) or (type(value) is float and not math.isfinite(value)):
        raise InvalidRecord(f"field {name!r} must be a finite number, got {_kind_of(value)}")
    return value


def _instant_field(raw: Raw, name: str, *, required: bool = False) -> datetime | None:
    value = raw.get(name)
    if value is None:
        if required:
            raise InvalidRecord(f"missing required field {name!r}")
        return None
    parsed = parse_instant(value)
    if parsed is None:
        raise InvalidRecord(
            f"field {name!r} must be an ISO 8601 instant with an offset or Z, "
            f"in the years {FIRST_YEAR}..{LAST_YEAR}"
        )
    return parsed


def _day(raw: Raw, name: str) -> date | None:
    value = raw.get(name)
    if value is None:
        return None
    if type(value) is str:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidRecord(f"field {name!r} must be a day YYYY-MM-DD")


@dataclass(frozen=True, slots=True)
class Learner:
    learner_id: int
    guid: str | None
    name: str | None
    firstname: str | None
    login: str | None
    email: str | None
    ref_number: str | None
    timezone: str | None
    entity_id: int | None
    smartgroup_ids: tuple[int, ...]
    custom_fields: dict[str, str]
    presentation: str | None


def parse_learner(raw: Raw) -> Learner:
    groups = raw.get("smartgroupIds") or []
    if not isinstance(groups, list) or any(type(g) is not int for g in groups):
        raise InvalidRecord("field 'smartgroupIds' must be a list of integers")
    fields = raw.get("customFields") or {}
    if not isinstance(fields, dict) or any(
        not isinstance(k, str) or not (v is None or isinstance(v, str)) for k, v in fields.items()
    ):
        raise InvalidRecord("field 'customFields' must be an object of custom-field GUID -> string")
    return Learner(
        learner_id=_int(raw, "learnerId"),
        guid=_guid(raw, "guid"),
        name=_str(raw, "name"),
        firstname=_str(raw, "firstname"),
        login=_str(raw, "login"),
        email=_str(raw, "email"),
        ref_number=_str(raw, "refNumber"),
        timezone=_str(raw, "timezone"),
        entity_id=_int(raw, "entityId", required=False),
        smartgroup_ids=tuple(groups),
        custom_fields={k: v for k, v in fields.items() if v is not None},
        presentation=_str(raw, "presentation"),
    )


@dataclass(frozen=True, slots=True)
class Entity:
    entity_id: int
    name: str | None
    parent_id: int | None


def parse_entity(raw: Raw) -> Entity:
    return Entity(_int(raw, "entityId"), _str(raw, "name"), _int(raw, "parentId", required=False))


@dataclass(frozen=True, slots=True)
class Smartgroup:
    smartgroup_id: int
    name: str | None


def parse_smartgroup(raw: Raw) -> Smartgroup:
    return Smartgroup(_int(raw, "smartgroupId"), _str(raw, "name"))


@dataclass(frozen=True, slots=True)
class Training:
    training_id: int
    guid: str | None
    title: str | None
    path_code: str | None
    modality: str | None
    status: str | None
    publisher: str | None
    catalog_visible: bool
    imported: bool


def parse_training(raw: Raw) -> Training:
    status = _str(raw, "status")
    if status is not None and status not in ("C", "P", "A"):
        raise InvalidRecord("field 'status' must be C, P or A")
    return Training(
        training_id=_int(raw, "trainingId"),
        guid=_guid(raw, "guid"),
        title=_str(raw, "title"),
        path_code=_str(raw, "pathCode"),
        modality=_str(raw, "modality"),
        status=status,
        publisher=_str(raw, "publisher"),
        catalog_visible=_bool(raw, "catalogVisible"),
        imported=_bool(raw, "imported"),
    )


@dataclass(frozen=True, slots=True)
class Session:
    session_id: int
    guid: str | None
    title: str | None
    training_id: int
    start_date: date | None
    end_date: date | None
    imported: bool
    hris_selected: bool


def parse_session(raw: Raw) -> Session:
    return Session(
        session_id=_int(raw, "sessionId"),
        guid=_guid(raw, "guid"),
        title=_str(raw, "title"),
        training_id=_int(raw, "trainingId"),
        start_date=_day(raw, "startDate"),
        end_date=_day(raw, "endDate"),
        imported=_bool(raw, "imported"),
        hris_selected=_bool(raw, "hrisSelected"),
    )


@dataclass(frozen=True, slots=True)
class Content:
    content_guid: str
    learning_object_guid: str | None
    title: str | None
    ref_number: str | None
    locale: str | None
    publisher_guid: str | None
    publisher_name: str | None
    hris_selected: bool


def parse_content(raw: Raw) -> Content:
    return Content(
        content_guid=_guid(raw, "contentGuid", required=True),
        learning_object_guid=_guid(raw, "learningObjectGuid"),
        title=_str(raw, "title"),
        ref_number=_str(raw, "refNumber"),
        locale=_str(raw, "locale"),
        publisher_guid=_guid(raw, "publisherGuid"),
        publisher_name=_str(raw, "publisherName"),
        hris_selected=_bool(raw, "hrisSelected"),
    )


@dataclass(frozen=True, slots=True)
class TrainingContent:
    training_id: int
    learning_object_guid: str
    folder: str | None
    mandatory: bool | None


def parse_training_content(raw: Raw) -> TrainingContent:
    mandatory = raw.get("mandatory")
    if mandatory is not None and type(mandatory) is not bool:
        raise InvalidRecord(f"field 'mandatory' must be true or false, got {_kind_of(mandatory)}")
    return TrainingContent(
        _int(raw, "trainingId"),
        _guid(raw, "learningObjectGuid", required=True),
        _str(raw, "folder"),
        mandatory,
    )


# A named tuple like TrackingLog (and for the same reason): one is made per tracking a run resolves.
class Tracking(NamedTuple):
    tracking_id: int
    guid: str | None
    learner_id: int
    session_id: int
    content_guid: str
    registration_guid: str | None
    registration_imported: bool


def parse_tracking(raw: Raw) -> Tracking:
    return Tracking(
        tracking_id=_int(raw, "trackingId"),
        guid=_guid(raw, "guid"),
        learner_id=_int(raw, "learnerId"),
        session_id=_int(raw, "sessionId"),
        content_guid=_guid(raw, "contentGuid", required=True),
        registration_guid=_guid(raw, "registrationGuid"),
        registration_imported=_bool(raw, "registrationImported"),
    )


# A century: beyond it a duration is garbage, and would not even convert to minutes.
MAX_TIME_SPENT_SECONDS = 100 * 366 * 24 * 3600
_LOG_STATUSES = frozenset(("completed", "incomplete", "notAttempted", "pendingFeedback"))


# A named tuple rather than a frozen dataclass like the other records: one is made per log,
# and a frozen dataclass's __init__ (one object.__setattr__ per field) costs several times more.
class TrackingLog(NamedTuple):
    tracking_id: int
    log_id: int
    started_at: datetime
    last_access_at: datetime | None
    completed_at: datetime | None
    progression: int | float
    score: int | float | None
    status: str
    time_spent_seconds: int


_from_iso = datetime.fromisoformat


def parse_tracking_log(raw: Raw) -> TrackingLog:
    """A valid log's record; otherwise InvalidRecord naming the first field that is wrong.

    Runs once per log of an export: the common case (every field right) is checked by
    :func:`valid_tracking_log`, and only a record that fails it goes through the
    field-by-field checks that say why.
    """
    get = raw.get
    log = valid_tracking_log(
        get("trackingId"),
        get("logId"),
        get("startedAt"),
        get("lastAccessAt"),
        get("completedAt"),
        get("progression"),
        get("score"),
        get("status"),
        get("timeSpentSeconds"),
    )
    return log if log is not None else _checked_tracking_log(raw)


def valid_tracking_log(
    tracking_id: Any,
    log_id: Any,
    started: Any,
    last_access: Any,
    completed: Any,
    progression: Any,
    score: Any,
    status: Any,
    spent: Any,
) -> TrackingLog | None:
    """The log these field values (as a record holds them, None when absent) make, when every
    one is right in its common form (instants in UTC with ``Z`` or ``+00:00``); else None.

    None does not mean invalid: :func:`parse_tracking_log` then checks field by field, and
    either accepts the log (an instant with another offset, say) or names what is wrong. A
    source that already holds a log's values may call this directly and skip the record dict.
    """
    if (
        type(tracking_id) is int
        and type(log_id) is int
        and type(spent) is int
        and 0 <= spent <= MAX_TIME_SPENT_SECONDS
        and type(status) is str
        and status in _LOG_STATUSES
        and (type(progression) is int or type(progression) is float)
        and 0 <= progression <= 100
        and (score is None or type(score) is int or (type(score) is float and math.isfinite(score)))
    ):
        try:
            started_at = _from_iso(started)
            last_access_at = None if last_access is None else _from_iso(last_access)
            completed_at = None if completed is None else _from_iso(completed)
        except (TypeError, ValueError):  # TypeError: not a string
            return None
        if (
            started_at.tzinfo is UTC
            and FIRST_YEAR <= started_at.year <= LAST_YEAR
            and (
                last_access_at is None
                or (last_access_at.tzinfo is UTC and FIRST_YEAR <= last_access_at.year <= LAST_YEAR)
            )
            and (
                completed_at is None
                or (completed_at.tzinfo is UTC and FIRST_YEAR <= completed_at.year <= LAST_YEAR)
            )
        ):
            return TrackingLog(
                tracking_id,
                log_id,
                started_at,
                last_access_at,
                completed_at,
                progression,
                score,
                status,
                spent,
            )
    return None


def _checked_tracking_log(raw: Raw) -> TrackingLog:
    started_at = _instant_field(raw, "startedAt", required=True)
    assert started_at is not None
    progression = _number(raw, "progression")
    if not 0 <= progression <= 100:
        raise InvalidRecord("field 'progression' must lie in 0..100")
    status = raw.get("status")
    if type(status) is not str or status not in _LOG_STATUSES:  # a list or an object is unhashable
        raise InvalidRecord(
            "field 'status' must be one of completed, incomplete, notAttempted, pendingFeedback"
        )
    spent = _int(raw, "timeSpentSeconds")
    if not 0 <= spent <= MAX_TIME_SPENT_SECONDS:
        raise InvalidRecord(f"field 'timeSpentSeconds' must lie in 0..{MAX_TIME_SPENT_SECONDS}")
    return TrackingLog(
        tracking_id=_int(raw, "trackingId"),
        log_id=_int(raw, "logId"),
        started_at=started_at,
        last_access_at=_instant_field(raw, "lastAccessAt"),
        completed_at=_instant_field(raw, "completedAt"),
        progression=progression,
        score=_number(raw, "score", required=False),
        status=status,
        time_spent_seconds=spent,
    )


# The fields each parser reads: a source may leave any other out of the records it hands
# the engine (``TrackingSource.get_records``).
RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "learner": (
        "learnerId",
        "guid",
        "name",
        "firstname",
        "login",
        "email",
        "refNumber",
        "timezone",
        "entityId",
        "smartgroupIds",
        "customFields",
        "presentation",
    ),
    "entity": ("entityId", "name", "parentId"),
    "smartgroup": ("smartgroupId", "name"),
    "training": (
        "trainingId",
        "guid",
        "title",
        "pathCode",
        "modality",
        "status",
        "publisher",
        "catalogVisible",
        "imported",
    ),
    "session": (
        "sessionId",
        "guid",
        "title",
        "trainingId",
        "startDate",
        "endDate",
        "imported",
        "hrisSelected",
    ),
    "content": (
        "contentGuid",
        "learningObjectGuid",
        "title",
        "refNumber",
        "locale",
        "publisherGuid",
        "publisherName",
        "hrisSelected",
    ),
    "trainingContent": ("trainingId", "learningObjectGuid", "folder", "mandatory"),
    "tracking": (
        "trackingId",
        "guid",
        "learnerId",
        "sessionId",
        "contentGuid",
        "registrationGuid",
        "registrationImported",
    ),
}

PARSERS = {
    "learner": parse_learner,
    "entity": parse_entity,
    "smartgroup": parse_smartgroup,
    "training": parse_training,
    "session": parse_session,
    "content": parse_content,
    "trainingContent": parse_training_content,
    "tracking": parse_tracking,
}
