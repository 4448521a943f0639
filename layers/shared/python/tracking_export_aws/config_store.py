"""Tenant configuration in the config bucket: ``tenants/{tenantId}/tenant.json`` and export XMLs."""

from __future__ import annotations

import json
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracking_export_aws import keys

_EMAIL_RE = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_CONFIG_KEY_RE = re.compile(r"^tenants/([^/]+)/exports/([^/]+)\.xml$")
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message names the object."""


class ConfigNotFound(ConfigError):
    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(f"configuration s3://{bucket}/{key} does not exist")


class ConfigInvalid(ConfigError):
    def __init__(self, key: str, problems: list[str]) -> None:
        self.key = key
        self.problems = problems
        super().__init__(f"configuration {key} is invalid: " + "; ".join(problems))


class InvalidConfigKey(ConfigError):
    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        super().__init__(f"{key!r} is not an export configuration key: {reason}")


class TenantSettings(BaseModel):
    """``tenant.json``: the tenant's time zone, who is notified, how long files are kept."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    timezone: str = "UTC"
    notification_emails: list[str] = Field(default_factory=list, alias="notificationEmails")
    retention_days: int | None = Field(default=None, alias="retentionDays", ge=1)
    # Default flexible time window of the tenant's schedules (an export's own setting wins).
    flexible_window_minutes: int = Field(default=0, alias="flexibleWindowMinutes", ge=0, le=1440)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("notification_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _EMAIL_RE.fullmatch(v)]
        if bad:
            raise ValueError(f"not an email address: {bad[0]!r}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_config_key(key: str) -> tuple[str, str]:
    """``tenants/{tenantId}/exports/{exportGuid}.xml`` -> (tenant id, export guid), both validated.

    S3 event notifications URL-encode keys: decode them (``urllib.parse.unquote_plus``) first.
    """
    match = _CONFIG_KEY_RE.fullmatch(key)
    if not match:
        raise InvalidConfigKey(key, "expected tenants/{tenantId}/exports/{exportGuid}.xml")
    try:
        return keys.validate_tenant_id(match.group(1)), keys.validate_export_guid(match.group(2))
    except keys.InvalidKeyError as exc:
        raise InvalidConfigKey(key, str(exc)) from None


class ConfigStore:
    """Reads one tenant's configuration objects; S3 errors become ConfigError."""

    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket

    def _get(self, key: str) -> bytes:
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
            return bytes(response["Body"].read())
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND:
                raise ConfigNotFound(self.bucket, key) from None
            raise ConfigError(f"cannot read s3://{self.bucket}/{key}: {code or exc}") from exc

    def tenant_settings(self, tenant_id: str) -> TenantSettings:
        """The tenant's settings; a tenant without ``tenant.json`` gets the defaults (UTC)."""
        key = keys.tenant_settings_key(tenant_id)
        try:
            data = self._get(key)
        except ConfigNotFound:
            return TenantSettings()
        try:
            document = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigInvalid(key, [f"not JSON: {exc}"]) from None
        if not isinstance(document, dict):
            raise ConfigInvalid(key, ["not a JSON object"])
        try:
            return TenantSettings.model_validate(document)
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()]
            raise ConfigInvalid(key, problems) from None

    def export_definition(self, tenant_id: str, export_guid: str) -> bytes:
        """The bytes of ``tenants/{tenantId}/exports/{exportGuid}.xml``; ConfigNotFound when absent."""
        return self._get(keys.export_config_key(tenant_id, export_guid))
