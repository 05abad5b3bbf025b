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
written to the key later. A check-in records the version it verified. A write may
also ask the store to keep the object undeletable for a while (``retain_until``: S3
object lock in COMPLIANCE mode, which not even the bucket's owner can lift), where
the bucket has object locking.

Exports (``ONE_TIME_PREFIXES``) are the exception to signed GET URLs: they leave
only through a one-time download (:mod:`salesguard.downloads`), so neither store
signs a GET URL for them and the gateway's ``/objects`` route refuses them.
"""

from __future__ import annotations

from salesguard.objectstore.base import (
    LOCAL_OBJECTS_ROUTE,
    MAX_URL_LIFETIME,
    ONE_TIME_PREFIXES,
    ObjectInfo,
    ObjectStore,
    PresignedUpload,
    StoredObject,
    check_folder,
    check_key,
    is_one_time,
    upload_headers,
)
from salesguard.objectstore.local import LocalObjectStore, local_signing_key
from salesguard.objectstore.s3 import S3ObjectStore
from salesguard.objectstore.sigv4 import presign_v4

__all__ = [
    "LOCAL_OBJECTS_ROUTE",
    "MAX_URL_LIFETIME",
    "ONE_TIME_PREFIXES",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "PresignedUpload",
    "S3ObjectStore",
    "StoredObject",
    "check_folder",
    "check_key",
    "is_one_time",
    "local_signing_key",
    "object_store_from_settings",
    "presign_v4",
    "upload_headers",
]


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
