"""``GET /downloads/{service}/{token}``: an export's one-time download, relayed.

The URL alone is not enough: the request must carry the bearer token of the employee
who ran the export (a leaked URL is useless to anyone else). The gateway
authenticates the caller as for GraphQL, then asks the service that issued the token
(``DownloadsService.Download``, acting as the caller) to hand the file out; the
service checks and uses the token up, audits, and streams the bytes, which the
gateway relays with the file's type and name, ``Cache-Control: no-store`` and its
SHA-256 (``Repr-Digest``). The gateway holds no object-store credentials; the
object is never reachable by a URL of its own. Refusals are typed JSON errors:

- 401 ``UNAUTHENTICATED``: no or a bad bearer token;
- 403 ``FORBIDDEN``: another employee's download (or one the caller may no longer
  make); the URL stays usable by its owner;
- 404 ``NOT_FOUND``: no download has this URL (a mistyped or tampered token);
- 410 ``GONE``: downloaded already, or expired (``extensions.reason`` says which).

Every refusal the service sees is audited, naming who tried (salesguard.downloads).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from salesguard.downloads import DOWNLOAD_SOURCES, DOWNLOADS_ROUTE, TOKEN_PATTERN
from salesguard.errors import ErrorCode, ServiceError
from salesguard.principal import acting_as
from salesguard_api.common.v1 import downloads_pb2, downloads_pb2_grpc
from salesguard_gateway.auth import Authenticator, AuthError
from salesguard_gateway.errors import camel, error_response

log = logging.getLogger(__name__)

_HTTP_STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.GONE: 410,
    ErrorCode.VALIDATION: 400,
    ErrorCode.POLICY_UNAVAILABLE: 503,
    ErrorCode.UNAVAILABLE: 503,
}
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def _refused(error: ServiceError) -> Response:
    # Anything but a refusal is the service's fault, not the caller's: 502, never 500.
    status = _HTTP_STATUS.get(error.code, 502)
    extensions: dict[str, Any] = {camel(key): value for key, value in error.details.items()}
    return error_response(status, error.message, error.code, **extensions)


def _headers(header: downloads_pb2.DownloadHeader) -> dict[str, str]:
    filename = _UNSAFE_FILENAME.sub("_", header.filename) or "download"
    digest = base64.b64encode(bytes.fromhex(header.sha256)).decode()
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Content-Length": str(header.size_bytes),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Repr-Digest": f"sha-256=:{digest}:",
        "X-Row-Count": str(header.row_count),
    }


def download_routes(
    authenticator: Authenticator,
    stubs: Callable[[], Mapping[str, downloads_pb2_grpc.DownloadsServiceAsyncStub]],
    unauthorized: Callable[[AuthError], Response],
) -> list[Route]:
    async def serve(request: Request) -> Response:
        if request.method != "GET":
            # Starlette answers HEAD on a GET route; here it would use the download up.
            return error_response(
                405,
                "a download is fetched with GET, once",
                ErrorCode.VALIDATION,
                headers={"Allow": "GET"},
            )
        try:
            caller = await authenticator.authenticate(request.headers.get("authorization"))
        except AuthError as error:
            return unauthorized(error)
        source = request.path_params["source"]
        token = request.path_params["token"]
        if source not in DOWNLOAD_SOURCES or not TOKEN_PATTERN.fullmatch(token):
            return error_response(404, "no download has this URL", ErrorCode.NOT_FOUND)
        with acting_as(caller.principal):
            call = stubs()[source].Download(downloads_pb2.DownloadRequest(token=token))
        responses = aiter(call)
        try:
            first = await anext(responses)
        except ServiceError as error:
            return _refused(error)
        except StopAsyncIteration:
            first = downloads_pb2.DownloadResponse()
        if not first.HasField("header"):
            log.error("a download of %s began without its header", source)
            return error_response(502, "the download could not be served", ErrorCode.INTERNAL)

        async def body() -> AsyncIterator[bytes]:
            try:
                async for response in responses:
                    yield response.chunk
            except ServiceError as error:
                # Headers are sent: breaking the connection short of Content-Length is the
                # only way left to tell the client the file is not whole.
                log.error("the download from %s broke off: %r", source, error)
                raise
            finally:
                call.cancel()  # a client that went away stops the service's stream too

        return StreamingResponse(
            body(), media_type=first.header.content_type, headers=_headers(first.header)
        )

    return [Route(f"{DOWNLOADS_ROUTE}/{{source}}/{{token}}", serve, methods=["GET"])]
