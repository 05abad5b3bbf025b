"""The object store: S3 through the minio SDK (full profile) or a local folder (embedded).

Both hand out URLs that are signed and expire, so a client cannot tell the
profiles apart. An upload URL (:meth:`ObjectStore.upload_url`) comes with the
headers the client must send, and the signature covers them::

    Content-Type: image/jpeg          the type the service allowed
    Content-Length: 183114            the exact size the client announced
    If-None-Match: *                  only if no object has that key yet

so the store itself refuses another type, another size or a second upload to
the key, before any byte is kept. S3 checks them through a SigV4 presigned
URL (:func:`presign_v4`; the minio SDK's ``presigned_put_object`` signs only
``host``); the local store signs the same facts into URLs that the gateway
serves at ``/objects/{key}`` after checking them.

Objects are evidence and records: a write never replaces an existing object.
Where the S3 server supports it the bucket has object locking, which makes it
versioned: :meth:`ObjectStore.stat` reports the version a reader saw, and
``get``/``download_url`` of that version return those bytes whatever is
written to the key later. A check-in records the version it verified.

Exports (``ONE_TIME_PREFIXES``) are the exception to signed GET URLs: they leave
only through a one-time download (:mod:`salesguard.downloads`), so neither store
signs a GET URL for them and the gateway's ``/objects`` route refuses them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from salesguard.errors import Conflict, Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)

LOCAL_OBJECTS_ROUTE = "/objects"

# S3 caps presigned URLs at 7 days; the local store follows the same rule.
MAX_URL_LIFETIME = timedelta(days=7)

# Keys of objects handed out once, through salesguard.downloads, never by a signed URL:
# customer exports (C9) and payroll exports.
ONE_TIME_PREFIXES = ("exports/", "commissions/exports/")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str
    # Opaque; S3 gives the MD5 (hex) of a single-part upload, and so does the local store.
    etag: str = ""
    # The version this information describes; None when the store keeps no versions.
    version_id: str | None = None


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

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        """Store a new object; Conflict when the key is taken."""
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
        or path.name.endswith(_RESERVED_SUFFIXES)
    ):
        raise InvalidInput("key", "invalid object key")
    return str(path)


def is_one_time(key: str) -> bool:
    """Whether the object leaves only through a one-time download (an export)."""
    return key.startswith(ONE_TIME_PREFIXES)


def _check_signable(key: str) -> str:
    key = check_key(key)
    if is_one_time(key):
        raise Forbidden(f"object {key} is downloaded once, through /downloads, never by a URL")
    return key


def upload_headers(content_type: str, size_bytes: int) -> dict[str, str]:
    """The headers an upload must carry; both stores sign exactly these."""
    return {
        "Content-Type": content_type,
        "Content-Length": str(size_bytes),
        "If-None-Match": "*",
    }


def _check_upload(content_type: str, size_bytes: int, expires: timedelta) -> None:
    if not content_type or any(c in content_type for c in "\r\n"):
        raise InvalidInput("content_type", "a content type is required")
    if size_bytes < 0:
        raise InvalidInput("size_bytes", "the size cannot be negative")
    _check_lifetime(expires)


def _check_lifetime(expires: timedelta) -> None:
    if expires > MAX_URL_LIFETIME:
        raise ValueError(f"a signed URL lives at most {MAX_URL_LIFETIME}")


# --- AWS Signature Version 4, query-string form ---------------------------------------------

_UNRESERVED = "-_.~"  # with letters and digits: what SigV4 leaves unencoded


def _uri_encode(value: str, *, keep_slash: bool = False) -> str:
    return quote(value, safe=_UNRESERVED + ("/" if keep_slash else ""))


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def presign_v4(
    *,
    method: str,
    endpoint: str,
    secure: bool,
    path: str,
    region: str,
    access_key: str,
    secret_key: str,
    expires: timedelta,
    signed_headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """A presigned S3 URL (AWS SigV4, query-string authentication, ``UNSIGNED-PAYLOAD``).

    ``endpoint`` is ``host[:port]`` as the minio SDK takes it and ``path`` the
    unencoded ``/bucket/key`` (path-style addressing, which MinIO and SeaweedFS
    serve). ``signed_headers`` are headers the request must carry with exactly
    these values: their names go into ``X-Amz-SignedHeaders`` (with ``host``)
    and their values into the signature, so the server rejects a request that
    sends other values, or leaves one out, with 403 ``SignatureDoesNotMatch``.

    The algorithm (docs.aws.amazon.com, "Authenticating Requests: Using Query
    Parameters"): a canonical request ``METHOD\\nURI\\nQUERY\\nHEADERS\\n\\n
    SIGNED-HEADER-NAMES\\nUNSIGNED-PAYLOAD`` is hashed into a string to sign,
    which is HMAC-ed with a key derived from the secret, the date, the region
    and the service ``s3``.
    """
    seconds = int(expires.total_seconds())
    if not 1 <= seconds <= int(MAX_URL_LIFETIME.total_seconds()):
        raise ValueError("a presigned URL expires after 1 second to 7 days")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    scope = f"{day}/{region}/s3/aws4_request"

    # A client leaves the default port out of Host; so must the signature.
    host = endpoint
    default_port = ":443" if secure else ":80"
    if host.endswith(default_port):
        host = host.removesuffix(default_port)
    headers = {"host": host}
    for name, value in (signed_headers or {}).items():
        headers[name.strip().lower()] = re.sub(r"\s+", " ", str(value).strip())
    names = ";".join(sorted(headers))

    params = dict(query or {})
    params.update(
        {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{access_key}/{scope}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(seconds),
            "X-Amz-SignedHeaders": names,
        }
    )
    canonical_query = "&".join(
        f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(params.items())
    )
    canonical_uri = _uri_encode(path, keep_slash=True)
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
    canonical_request = "\n".join(
        [method, canonical_uri, canonical_query, canonical_headers, names, "UNSIGNED-PAYLOAD"]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signing_key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), "s3"), "aws4_request"
    )
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    scheme = "https" if secure else "http"
    return f"{scheme}://{host}{canonical_uri}?{canonical_query}&X-Amz-Signature={signature}"


# --- S3 ---------------------------------------------------------------------------------------

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
                return
            try:
                self._client.make_bucket(self.bucket, object_lock=True)
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

        await asyncio.to_thread(_ensure)

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

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
        """One PUT with ``If-None-Match: *``: the server refuses a taken key atomically."""
        key = check_key(key)
        headers = upload_headers(content_type, len(data))
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
        return ObjectInfo(key, len(data), content_type, etag, _version(version))

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
            _check_signable(key),
            expires,
            query={"versionId": version_id} if version_id else None,
        )

    async def upload_url(
        self, key: str, content_type: str, size_bytes: int, expires: timedelta
    ) -> PresignedUpload:
        _check_upload(content_type, size_bytes, expires)
        headers = upload_headers(content_type, size_bytes)
        # SigV4 counts the lifetime from X-Amz-Date, a whole second.
        now = datetime.now(UTC).replace(microsecond=0)
        url = self._presign("PUT", key, expires, headers, now=now)
        return PresignedUpload(url, headers, now + timedelta(seconds=int(expires.total_seconds())))


# --- A local folder -------------------------------------------------------------------------

# Each object has a sidecar with its content type and etag; a key may not end like one.
_META_SUFFIX = ".meta.json"
_LEGACY_TYPE_SUFFIX = ".content-type"
_RESERVED_SUFFIXES = (_META_SUFFIX, _LEGACY_TYPE_SUFFIX)


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

    async def put(self, key: str, data: bytes, content_type: str) -> ObjectInfo:
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
        _check_lifetime(expires)
        if version_id is not None:
            raise NotFound(f"object {key} has no version {version_id}; the folder keeps one")
        key = _check_signable(key)
        expires_at = int(time.time() + expires.total_seconds())
        return self._url(key, expires_at, self.sign("GET", key, expires_at))

    async def upload_url(
        self, key: str, content_type: str, size_bytes: int, expires: timedelta
    ) -> PresignedUpload:
        _check_upload(content_type, size_bytes, expires)
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
    os.replace(temporary, path.with_name(path.name + _META_SUFFIX))


def _read_meta(path: Path) -> tuple[str, str]:
    """Content type and etag; an object whose sidecar is not written yet is untyped."""
    meta = path.with_name(path.name + _META_SUFFIX)
    if meta.is_file():
        values: dict[str, Any] = json.loads(meta.read_text())
        return str(values.get("content_type", "")), str(values.get("etag", ""))
    legacy = path.with_name(path.name + _LEGACY_TYPE_SUFFIX)
    if legacy.is_file():
        return legacy.read_text(), ""
    return "application/octet-stream", ""


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
