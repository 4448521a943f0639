"""Caps on what a tenant may ask for, and the checks that enforce them (docs/limits.md).

Every cap is a named setting with a default; the AWS functions read overrides from their
environment (``MAX_DEFINITION_BYTES``…, see :class:`Limits`), the CLI from its own. The
checks here are pure and linear in the size of their input: a hostile value (a 128 KB
"address", a 300-character time zone) is refused in time proportional to its length,
and messages quote at most a short prefix of it (:func:`shown`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from itertools import pairwise
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# RFC 5321 §4.5.3.1: local part ≤ 64 octets, domain ≤ 255, a forward-path ≤ 256 with its
# angle brackets, so an address is at most 254 characters.
MAX_EMAIL_LOCAL = 64
MAX_EMAIL_DOMAIN = 255
MAX_EMAIL_LENGTH = 254
MAX_ZONE_NAME = 64  # the longest IANA name is 32 characters
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_ZONE_CHARS = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")


class LimitsError(ValueError):
    """A cap setting is not a positive whole number; the message names the variable."""


class Limits(BaseModel):
    """The caps, each a named setting (environment variable = the field's alias)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    max_definition_bytes: int = Field(1024 * 1024, alias="MAX_DEFINITION_BYTES", ge=1)
    # Element nesting (XML) or object/array nesting (JSON); a real definition needs 7.
    max_definition_depth: int = Field(16, alias="MAX_DEFINITION_DEPTH", ge=8)
    # Elements (XML) or keys and list items (JSON): bounds the work of validating a definition.
    max_definition_elements: int = Field(5000, alias="MAX_DEFINITION_ELEMENTS", ge=100)
    max_columns: int = Field(256, alias="MAX_COLUMNS", ge=1)
    # One constantValue, one template text, one column label.
    max_text_length: int = Field(4096, alias="MAX_TEXT_LENGTH", ge=1)
    max_template_placeholders: int = Field(64, alias="MAX_TEMPLATE_PLACEHOLDERS", ge=1)
    # Characters a row prints whatever the data: constants plus templates with the constants
    # they repeat. Bounds how much a definition alone can blow up the file.
    max_fixed_row_text: int = Field(16 * 1024, alias="MAX_FIXED_ROW_TEXT", ge=1)
    max_end_file_bytes: int = Field(64 * 1024, alias="MAX_END_FILE_BYTES", ge=0)
    max_file_name_length: int = Field(255, alias="MAX_FILE_NAME_LENGTH", ge=16)
    max_folder_path_length: int = Field(512, alias="MAX_FOLDER_PATH_LENGTH", ge=1)
    max_time_frame_days: int = Field(3660, alias="MAX_TIME_FRAME_DAYS", ge=1)
    max_time_frame_months: int = Field(120, alias="MAX_TIME_FRAME_MONTHS", ge=1)
    max_time_frame_years: int = Field(10, alias="MAX_TIME_FRAME_YEARS", ge=1)
    min_schedule_interval_minutes: int = Field(15, alias="MIN_SCHEDULE_INTERVAL_MINUTES", ge=1)
    max_recipients: int = Field(50, alias="MAX_RECIPIENTS", ge=1)
    # Definitions in a tenant's exports folder; a new export past it gets no schedule.
    max_exports_per_tenant: int = Field(100, alias="MAX_EXPORTS_PER_TENANT", ge=1)
    max_tenant_settings_bytes: int = Field(64 * 1024, alias="MAX_TENANT_SETTINGS_BYTES", ge=1)
    # A run's time (scheduledTime, runAt, the CLI's --now) lies in [first, last] years.
    first_run_year: int = Field(2000, alias="FIRST_RUN_YEAR", ge=1900)
    last_run_year: int = Field(2100, alias="LAST_RUN_YEAR", le=2200)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Limits:
        """The caps with overrides from ``environ``; LimitsError names every bad variable."""
        names = {f.alias for f in cls.model_fields.values()}
        try:
            return cls.model_validate({k: v for k, v in environ.items() if k in names and v != ""})
        except ValidationError as exc:
            # Errors are located by alias: the variable's name.
            problems = [f"{e['loc'][0] if e['loc'] else '?'}: {e['msg']}" for e in exc.errors()]
            raise LimitsError("invalid limit setting(s): " + "; ".join(problems)) from None

    def time_frame_max(self, scale: str) -> tuple[int, str]:
        """The largest ``timeFrames`` allowed with ``scale``, and the setting that says so."""
        if scale.endswith("_days"):
            return self.max_time_frame_days, "MAX_TIME_FRAME_DAYS"
        if "months" in scale:
            return self.max_time_frame_months, "MAX_TIME_FRAME_MONTHS"
        return self.max_time_frame_years, "MAX_TIME_FRAME_YEARS"

    def run_time_problem(self, instant: datetime) -> str | None:
        """Why an (aware) run instant is out of range; None when it is fine."""
        if not self.first_run_year <= instant.astimezone(UTC).year <= self.last_run_year:
            return f"must lie in the years {self.first_run_year}..{self.last_run_year}"
        return None


DEFAULT_LIMITS = Limits.model_validate({})


def shown(text: str, width: int = 40) -> str:
    """``text`` quoted for a message, cut to ``width`` characters with its full length named."""
    if len(text) <= width:
        return repr(text)
    return f"{text[:width]!r}… ({len(text)} characters)"


def email_problem(address: str) -> str | None:
    """Why ``address`` is not an e-mail address (RFC 5321 lengths, a dot-atom local part,
    a host name domain); None when it is one. Linear in the length, lengths checked first."""
    if len(address) > MAX_EMAIL_LENGTH:
        return f"an e-mail address has at most {MAX_EMAIL_LENGTH} characters (this one {len(address)})"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "an e-mail address is name@domain"
    if len(local) > MAX_EMAIL_LOCAL:
        return f"the part before '@' has at most {MAX_EMAIL_LOCAL} characters"
    if len(domain) > MAX_EMAIL_DOMAIN:
        return f"the domain has at most {MAX_EMAIL_DOMAIN} characters"
    if not _EMAIL_LOCAL.fullmatch(local):
        return "the part before '@' may hold letters, digits, !#$%&'*+/=?^_`{|}~- and single inner dots"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return "the domain is dot-separated labels of letters, digits and inner '-' (example.com)"
    return None


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone name; None when it is one. Never touches the
    file system with an unchecked name: the name must be short, plain and in the tz database."""
    if len(name) > MAX_ZONE_NAME or not _ZONE_CHARS.fullmatch(name) or name not in _known_zones():
        return "expected an IANA time zone name such as Europe/Paris or UTC"
    return None


_RATE = re.compile(r"rate\((?P<n>[0-9]{1,6}) (?P<unit>minutes?|hours?|days?)\)")
_CRON = re.compile(r"cron\((?P<body>[^()]*)\)")
_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440}


def schedule_interval_problem(expression: str, min_minutes: int) -> str | None:
    """Why a ``rate()``/``cron()`` expression fires more often than every ``min_minutes``;
    None when it does not (or is a one-time ``at()``, or a shape checked elsewhere)."""
    if rate := _RATE.fullmatch(expression):
        every = int(rate["n"]) * _UNIT_MINUTES[rate["unit"].removesuffix("s")]
        if every < min_minutes:
            return f"runs every {every} minute(s); the minimum interval is {min_minutes} minutes"
        return None
    cron = _CRON.fullmatch(expression)
    if cron is None:
        return None
    fields = cron["body"].split()
    if len(fields) != 6:
        return None
    minutes, hours = _cron_values(fields[0], 0, 59), _cron_values(fields[1], 0, 23)
    if minutes is None:
        return "the minutes field of cron() is not a list of 0-59, ranges a-b, * or steps /n"
    if hours is None:
        return "the hours field of cron() is not a list of 0-23, ranges a-b, * or steps /n"
    times = sorted(h * 60 + m for h in hours for m in minutes)
    # The gap over midnight assumes it also fires the next day: the closest it can come.
    gaps = [b - a for a, b in pairwise(times)] + [times[0] + 1440 - times[-1]]
    if min(gaps) < min_minutes:
        return (
            f"fires {min(gaps)} minute(s) apart at the closest; the minimum interval is {min_minutes} minutes"
        )
    return None


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# EventBridge Scheduler's cron fields beyond minutes and hours: a value, a range a-b, a step
# /n, with their special forms (L, W, #); checked here so that a definition accepted at
# upload is never refused by the scheduler.
_DOM_PART = re.compile(r"(?:\*|[0-9]{1,2}(?:-[0-9]{1,2})?)(?:/[0-9]{1,2})?|L|LW|[0-9]{1,2}W")
_MONTH_PART = re.compile(r"(?:\*|[A-Z0-9]{1,3}(?:-[A-Z0-9]{1,3})?)(?:/[0-9]{1,2})?")
_DOW_PART = re.compile(r"(?:\*|[A-Z1-7]{1,3}(?:-[A-Z1-7]{1,3})?)(?:/[0-9])?|[1-7]L|L|[1-7]#[1-5]")
_YEAR_PART = re.compile(r"(?:\*|[0-9]{4}(?:-[0-9]{4})?)(?:/[0-9]{1,3})?")


def cron_problem(expression: str) -> str | None:
    """What is wrong with the day, month and year fields of a six-field ``cron()``; None when
    they are fine or the expression is not a cron (its shape is checked elsewhere)."""
    cron = _CRON.fullmatch(expression)
    fields = cron["body"].split() if cron else []
    if len(fields) != 6:
        return None
    dom, month, dow, year = fields[2], fields[3].upper(), fields[4].upper(), fields[5]
    if (dom == "?") == (dow == "?"):
        return "one of day-of-month (3rd field) and day-of-week (5th field) must be ?, not both"
    checks = (
        ("day-of-month", dom, _DOM_PART, lambda v: 1 <= int(v) <= 31),
        ("month", month, _MONTH_PART, lambda v: v in _MONTHS or (v.isdigit() and 1 <= int(v) <= 12)),
        ("day-of-week", dow, _DOW_PART, lambda v: v in _DAYS or (v.isdigit() and 1 <= int(v) <= 7)),
        ("year", year, _YEAR_PART, lambda v: 1970 <= int(v) <= 2199),
    )
    for name, text, part, in_range in checks:
        if text == "?" and name in ("day-of-month", "day-of-week"):
            continue
        for item in text.split(","):
            if not part.fullmatch(item) or not all(
                in_range(v)
                for v in re.findall(r"[A-Z]{3}|[0-9]+", item.split("/")[0].split("#")[0])
                if not (name == "day-of-month" and v == "L")
            ):
                return f"the {name} field {shown(text)} is not valid for cron()"
    return None


def _cron_values(field: str, low: int, high: int) -> set[int] | None:
    """The values a cron minutes/hours field selects; None if it is not well formed."""
    values: set[int] = set()
    for part in field.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not (step_text.isdigit() and len(step_text) <= 2 and int(step_text) > 0):
                return None
            step = int(step_text)
        if base in ("*", "?"):
            first, last = low, high
        else:
            start, dash, end = base.partition("-")
            if not all(t.isdigit() and len(t) <= 2 for t in (start, *([end] if dash else []))):
                return None
            first = int(start)
            last = int(end) if dash else (high if slash else first)
        if not low <= first <= last <= high:
            return None
        values.update(range(first, last + 1, step))
    return values


# JSON nested deeper than this is refused before it is parsed (tenant.json, dataset lines).
# Without it the answer would be the interpreter's: json's recursion fails past about 1,000
# levels on Python 3.11 and parses 5,000 on 3.13 (the runtime's); real documents nest 3 or 4.
MAX_JSON_DEPTH = 64
# What the nesting pre-scan looks at: an escape pair (so an escaped quote is skipped),
# a quote, or a bracket. One token at a time keeps the scan linear.
_JSON_NESTING_TOKEN = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def json_nesting_line(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> int | None:
    """The line where ``text`` nests arrays/objects deeper than ``max_depth``; None if it
    does not. Checked before parsing, whose recursion a deep document would exhaust. Bytes are
    scanned as Latin-1: one character per byte, so every ASCII quote and bracket is where it was."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    depth = 0
    in_string = False
    for match in _JSON_NESTING_TOKEN.finditer(text):
        token = match.group(0)
        if token == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return text.count("\n", 0, match.start()) + 1
        elif token in ("]", "}"):
            depth -= 1
    return None
