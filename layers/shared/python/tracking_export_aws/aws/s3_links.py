"""Download links to export files: presigned ``GET`` URLs that never outlive their credentials.

A link is signed with SigV4 on the bucket's regional endpoint (``clients.s3_presigner``) and is
valid ``seconds`` at most. A URL signed with temporary credentials dies with them, whatever its
``X-Amz-Expires`` says, so a link is never given a longer life than the signing credentials
have left when botocore knows it (less a minute of margin). Lambda's environment credentials
do not tell their expiry: the configured life then stands (docs/run-lifecycle.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # boto3-stubs, a dev dependency (not in the layers)
    from mypy_boto3_s3 import S3Client

# Default life of a link (template parameter DownloadLinkSeconds).
DOWNLOAD_LINK_SECONDS = 3600
LINK_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class DownloadLink:
    """A presigned link and when it ends; ``url`` None (with ``omitted``, the reason) when no
    link could be given."""

    url: str | None
    expires_in_seconds: int | None = None
    expires_at: datetime | None = None
    omitted: str | None = None


@dataclass(frozen=True)
class DownloadLinks:
    """Signs links to objects of ``bucket`` with ``presigner`` (an S3 client), ``seconds`` long at most."""

    presigner: S3Client
    bucket: str
    seconds: int = DOWNLOAD_LINK_SECONDS

    def link(self, key: str, now: datetime) -> DownloadLink:
        """A link to ``key`` signed at ``now``."""
        seconds = self.seconds
        expiry = credentials_expiry(self.presigner)
        if expiry is not None:
            seconds = max(0, min(seconds, int((expiry - now).total_seconds()) - LINK_MARGIN_SECONDS))
        if seconds <= 0:
            return DownloadLink(None, omitted="the signing credentials expire too soon")
        url = self.presigner.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
        )
        return DownloadLink(str(url), seconds, now + timedelta(seconds=seconds))


def credentials_expiry(client: S3Client) -> datetime | None:
    """When the credentials a client signs with expire; None when they do not say (long-term keys,
    or Lambda's environment credentials, whose expiry botocore is not told)."""
    signer = getattr(client, "_request_signer", None)
    credentials = getattr(signer, "_credentials", None)
    expiry = getattr(credentials, "_expiry_time", None)
    return expiry if isinstance(expiry, datetime) and expiry.tzinfo is not None else None
