"""Tenant configuration in the config bucket: ``tenants/{tenantId}/tenant.json`` and export XMLs."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from tracking_export.limits import (
    DEFAULT_LIMITS,
    Limits,
    email_problem,
    json_nesting_line,
    shown,
    zone_problem,
)
from tracking_export_aws.aws import keys
from tracking_export_aws.config.versions import ConfigVersion, ConfigVersions, settings_pk

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client

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
    """``tenant.json``: the tenant's time zone, who is notified, how long files are kept.

    Validated like a definition: an unknown field, a wrong type, a zone outside the IANA
    database or a malformed address is an error naming the field. The caps (recipients)
    come from the validation context's ``limits``, else the defaults.
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid", strict=True)

    timezone: str = "UTC"
    notification_emails: list[str] = Field(default_factory=list, alias="notificationEmails")
    retention_days: int | None = Field(default=None, alias="retentionDays", ge=1, le=36500)
    # Erasure of a learner pseudonymises their trackings and logs instead of deleting them.
    keep_anonymous_statistics: bool = Field(default=False, alias="keepAnonymousStatistics")
    # Default flexible time window of the tenant's schedules (an export's own setting wins).
    flexible_window_minutes: int = Field(default=0, alias="flexibleWindowMinutes", ge=0, le=1440)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        problem = zone_problem(value)
        if problem is not None:
            raise ValueError(f"unknown time zone {shown(value)}; {problem}")
        return value

    @field_validator("notification_emails")
    @classmethod
    def _emails(cls, value: list[str], info: ValidationInfo) -> list[str]:
        limits: Limits = (info.context or {}).get("limits", DEFAULT_LIMITS)
        if len(value) > limits.max_recipients:
            raise ValueError(
                f"{len(value)} addresses; at most {limits.max_recipients} are allowed "
                "(setting MAX_RECIPIENTS)"
            )
        for index, address in enumerate(value):
            problem = email_problem(address)
            # The address itself is left out: it is personal data, and may be huge.
            if problem is not None:
                raise ValueError(f"item {index} is not an e-mail address: {problem}")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_TENANT_FIELDS = ", ".join(field.alias or name for name, field in TenantSettings.model_fields.items())


def parse_tenant_settings(data: bytes, key: str, limits: Limits = DEFAULT_LIMITS) -> TenantSettings:
    """``tenant.json``'s bytes as settings; ConfigInvalid names ``key`` and every bad field."""
    if len(data) > limits.max_tenant_settings_bytes:
        raise ConfigInvalid(
            key,
            [
                f"{len(data)} bytes; at most {limits.max_tenant_settings_bytes} "
                "(setting MAX_TENANT_SETTINGS_BYTES)"
            ],
        )
    if json_nesting_line(data) is not None:
        raise ConfigInvalid(key, ["not JSON this service reads: nested too deep"])
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigInvalid(key, [f"not JSON: {exc}"]) from None
    except ValueError:  # what json raises for an integer of thousands of digits
        raise ConfigInvalid(key, ["not JSON this service reads: a number has too many digits"]) from None
    if not isinstance(document, dict):
        raise ConfigInvalid(key, ["not a JSON object"])
    try:
        return TenantSettings.model_validate(document, context={"limits": limits})
    except ValidationError as exc:
        raise ConfigInvalid(key, [_problem(error) for error in exc.errors()]) from None


def _problem(error: Any) -> str:
    """One pydantic error as ``field: rule``, without the input value."""
    where = ".".join(str(p) for p in error["loc"]) or "(root)"
    if error["type"] == "extra_forbidden":
        return f"{shown(where)}: unknown field; allowed: {_TENANT_FIELDS}"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


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


@dataclass(frozen=True)
class ConfigObject:
    """A configuration object as read: its bytes and the version they are."""

    data: bytes
    version: ConfigVersion


