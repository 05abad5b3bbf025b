"""The object store: S3 through the minio SDK (full profile) or a local folder (embedded).

Both hand out URLs that are signed and expire, so a client cannot tell the
profiles apart: S3 presigns them itself; the local store signs URLs that the
gateway serves at ``/objects/{key}`` after checking the signature and expiry.
Objects are evidence and records: a write never replaces an existing object.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import quote, urlencode

from salesguard.errors import Conflict, InvalidInput, NotFound

LOCAL_OBJECTS_ROUTE = "/objects"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str


class ObjectStore(Protocol):
    async def ensure_bucket(self) -> None: ...

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        """Store a new object; Conflict when the key is taken."""
        ...

    async def stat(self, key: str) -> ObjectInfo | None: ...

    async def get(self, key: str) -> bytes: ...

    async def download_url(self, key: str, expires: timedelta) -> str: ...

    async def upload_url(self, key: str, content_type: str, expires: timedelta) -> str: ...


def check_key(key: str) -> str:
    """Keys are relative POSIX paths without '..', so a local folder is safe too."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or len(key) > 512:
        raise InvalidInput("key", "invalid object key")
    return str(path)


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

    async def ensure_bucket(self) -> None:
        def _ensure() -> None:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket)

        await asyncio.to_thread(_ensure)

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        key = check_key(key)
        if await self.stat(key) is not None:
            raise Conflict(f"object {key} already exists")
        await asyncio.to_thread(
            self._client.put_object,
            self.bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type=content_type,
        )
        return ObjectInfo(key, len(data), content_type)

    async def stat(self, key: str) -> ObjectInfo | None:
        from minio.error import S3Error

        try:
            result = await asyncio.to_thread(self._client.stat_object, self.bucket, check_key(key))
        except S3Error as error:
            if error.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                return None
            raise
        return ObjectInfo(key, int(result.size or 0), result.content_type or "")

    async def get(self, key: str) -> bytes:
        from minio.error import S3Error

        def _read() -> bytes:
            response = self._client.get_object(self.bucket, check_key(key))
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        try:
            return await asyncio.to_thread(_read)
        except S3Error as error:
            if error.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                raise NotFound(f"object {key} not found") from None
            raise

    async def download_url(self, key: str, expires: timedelta) -> str:
        return await asyncio.to_thread(
            self._client.presigned_get_object, self.bucket, check_key(key), expires=expires
        )

    async def upload_url(self, key: str, content_type: str, expires: timedelta) -> str:
        return await asyncio.to_thread(
            self._client.presigned_put_object, self.bucket, check_key(key), expires=expires
        )


class LocalObjectStore:
    """Objects in a folder, with URLs the gateway serves after checking signature and expiry."""

    def __init__(self, root: Path, public_url: str, signing_key: bytes) -> None:
        self.root = root
        self._public_url = public_url.rstrip("/")
        self._key = signing_key

    async def ensure_bucket(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # "x" refuses an existing file: an object is never overwritten.
            with path.open("xb") as handle:
                handle.write(data)
        except FileExistsError:
            raise Conflict(f"object {key} already exists") from None
        path.with_name(path.name + ".content-type").write_text(content_type)
        return ObjectInfo(key, len(data), content_type)

    async def stat(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            return None
        type_file = path.with_name(path.name + ".content-type")
        content_type = type_file.read_text() if type_file.exists() else "application/octet-stream"
        return ObjectInfo(key, path.stat().st_size, content_type)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise NotFound(f"object {key} not found")
        return path.read_bytes()

    def sign(self, method: str, key: str, expires_at: int, content_type: str = "") -> str:
        message = f"{method}\n{key}\n{expires_at}\n{content_type}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _url(self, method: str, key: str, expires: timedelta, content_type: str = "") -> str:
        expires_at = int(time.time() + expires.total_seconds())
        query = urlencode(
            {"expires": expires_at, "signature": self.sign(method, key, expires_at, content_type)}
        )
        return f"{self._public_url}{LOCAL_OBJECTS_ROUTE}/{quote(check_key(key))}?{query}"

    def verify(
        self, method: str, key: str, expires_at: int, signature: str, content_type: str = ""
    ) -> bool:
        if expires_at < time.time():
            return False
        expected = self.sign(method, key, expires_at, content_type)
        return hmac.compare_digest(expected, signature)

    async def download_url(self, key: str, expires: timedelta) -> str:
        return self._url("GET", key, expires)

    async def upload_url(self, key: str, content_type: str, expires: timedelta) -> str:
        return self._url("PUT", key, expires, content_type)


def local_signing_key(internal_secret: bytes) -> bytes:
    """A key for local object URLs, derived so it differs from the principal-signing key."""
    return hmac.new(internal_secret, b"salesguard-local-object-urls", hashlib.sha256).digest()


def object_store_from_settings(settings: object) -> ObjectStore:
    from salesguard.settings import Settings

    assert isinstance(settings, Settings)
    if settings.s3_endpoint:
        if settings.s3_access_key is None or settings.s3_secret_key is None:
            raise ValueError(
                "SALESGUARD_S3_ACCESS_KEY and SALESGUARD_S3_SECRET_KEY are required with S3"
            )
        return S3ObjectStore(
            settings.s3_endpoint,
            settings.s3_access_key.get_secret_value(),
            settings.s3_secret_key.get_secret_value(),
            settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
    return LocalObjectStore(
        settings.data_dir / "objects",
        settings.public_url,
        local_signing_key(settings.internal_secret.get_secret_value().encode()),
    )
