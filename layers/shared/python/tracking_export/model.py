"""The validated export definition: one model for the XML and the JSON forms.

Names follow the spec (``deltaMode`` -> ``delta_mode``). Everything here is already
checked; the loader in :mod:`tracking_export.definition` builds it or raises
:class:`~tracking_export.errors.DefinitionError` with every problem found.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Canonical column names (spec §2, the seed's XML element names), in spec order,
# followed by the three extras the seed's own example uses.
COLUMN_NAMES: tuple[str, ...] = (
    "reportId",
    "reportGuid",
    "candidateId",
    "candidateGuid",
    "candidateName",
    "candidateFirstname",
    "candidateLogin",
    "candidateEmail",
    "candidateRefNumber",
    "candidateCustomFieldGuid",
    "candidateTimeZone",
    "candidateSmartgroups",
    "candidateEntityAncestors",
    "candidateEntityName",
    "trainingId",
    "trainingGuid",
    "trainingTitle",
    "trainingPathCode",
    "sessionId",
    "sessionGuid",
    "sessionTitle",
    "sessionStartDate",
    "sessionEndDate",
    "registrationGuid",
    "learningObjectGuid",
    "contentGuid",
    "contentTitle",
    "contentRefNumber",
    "contentLocale",
    "learningObjectPublisher",
    "learningObjectRealCompletionTime",
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
    "templatedValue",
    "candidatePresentation",
    "trainingModality",
    "trainingPublisher",
)

# Accepted spellings -> canonical element name. Seed names (spec §2 "seed name"
# column) are accepted too, since "where this page and the seed disagree on a
# name, accept both spellings".
COLUMN_ALIASES: dict[str, str] = {
    "learningObjectRegistrationGuid": "registrationGuid",
    "contentGUID": "contentGuid",
    "contentFirstLaunchDate": "firstLaunchDate",
    "contentCompletionTime": "completionTime",
    "contentFirstCompletionDate": "firstCompletionDate",
    "learningObjectProgression": "progression",
    "learningObjectScore": "score",
    "learningObjectStatus": "status",
    "trackingLogTimeGlobal": "timeGlobal",
}

LOG_STATUSES: tuple[str, ...] = ("completed", "incomplete", "notAttempted", "pendingFeedback")
DEFAULT_STATUS_TEXT: dict[str, str] = {
    "completed": "completed",
    "incomplete": "incomplete",
    "notAttempted": "not attempted",
    "pendingFeedback": "pending feedback",
}
TRAINING_STATUSES: dict[str, str] = {"C": "underConstruction", "P": "published", "A": "archived"}
MODALITIES: tuple[str, ...] = (
    "learning_channel",
    "guided",
    "blended",
    "kc",
    "campus",
    "distanciel",
    "mentored_action_learning",
    "portal",
    "serious_game",
    "content_test",
)
TIME_FRAME_SCALES: tuple[str, ...] = (
    "less_than_n_days",
    "less_than_n_months",
    "less_than_n_full_months",
    "less_than_n_years",
    "less_than_n_full_years",
)

TimeFrameScale = Literal[
    "less_than_n_days",
    "less_than_n_months",
    "less_than_n_full_months",
    "less_than_n_years",
    "less_than_n_full_years",
]
TimeFrameScaleMode = Literal["timeSpent", "lastActivity", "lastActivityCumulative"]
TimeGlobalFormat = Literal["rawSeconds", "rawMinutes", "iso-8601", "padded", "paddedhh"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Column(_Frozen):
    """One output column, in document order."""

    name: str  # canonical element name, one of COLUMN_NAMES
    label: str | None = None  # header text; None -> the element name as written
    header: str  # the header cell text (label, else the element name as written)
    text: str = ""  # element text: custom-field GUID, constantValue text
    value: str | None = None  # constantValue's `value` attribute
    template_id: str | None = None  # templatedValue's `templateId`
    line: int | None = None  # line number in the XML, for messages


class Parameters(_Frozen):
    """Spec §3. ``None`` means "parameter absent": no filter."""

    date_format: str = "YYYY-MM-DD"
    date_time_format: str = "YYYY-MM-DD hh:ii:ss"
    entity_ids: tuple[int, ...] | None = None
    modality: str | None = None
    only_from_imported_registrations: bool = False
    only_from_imported_sessions: bool = False
    only_from_imported_training: bool = False
    preferred_locales: tuple[str, ...] | None = None
    publishers: tuple[str, ...] | None = None
    report_status: frozenset[str] | None = None  # values from LOG_STATUSES
    status_format: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_STATUS_TEXT))
    time_frames: int | None = None
    time_frames_scale: TimeFrameScale | None = None
    time_frame_scale_mode: TimeFrameScaleMode = "timeSpent"
    time_global_format: TimeGlobalFormat = "rawSeconds"
    training_guid: str | None = None
    training_path_code: str | None = None
    training_status: frozenset[str] | None = None  # values "C", "P", "A"
    training_publishers: tuple[str, ...] | None = None
    # keyed by training status code "C"/"P"/"A"; defaults are the long names
    training_status_format: dict[str, str] = Field(default_factory=lambda: dict(TRAINING_STATUSES))
    training_modality_format: tuple[str, ...] | None = None
    session_title: str | None = None
    session_guid: str | None = None
    without_launch_time: bool = False
    delta_mode: bool = False
    ancestors_with_current: bool = False
    learners_smart_groups: tuple[int, ...] | None = None
    catalog_visibility: bool | None = None
    templates: dict[str, str] = Field(default_factory=dict)
    only_hris_selected_items: bool = False
    strip_html: bool = False
    max_length: int | None = None


class FileExportAction(_Frozen):
    """Spec §4 ``<fileExportAction>``."""

    format: Literal["CSV", "TSV"] = "CSV"
    encoding: Literal["UTF-8", "UTF-8-BOM", "ISO-8859-1", "WINDOWS-1252", "UTF-16LE"] = "UTF-8"
    delimiter: Literal["comma", "pipe", "semicolon", "tabulation"] = "semicolon"
    show_headers: bool = True
    decimal: Literal["point", "comma"] = "point"
    compression: Literal["none", "gzip"] = "none"
    formula_escape: bool = True
    on_unencodable: Literal["fail", "replace"] = "fail"

    @property
    def delimiter_char(self) -> str:
        return {"comma": ",", "pipe": "|", "semicolon": ";", "tabulation": "\t"}[self.delimiter]

    @property
    def decimal_char(self) -> str:
        return "," if self.decimal == "comma" else "."


class MoveToFolder(_Frozen):
    file_name: str = "%e_%Y%m%d_%H%M%S.csv"
    file_name_given: bool = False  # False: default pattern, extension follows the format
    folder_path: str = ""  # validated: relative, no "..", no backslash; "" = tenant root
    delete_empty_files: bool = False


class EmailReport(_Frozen):
    target_emails: tuple[str, ...] = ()
    include_download_link: bool = False


class GenerateEndFile(_Frozen):
    file_name: str
    file_content: str = ""


class Schedule(_Frozen):
    expression: str = "cron(0 2 * * ? *)"
    timezone: str | None = None  # None -> the tenant's zone
    # Scheduler's flexible time window: the run starts within this many minutes after its
    # scheduled time (spreads a fleet's 02:00 runs). None -> the tenant's default; 0 -> off.
    flexible_window_minutes: int | None = None


class ExportDefinition(_Frozen):
    """A complete, valid export definition."""

    guid: str
    guid_given: bool  # True when <export guid=...> (or JSON "guid") named it
    schedule: Schedule | None = None
    columns: tuple[Column, ...]
    parameters: Parameters = Field(default_factory=Parameters)
    file_action: FileExportAction = Field(default_factory=FileExportAction)
    move_to_folder: MoveToFolder = Field(default_factory=MoveToFolder)
    email_report: EmailReport = Field(default_factory=EmailReport)
    generate_end_file: GenerateEndFile | None = None
    clean_older_than_days: int | None = None
    archive: bool = False
    warnings: tuple[str, ...] = ()