class ConfigStore:
    """Reads one tenant's configuration objects; S3 errors become ConfigError.

    With ``versions`` (the last-valid pointers config-sync keeps), a run reads the version of
    each object that was last found valid, not a newer invalid upload; an object without a
    pointer (config-sync has not seen it) is read as it is now.
    """

    def __init__(
        self,
        s3_client: S3Client,
        bucket: str,
        versions: ConfigVersions | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.versions = versions
        self.limits = limits

    def read(self, key: str, version: ConfigVersion | None = None) -> ConfigObject:
        """The object at ``key`` (the given version of it, else the current one)."""
        extra: dict[str, Any] = {}
        if version is not None and version.version_id and version.version_id != "null":
            extra["VersionId"] = version.version_id
        elif version is not None and version.etag:
            extra["IfMatch"] = version.etag  # unversioned bucket: only the same bytes will do
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key, **extra)
            data = bytes(response["Body"].read())
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if version is not None and code in (*_NOT_FOUND, "NoSuchVersion", "PreconditionFailed", "412"):
                raise ConfigError(
                    f"the last valid version of s3://{self.bucket}/{key} ({version.tag}) is no longer "
                    "stored; upload a valid one"
                ) from None
            if code in _NOT_FOUND:
                raise ConfigNotFound(self.bucket, key) from None
            raise ConfigError(f"cannot read s3://{self.bucket}/{key}: {code or exc}") from exc
        found = ConfigVersion(key=key, version_id=response.get("VersionId"), etag=response.get("ETag"))
        return ConfigObject(data, found)

    def export_guids(self, tenant_id: str) -> list[str]:
        """The guids of the tenant's export definitions (``tenants/{t}/exports/*.xml``), sorted."""
        prefix = f"{keys.tenant_prefix(tenant_id)}exports/"
        guids = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                try:
                    guids.append(parse_config_key(item["Key"])[1])
                except InvalidConfigKey:
                    continue  # not a definition (a stray object): config-sync ignores it too
        return sorted(guids)

    def exports(self) -> list[tuple[str, str]]:
        """Every (tenant, export guid) that has a definition (``tenants/*/exports/*.xml``), sorted."""
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="tenants/"):
            for item in page.get("Contents", []):
                with contextlib.suppress(InvalidConfigKey):  # tenant.json, or a stray object
                    found.append(parse_config_key(item["Key"]))
        return sorted(found)

    def older_versions(self, version: ConfigVersion, *, limit: int) -> list[ConfigVersion]:
        """Up to ``limit`` versions of the object stored before ``version``, newest first
        (none in an unversioned bucket)."""
        if not version.version_id or version.version_id == "null":
            return []
        found: list[ConfigVersion] = []
        seen = False
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=version.key)
        for page in pages:
            for item in page.get("Versions", []):  # newest first for each key
                if item.get("Key") != version.key:
                    continue
                if item.get("VersionId") == version.version_id:
                    seen = True
                elif seen:
                    found.append(ConfigVersion(version.key, item.get("VersionId"), item.get("ETag")))
                    if len(found) >= limit:
                        return found
        return found

    def _read_valid(self, pk: str, key: str) -> ConfigObject:
        pointer = self.versions.valid(pk) if self.versions is not None else None
        return self.read(key, pointer)

    def tenant_settings(self, tenant_id: str) -> TenantSettings:
        """The tenant's settings (last valid version); without ``tenant.json``, the defaults (UTC)."""
        key = keys.tenant_settings_key(tenant_id)
        try:
            found = self._read_valid(settings_pk(tenant_id), key)
        except ConfigNotFound:
            return TenantSettings()
        return parse_tenant_settings(found.data, key, self.limits)

    def export_count(self, tenant_id: str, *, stop_after: int) -> int:
        """How many definitions ``tenants/{tenantId}/exports/*.xml`` exist, counting no
        further than ``stop_after`` (a cap check needs no more)."""
        prefix = keys.tenant_prefix(tenant_id) + "exports/"
        count = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            count += sum(1 for item in page.get("Contents", []) if _CONFIG_KEY_RE.fullmatch(item["Key"]))
            if count >= stop_after:
                break
        return count

    def export_definition(self, tenant_id: str, export_guid: str) -> bytes:
        """The bytes of ``tenants/{tenantId}/exports/{exportGuid}.xml`` (last valid version);
        ConfigNotFound when absent."""
        return self.export_definition_object(tenant_id, export_guid).data

    def export_definition_object(self, tenant_id: str, export_guid: str) -> ConfigObject:
        """The definition's last valid version: its bytes and which S3 version they are."""
        key = keys.export_config_key(tenant_id, export_guid)
        return self._read_valid(keys.export_pk(tenant_id, export_guid), key)
