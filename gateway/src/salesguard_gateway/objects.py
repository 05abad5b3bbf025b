"""``GET``/``PUT /objects/{key}``: the embedded profile's object store behind signed URLs.

The services hand out URLs signed by :class:`~salesguard.objectstore.LocalObjectStore`
(an export's download, a photo's upload); the gateway serves them after
checking what the signature covers, as an S3 server checks a presigned URL:

- every URL: method, key and expiry;
- an upload: the request's ``Content-Type``, ``Content-Length`` and
  ``If-None-Match: *``, exactly as signed. Another type, another size or a
  missing header is a bad signature (403 ``FORBIDDEN``); a body that is not as
  long as its ``Content-Length`` is 400 ``VALIDATION``; more than
  ``max_object_bytes`` is 413 ``PAYLOAD_TOO_LARGE``, refused before a byte is
  read; a key already written is 412 (code ``CONFLICT``), the answer S3 gives
  to ``If-None-Match: *`` — objects are never replaced.

The URL is the credential, as with S3 presigned URLs: no bearer token is needed.
Exports are the exception: they leave once, through ``/downloads`` (downloads.py),
so a URL here for an export's key (:func:`~salesguard.objectstore.is_one_time`),
even one signed before that rule, is refused (403 ``FORBIDDEN``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from salesguard.errors import Conflict, ErrorCode, InvalidInput, NotFound
from salesguard.objectstore import LOCAL_OBJECTS_ROUTE, LocalObjectStore, check_key, is_one_time
from salesguard_gateway.errors import error_response
from salesguard_gateway.http import BodyTooLarge, declared_length, read_body

_BAD_SIGNATURE = "the URL's signature is invalid or has expired"
_BAD_UPLOAD_SIGNATURE = (
    _BAD_SIGNATURE + ", or the request's Content-Type, Content-Length or If-None-Match "
    "is not the one signed"
)


def object_routes(store: LocalObjectStore, max_object_bytes: int) -> list[Route]:
    async def serve(request: Request) -> Response:
        try:
            key = check_key(request.path_params["key"])
        except InvalidInput as error:
            return error_response(400, error.message, ErrorCode.VALIDATION, field="key")
        if is_one_time(key):
            return error_response(
                403, "an export is downloaded once, through its downloadUrl", ErrorCode.FORBIDDEN
            )
        signature = request.query_params.get("signature", "")
        try:
            expires_at = int(request.query_params.get("expires", ""))
        except ValueError:
            expires_at = 0
        if request.method == "PUT":
            size = declared_length(request)
            content_type = request.headers.get("content-type", "")
            signed = bool(signature) and store.verify(
                "PUT",
                key,
                expires_at,
                signature,
                content_type,
                size,
                request.headers.get("if-none-match", ""),
            )
            if not signed or size is None:
                return error_response(403, _BAD_UPLOAD_SIGNATURE, ErrorCode.FORBIDDEN)
            return await _put(store, request, key, content_type, size, max_object_bytes)
        if not (signature and store.verify("GET", key, expires_at, signature)):
            return error_response(403, _BAD_SIGNATURE, ErrorCode.FORBIDDEN)
        return await _get(store, key)

    path = f"{LOCAL_OBJECTS_ROUTE}/{{key:path}}"
    return [Route(path, serve, methods=["GET", "PUT"])]


async def _get(store: LocalObjectStore, key: str) -> Response:
    info = await store.stat(key)
    if info is None:
        return error_response(404, f"object {key} not found", ErrorCode.NOT_FOUND)
    try:
        data = await store.get(key)
    except NotFound:
        return error_response(404, f"object {key} not found", ErrorCode.NOT_FOUND)
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if info.etag:
        headers["ETag"] = f'"{info.etag}"'
    return Response(data, media_type=info.content_type, headers=headers)


def _taken(key: str) -> Response:
    return error_response(
        412, f"object {key} already exists; objects are never replaced", ErrorCode.CONFLICT
    )


async def _put(
    store: LocalObjectStore, request: Request, key: str, content_type: str, size: int, limit: int
) -> Response:
    if size > limit:
        return error_response(
            413, f"the object is larger than {limit} bytes", "PAYLOAD_TOO_LARGE", limit=limit
        )
    # Refused before the body is read; put() refuses it again should two uploads race.
    if await store.stat(key) is not None:
        return _taken(key)
    try:
        data = await read_body(request, size)  # size <= limit, checked above
    except BodyTooLarge:
        return error_response(
            400,
            f"the body is longer than its Content-Length ({size} bytes)",
            ErrorCode.VALIDATION,
        )
    if len(data) != size:
        return error_response(
            400,
            f"the body is {len(data)} bytes, its Content-Length {size}",
            ErrorCode.VALIDATION,
        )
    try:
        await store.put(key, data, content_type)
    except Conflict:
        return _taken(key)
    return Response(status_code=200)
