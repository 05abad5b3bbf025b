"""``GET``/``PUT /objects/{key}``: the embedded profile's object store behind signed URLs.

The services hand out URLs signed by :class:`~salesguard.objectstore.LocalObjectStore`
(an export's download, a photo's upload); the gateway serves them after
checking method, key, expiry and, for uploads, the signed Content-Type. The
URL is the credential, as with S3 presigned URLs: no bearer token is needed.
An object is never overwritten.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from salesguard.errors import Conflict, ErrorCode, InvalidInput, NotFound
from salesguard.objectstore import LOCAL_OBJECTS_ROUTE, LocalObjectStore, check_key
from salesguard_gateway.errors import error_response
from salesguard_gateway.http import BodyTooLarge, read_body


def object_routes(store: LocalObjectStore, max_object_bytes: int) -> list[Route]:
    async def serve(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            key = check_key(key)
        except InvalidInput as error:
            return error_response(400, error.message, ErrorCode.VALIDATION, field="key")
        content_type = request.headers.get("content-type", "") if request.method == "PUT" else ""
        if not _signature_valid(store, request, key, content_type):
            return error_response(
                403,
                "the URL's signature is invalid or has expired"
                + (" (or the Content-Type is not the one signed)" if content_type else ""),
                ErrorCode.FORBIDDEN,
            )
        if request.method == "PUT":
            return await _put(store, request, key, content_type, max_object_bytes)
        return await _get(store, key)

    path = f"{LOCAL_OBJECTS_ROUTE}/{{key:path}}"
    return [Route(path, serve, methods=["GET", "PUT"])]


def _signature_valid(
    store: LocalObjectStore, request: Request, key: str, content_type: str
) -> bool:
    signature = request.query_params.get("signature", "")
    try:
        expires_at = int(request.query_params.get("expires", ""))
    except ValueError:
        return False
    return bool(signature) and store.verify(
        request.method, key, expires_at, signature, content_type
    )


async def _get(store: LocalObjectStore, key: str) -> Response:
    info = await store.stat(key)
    if info is None:
        return error_response(404, f"object {key} not found", ErrorCode.NOT_FOUND)
    try:
        data = await store.get(key)
    except NotFound:
        return error_response(404, f"object {key} not found", ErrorCode.NOT_FOUND)
    return Response(
        data,
        media_type=info.content_type,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


async def _put(
    store: LocalObjectStore, request: Request, key: str, content_type: str, limit: int
) -> Response:
    if not content_type:
        return error_response(400, "a Content-Type is required", ErrorCode.VALIDATION)
    try:
        data = await read_body(request, limit)
    except BodyTooLarge:
        return error_response(
            413, f"the object is larger than {limit} bytes", "PAYLOAD_TOO_LARGE", limit=limit
        )
    try:
        await store.put(key, data, content_type)
    except Conflict:
        return error_response(
            409, f"object {key} already exists; objects are never replaced", ErrorCode.CONFLICT
        )
    return Response(status_code=200)
