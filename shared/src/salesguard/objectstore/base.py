"""What both object stores share: the objects' facts, the store protocol, key rules.

Keys are relative POSIX paths (:func:`check_key`); the keys of exports
(:data:`ONE_TIME_PREFIXES`) leave only through a one-time download, never by a signed
URL (:func:`check_signable`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Protocol

from salesguard.errors import Forbidden, InvalidInput

LOCAL_OBJECTS_ROUTE = "/objects"

# S3 caps presigned URLs at 7 days; the local store follows the same rule.
MAX_URL_LIFETIME = timedelta(days=7)

# Keys of objects handed out once, through salesguard.downloads, never by a signed URL:
# customer exports and payroll exports.
ONE_TIME_PREFIXES = ("exports/", "commissions/exports/")

# Each local object has a sidecar with its content type and etag; a key may not end like one.
META_SUFFIX = ".meta.json"
LEGACY_TYPE_SUFFIX = ".content-type"
RESERVED_SUFFIXES = (META_SUFFIX, LEGACY_TYPE_SUFFIX)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    # Opaque; S3 gives the MD5 (hex) of a single-part upload, and so does the local store.
    etag: str = ""
    # The version this information describes; None when the store keeps no versions.
    version_id: str | None = None
    # Until when the store refuses to delete this version; None when nothing holds it.
    retained_until: datetime | None = None


@dataclass(frozen=True)
class StoredObject:
    info: ObjectInfo
    data: bytes
    truncated: bool


@dataclass(frozen=True)
class PresignedUpload:
    """Where and how a client uploads one object: ``PUT url`` with exactly ``headers``."""

    url: str
    headers: dict[str, str]
    expires_at: datetime


class ObjectStore(Protocol):
    async def ensure_bucket(self) -> None: ...

    async def put(
        self, key: str, data: bytes, content_type: str, *, retain_until: datetime | None = None
    ) -> ObjectInfo:
        """Store a new object; Conflict when the key is taken.

        ``retain_until``: keep it undeletable until then where the store can (the
        returned ``retained_until`` says whether it did).
        """
        ...

    async def list_keys(
        self, folder: str, *, start_after: str | None = None, limit: int = 1000
    ) -> list[str]:
        """Keys of the objects directly in ``folder`` (``"name/"``), in key order, after
        ``start_after`` when given, at most ``limit``."""
        ...

    async def stat(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        """The object (the latest version, or the one named), or None when there is none."""
        ...

    async def get(self, key: str, version_id: str | None = None) -> bytes:
        """The object's bytes (the latest version, or the one named); NotFound otherwise."""
        ...

    async def read(self, key: str, max_bytes: int) -> StoredObject | None:
        """The latest version's facts and at most ``max_bytes + 1`` of its bytes, in one request.

        None when there is no such object; ``truncated`` when it is larger than
        ``max_bytes`` (so a caller refuses it without downloading it whole).
        """
        ...

    def stream(self, key: str, chunk_bytes: int) -> AsyncIterator[bytes]:
        """The object's bytes in chunks of at most ``chunk_bytes``; NotFound when missing."""
        ...

    async def download_url(
        self, key: str, expires: timedelta, version_id: str | None = None
    ) -> str:
        """A signed GET URL of the object (of that version, when one is named).

        Forbidden for the keys of :data:`ONE_TIME_PREFIXES`.
        """
        ...

    async def upload_url(
        self, key: str, content_type: str, size_bytes: int, expires: timedelta
    ) -> PresignedUpload:
        """A signed PUT URL for exactly that content type and size, onto a key not yet taken."""
        ...


def check_key(key: str) -> str:
    """Keys are relative POSIX paths without '..', so a local folder is safe too."""
    path = PurePosixPath(key)
    if (
        not key
        or path.is_absolute()
        or ".." in path.parts
        or len(key) > 512
        or path.name.endswith(RESERVED_SUFFIXES)
    ):
        raise InvalidInput("key", "invalid object key")
    return str(path)


def is_one_time(key: str) -> bool:
    """Whether the object leaves only through a one-time download (an export)."""
    return key.startswith(ONE_TIME_PREFIXES)


def check_signable(key: str) -> str:
    key = check_key(key)
    if is_one_time(key):
        raise Forbidden(f"object {key} is downloaded once, through /downloads, never by a URL")
    return key


def check_folder(folder: str) -> str:
    """A folder is a key prefix ending in '/': keys directly under it are listed."""
    if not folder.endswith("/"):
        raise InvalidInput("folder", "a folder ends with '/'")
    return check_key(folder.removesuffix("/")) + "/"


def upload_headers(content_type: str, size_bytes: int) -> dict[str, str]:
    """The headers an upload must carry; both stores sign exactly these."""
    return {
        "Content-Type": content_type,
        "Content-Length": str(size_bytes),
        "If-None-Match": "*",
    }


def check_upload(content_type: str, size_bytes: int, expires: timedelta) -> None:
    if not content_type or any(c in content_type for c in "\r\n"):
        raise InvalidInput("content_type", "a content type is required")
    if size_bytes < 0:
        raise InvalidInput("size_bytes", "the size cannot be negative")
    check_lifetime(expires)


def check_lifetime(expires: timedelta) -> None:
    if expires > MAX_URL_LIFETIME:
        raise ValueError(f"a signed URL lives at most {MAX_URL_LIFETIME}")
