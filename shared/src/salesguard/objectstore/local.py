"""Objects in a local folder (the embedded profile), with URLs the gateway serves."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from salesguard.errors import Conflict, NotFound
from salesguard.objectstore.base import (
    LEGACY_TYPE_SUFFIX,
    LOCAL_OBJECTS_ROUTE,
    META_SUFFIX,
    RESERVED_SUFFIXES,
    ObjectInfo,
    PresignedUpload,
    StoredObject,
    check_folder,
    check_key,
    check_lifetime,
    check_signable,
    check_upload,
    upload_headers,
)


class LocalObjectStore:
    """Objects in a folder, with URLs the gateway serves after checking signature and expiry.

    The folder keeps one version of each key: a key once written is never
    written again (``version_id`` is always None). An upload URL signs the
    method, key, expiry, Content-Type, Content-Length and ``If-None-Match: *``,
    as the S3 store's does; the gateway compares them with the request's
    headers (:meth:`verify`).
    """

    def __init__(self, root: Path, public_url: str, signing_key: bytes) -> None:
        self.root = root
        self._public_url = public_url.rstrip("/")
        self._key = signing_key

    async def ensure_bucket(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(
        self, key: str, data: bytes, content_type: str, *, retain_until: datetime | None = None
    ) -> ObjectInfo:
        # A folder cannot lock a file against its owner: retain_until is not applied (the
        # object is still never overwritten through this store).
        path = self._path(key)
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()

        def _write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside, then linked into place: link() refuses an existing name, so an
            # object is never overwritten and a reader never sees a partial one. Only the
            # writer whose link won writes the sidecar.
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                os.link(temporary, path)
            except FileExistsError:
                raise Conflict(f"object {key} already exists") from None
            finally:
                os.unlink(temporary)
            _write_meta(path, content_type, etag)

        await asyncio.to_thread(_write)
        return ObjectInfo(check_key(key), len(data), content_type, etag)

    async def list_keys(
        self, folder: str, *, start_after: str | None = None, limit: int = 1000
    ) -> list[str]:
        folder = check_folder(folder)
        directory = self.root / folder

        def _list() -> list[str]:
            if not directory.is_dir():
                return []
            keys = sorted(
                folder + entry.name
                for entry in directory.iterdir()
                # Not the sidecars, nor an upload still being written aside.
                if entry.is_file()
                and not entry.name.startswith(".")
                and not entry.name.endswith(RESERVED_SUFFIXES)
            )
            return [key for key in keys if start_after is None or key > start_after][:limit]

        return await asyncio.to_thread(_list)

    async def stat(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        path = self._path(key)
        if version_id is not None or not path.is_file():
            return None
        content_type, etag = _read_meta(path)
        return ObjectInfo(check_key(key), path.stat().st_size, content_type, etag)

    async def get(self, key: str, version_id: str | None = None) -> bytes:
        path = self._path(key)
        if version_id is not None or not path.is_file():
            raise NotFound(f"object {key} not found")
        return path.read_bytes()

    async def read(self, key: str, max_bytes: int) -> StoredObject | None:
        info = await self.stat(key)
        if info is None:
            return None
        with self._path(key).open("rb") as handle:
            data = handle.read(max_bytes)
        return StoredObject(info, data, truncated=info.size > max_bytes)

    async def stream(self, key: str, chunk_bytes: int) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"object {key} not found") from None
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_bytes):
                yield chunk
        finally:
            handle.close()

    def sign(
        self,
        method: str,
        key: str,
        expires_at: int,
        content_type: str = "",
        size_bytes: int | None = None,
        if_none_match: str = "",
    ) -> str:
        """HMAC of everything the request must match; the upload facts are empty for a GET."""
        size = "" if size_bytes is None else str(size_bytes)
        message = f"{method}\n{key}\n{expires_at}\n{content_type}\n{size}\n{if_none_match}"
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def verify(
        self,
        method: str,
        key: str,
        expires_at: int,
        signature: str,
        content_type: str = "",
        size_bytes: int | None = None,
        if_none_match: str = "",
    ) -> bool:
        if expires_at < time.time():
            return False
        expected = self.sign(method, key, expires_at, content_type, size_bytes, if_none_match)
        return hmac.compare_digest(expected, signature)

    def _url(self, key: str, expires_at: int, signature: str) -> str:
        query = urlencode({"expires": expires_at, "signature": signature})
        return f"{self._public_url}{LOCAL_OBJECTS_ROUTE}/{quote(check_key(key))}?{query}"

    async def download_url(
        self, key: str, expires: timedelta, version_id: str | None = None
    ) -> str:
        check_lifetime(expires)
        if version_id is not None:
            raise NotFound(f"object {key} has no version {version_id}; the folder keeps one")
        key = check_signable(key)
        expires_at = int(time.time() + expires.total_seconds())
        return self._url(key, expires_at, self.sign("GET", key, expires_at))

    async def upload_url(
        self, key: str, content_type: str, size_bytes: int, expires: timedelta
    ) -> PresignedUpload:
        check_upload(content_type, size_bytes, expires)
        key = check_key(key)
        headers = upload_headers(content_type, size_bytes)
        expires_at = int(time.time() + expires.total_seconds())
        signature = self.sign("PUT", key, expires_at, content_type, size_bytes, "*")
        return PresignedUpload(
            self._url(key, expires_at, signature),
            headers,
            datetime.fromtimestamp(expires_at, UTC),
        )


def _write_meta(path: Path, content_type: str, etag: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".meta-")
    with os.fdopen(handle, "w") as file:
        json.dump({"content_type": content_type, "etag": etag}, file)
    os.replace(temporary, path.with_name(path.name + META_SUFFIX))


def _read_meta(path: Path) -> tuple[str, str]:
    """Content type and etag; an object whose sidecar is not written yet is untyped."""
    meta = path.with_name(path.name + META_SUFFIX)
    if meta.is_file():
        values: dict[str, Any] = json.loads(meta.read_text())
        return str(values.get("content_type", "")), str(values.get("etag", ""))
    legacy = path.with_name(path.name + LEGACY_TYPE_SUFFIX)
    if legacy.is_file():
        return legacy.read_text(), ""
    return "application/octet-stream", ""


def local_signing_key(internal_secret: bytes) -> bytes:
    """A key for local object URLs, derived so it differs from the principal-signing key."""
    return hmac.new(internal_secret, b"salesguard-local-object-urls", hashlib.sha256).digest()
