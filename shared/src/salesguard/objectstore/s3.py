"""S3-compatible storage (MinIO, SeaweedFS) through the minio SDK.

Writes are one presigned PUT with ``If-None-Match: *`` (the SDK cannot send it), so
the server refuses a taken key atomically; where the bucket has object locking a write
may also keep the new version undeletable (COMPLIANCE mode) until a given time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta

from salesguard.errors import Conflict, NotFound
from salesguard.objectstore.base import (
    ObjectInfo,
    PresignedUpload,
    StoredObject,
    check_folder,
    check_key,
    check_signable,
    check_upload,
    upload_headers,
)
from salesguard.objectstore.sigv4 import presign_v4

log = logging.getLogger(__name__)

_MISSING = {"NoSuchKey", "NoSuchObject", "NotFound", "NoSuchVersion", "ResourceNotFound"}
# make_bucket of a bucket that is there (another process created it just now).
_BUCKET_EXISTS = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}
# Opener for the one request the minio SDK cannot make (a PUT with If-None-Match): like
# the SDK's own pool it ignores HTTP(S)_PROXY from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _version(value: str | None) -> str | None:
    # S3 names the version of an object written while versioning was off "null": it is
    # replaced by the next such write, so it identifies nothing.
    return None if not value or value == "null" else value


class S3ObjectStore:
    """S3-compatible storage (MinIO in production) through the minio SDK."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool,
        region: str,
    ) -> None:
        from minio import Minio

        self._client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region
        )
        self.bucket = bucket
        self._endpoint = endpoint
        self._secure = secure
        self._region = region
        self._access_key = access_key
        self._secret_key = secret_key
        # Whether the bucket has object locking; found out once, when first needed.
        self._object_lock: bool | None = None

    async def ensure_bucket(self) -> None:
        """Create the bucket with object locking (hence versioned) where the server can."""
        from minio.error import S3Error

        def _ensure() -> None:
            if self._client.bucket_exists(self.bucket):
                try:
                    status = self._client.get_bucket_versioning(self.bucket).status
                except S3Error as error:
                    status = f"versioning unknown: {error.code}"
                if status != "Enabled":
                    log.warning(
                        "bucket %s is not versioned (%s): a later write to a key cannot be "
                        "told from the evidence first stored there",
                        self.bucket,
                        status,
                    )
                self._object_lock = self._has_object_lock()
                return
            try:
                self._client.make_bucket(self.bucket, object_lock=True)
                self._object_lock = self._has_object_lock()
                return
            except S3Error as error:
                if error.code in _BUCKET_EXISTS:
                    return  # another process created it just now
                reason = f"{error.code}: {error.message}"
            log.warning(
                "the S3 server refused a bucket with object locking (%s); "
                "creating %s without it, objects are protected by If-None-Match only",
                reason,
                self.bucket,
            )
            try:
                self._client.make_bucket(self.bucket)
            except S3Error as error:
                if error.code not in _BUCKET_EXISTS:
                    raise
            self._object_lock = self._has_object_lock()

        await asyncio.to_thread(_ensure)

    def _has_object_lock(self) -> bool:
        """Whether the bucket has object locking (so a version can be retained)."""
        from minio.error import S3Error

        try:
            self._client.get_object_lock_config(self.bucket)
        except S3Error as error:
            log.warning(
                "bucket %s has no object locking (%s): objects to be retained are protected "
                "by If-None-Match only, and can be deleted",
                self.bucket,
                error.code,
            )
            return False
        return True

    async def _retention_headers(self, data: bytes, retain_until: datetime) -> dict[str, str]:
        """The headers of a write that object-locks the new version, where the bucket can."""
        if self._object_lock is None:
            self._object_lock = await asyncio.to_thread(self._has_object_lock)
        if not self._object_lock:
            return {}
        return {
            "x-amz-object-lock-mode": "COMPLIANCE",
            "x-amz-object-lock-retain-until-date": _iso_seconds(retain_until),
            # S3 requires the body's MD5 on a write with a retention period.
            "Content-MD5": base64.b64encode(
                hashlib.md5(data, usedforsecurity=False).digest()
            ).decode(),
        }

    def _presign(
        self,
        method: str,
        key: str,
        expires: timedelta,
        signed_headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> str:
        return presign_v4(
            method=method,
            endpoint=self._endpoint,
            secure=self._secure,
            path=f"/{self.bucket}/{check_key(key)}",
            region=self._region,
            access_key=self._access_key,
            secret_key=self._secret_key,
            expires=expires,
            signed_headers=signed_headers,
            query=query,
            now=now,
        )

    async def put(
        self, key: str, data: bytes, content_type: str, *, retain_until: datetime | None = None
    ) -> ObjectInfo:
        """One PUT with ``If-None-Match: *``: the server refuses a taken key atomically.

        With ``retain_until`` and a bucket with object locking, the same PUT locks the
        new version in COMPLIANCE mode: nobody deletes it or shortens that before then.
        """
        key = check_key(key)
        headers = upload_headers(content_type, len(data))
        if retain_until is not None:
            headers |= await self._retention_headers(data, retain_until)
        url = self._presign("PUT", key, timedelta(minutes=5), headers)

        def _send() -> tuple[str, str | None]:
            request = urllib.request.Request(url, data=data, method="PUT", headers=headers)  # noqa: S310 (our own endpoint)
            try:
                with _opener.open(request, timeout=60) as response:
                    return (
                        str(response.headers.get("ETag", "")).strip('"'),
                        response.headers.get("x-amz-version-id"),
                    )
            except urllib.error.HTTPError as error:
                body = error.read()[:500].decode("utf-8", "replace")
                if error.code == 412:
                    raise Conflict(f"object {key} already exists") from None
                raise RuntimeError(f"S3 PUT {key} failed: HTTP {error.code} {body}") from None

        etag, version = await asyncio.to_thread(_send)
        retained = (
            retain_until.replace(microsecond=0)
            if "x-amz-object-lock-mode" in headers and retain_until is not None
            else None
        )
        return ObjectInfo(key, len(data), content_type, etag, _version(version), retained)

    async def list_keys(
        self, folder: str, *, start_after: str | None = None, limit: int = 1000
    ) -> list[str]:
        folder = check_folder(folder)

        def _list() -> list[str]:
            keys: list[str] = []
            if limit <= 0:
                return keys
            # Pages are fetched as the loop goes: stopping early saves the later ones.
            for item in self._client.list_objects(
                self.bucket, prefix=folder, start_after=start_after
            ):
                if item.is_dir or item.object_name is None:
                    continue
                keys.append(item.object_name)
                if len(keys) >= limit:
                    break
            return keys

        return await asyncio.to_thread(_list)

    async def stat(self, key: str, version_id: str | None = None) -> ObjectInfo | None:
        from minio.error import S3Error

        key = check_key(key)
        try:
            result = await asyncio.to_thread(
                self._client.stat_object, self.bucket, key, version_id=version_id
            )
        except S3Error as error:
            if error.code in _MISSING:
                return None
            raise
        return ObjectInfo(
            key,
            int(result.size or 0),
            result.content_type or "",
            result.etag or "",
            _version(result.version_id),
        )

    async def get(self, key: str, version_id: str | None = None) -> bytes:
        from minio.error import S3Error

        key = check_key(key)

        def _read() -> bytes:
            response = self._client.get_object(self.bucket, key, version_id=version_id)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        try:
            return await asyncio.to_thread(_read)
        except S3Error as error:
            if error.code in _MISSING:
                raise NotFound(f"object {key} not found") from None
            raise

    async def read(self, key: str, max_bytes: int) -> StoredObject | None:
        from minio.error import S3Error

        key = check_key(key)

        def _read() -> StoredObject:
            # A ranged GET: the facts come in its headers, and an oversized object
            # costs one byte more than the limit, not its whole size.
            response = self._client.get_object(self.bucket, key, offset=0, length=max_bytes + 1)
            try:
                data = bytes(response.read())
                headers = response.headers
            finally:
                response.close()
                response.release_conn()
            total = headers.get("Content-Range", "").rpartition("/")[2]
            size = int(total) if total.isdigit() else len(data)
            info = ObjectInfo(
                key,
                size,
                headers.get("Content-Type", ""),
                headers.get("ETag", "").strip('"'),
                _version(headers.get("x-amz-version-id")),
            )
            return StoredObject(info, data[:max_bytes], truncated=size > max_bytes)

        try:
            return await asyncio.to_thread(_read)
        except S3Error as error:
            if error.code in _MISSING or error.code == "InvalidRange":
                return None
            raise

    async def stream(self, key: str, chunk_bytes: int) -> AsyncIterator[bytes]:
        from minio.error import S3Error

        key = check_key(key)
        try:
            response = await asyncio.to_thread(self._client.get_object, self.bucket, key)
        except S3Error as error:
            if error.code in _MISSING:
                raise NotFound(f"object {key} not found") from None
            raise
        try:
            chunks = response.stream(chunk_bytes)
            while chunk := await asyncio.to_thread(next, chunks, b""):
                yield bytes(chunk)
        finally:
            response.close()
            response.release_conn()

    async def download_url(
        self, key: str, expires: timedelta, version_id: str | None = None
    ) -> str:
        return self._presign(
            "GET",
            check_signable(key),
            expires,
            query={"versionId": version_id} if version_id else None,
        )

    async def upload_url(
        self, key: str, content_type: str, size_bytes: int, expires: timedelta
    ) -> PresignedUpload:
        check_upload(content_type, size_bytes, expires)
        headers = upload_headers(content_type, size_bytes)
        # SigV4 counts the lifetime from X-Amz-Date, a whole second.
        now = datetime.now(UTC).replace(microsecond=0)
        url = self._presign("PUT", key, expires, headers, now=now)
        return PresignedUpload(url, headers, now + timedelta(seconds=int(expires.total_seconds())))


def _iso_seconds(moment: datetime) -> str:
    """ISO 8601 in UTC to the second, as S3 headers take it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
