"""The gateway process: strawberry's ASGI GraphQL on starlette, served by uvicorn.

A GraphQL request is refused before execution when its body is too large
(413) or its bearer token does not name an active employee (401/403, with a
GraphQL-shaped JSON body and ``WWW-Authenticate``). Otherwise it runs acting
as the caller's principal, which every gRPC call then carries, signed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import orjson
import uvicorn
from cross_web import AsyncHTTPRequestAdapter, HTTPException, StarletteRequestAdapter
from graphql import GraphQLError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from salesguard import eventloop
from salesguard.errors import ErrorCode
from salesguard.grpc_client import ServiceChannels
from salesguard.logs import setup_logging
from salesguard.objectstore import LocalObjectStore, object_store_from_settings
from salesguard.principal import acting_as
from salesguard.service import HEALTHCHECK_SECONDS
from salesguard.settings import SettingsError, load
from salesguard.telemetry import setup_telemetry, spans_exported, start_metrics_server
from salesguard.tokens import TokenVerifier
from salesguard.translations import negotiate_language
from salesguard_gateway.auth import Authenticator, AuthError
from salesguard_gateway.backends import Backends, Readiness, healthz, metrics
from salesguard_gateway.clients import RpcCalls, counting_rpc_calls
from salesguard_gateway.console import console_routes
from salesguard_gateway.context import GatewayContext, Loaders
from salesguard_gateway.downloads import download_routes
from salesguard_gateway.errors import error_response, typed_error
from salesguard_gateway.graphiql import GraphiQLPage, asset_routes
from salesguard_gateway.http import (
    GRAPHQL_RESPONSE_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    URL_PARAMETERS,
    BodyTooLarge,
    MalformedRequest,
    declared_length,
    graphql_query_parameters,
    graphql_request,
    read_body,
    replaying,
    response_media_type,
)
from salesguard_gateway.objects import object_routes
from salesguard_gateway.observability import (
    AccessLog,
    ObservedOperation,
    OperationNames,
    ServerSpans,
    note_error_codes,
)
from salesguard_gateway.persisted import (
    OperationRefused,
    PersistedOperations,
    registered_operations,
)
from salesguard_gateway.schema import GatewaySchema, SchemaLimits, build_schema
from salesguard_gateway.serving import uvicorn_config
from salesguard_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"
_CALLER = "salesguard.caller"
_RPC_CALLS = "salesguard.rpc_calls"
# The media type the answer is given in, and the status of a request error (no data).
_MEDIA_TYPE = "salesguard.media_type"
_REQUEST_ERROR_STATUS = "salesguard.request_error_status"
MAX_SUBSCRIPTIONS_PER_CONNECTION = 10
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _unauthorized(error: AuthError, media_type: str = JSON_MEDIA_TYPE) -> Response:
    headers = {}
    if error.status_code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="salesguard"'
    return error_response(
        error.status_code, error.message, error.code, headers=headers, media_type=media_type
    )


PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"


def _malformed(error: MalformedRequest, media_type: str) -> Response:
    code = ErrorCode.NOT_FOUND if error.status == 404 else ErrorCode.VALIDATION
    extensions = {"field": error.field} if error.field else {}
    headers = {"Allow": error.allow} if error.status == 405 else None
    return error_response(
        error.status, error.message, code, headers=headers, media_type=media_type, **extensions
    )


def _refused(error: OperationRefused, media_type: str) -> Response:
    status = error.status if media_type == GRAPHQL_RESPONSE_MEDIA_TYPE else error.legacy_status
    return error_response(status, error.message, error.code, media_type=media_type)


def _too_large(limit: int, media_type: str, *, url: bool = False) -> Response:
    if url:
        message, status = f"the URL's query is longer than {limit} bytes", 414
    else:
        message, status = f"the request body is larger than {limit} bytes", 413
    return error_response(status, message, PAYLOAD_TOO_LARGE, media_type=media_type, limit=limit)


def _is_request_error(result: ExecutionResult) -> bool:
    """Refused before execution (syntax, validation, variables, limits): no data, and no
    error at a field's path. GraphQL over HTTP answers these without ``data``, with a 4xx."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


class GatewayTransportWSHandler(BaseGraphQLTransportWSHandler[GatewayContext, None]):
    """graphql-transport-ws: each operation runs as the token of connection_init resolves
    when the operation starts (a connection outlives a departure or a change of roles)."""

    async def run_operation(self, operation: Operation[GatewayContext, None]) -> None:
        context = self.context
        if context.authenticated is None:  # not acknowledged: strawberry refuses to subscribe first
            return
        try:
            # As the caller is now, not as at connection_init: one who has left runs nothing.
            caller = context.authenticated = await context.current_caller()
            cast(GatewayGraphQL, self.view).persisted.check_text(operation.query)
        except (AuthError, OperationRefused) as error:
            code = error.code.value if isinstance(error, AuthError) else error.code
            refused = GraphQLError(error.message, extensions={"code": code})
            await operation.send_next(ExecutionResult(data=None, errors=[refused]))
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
            return
        with acting_as(caller.principal), counting_rpc_calls():
            await super().run_operation(operation)


class GatewayGraphQL(GraphQL[GatewayContext, None]):
    graphql_transport_ws_handler_class = GatewayTransportWSHandler

    def __init__(
        self,
        schema: GatewaySchema,
        *,
        settings: GatewaySettings,
        backends: Backends,
        authenticator: Authenticator,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            # Queries (never mutations) by GET too, as GraphQL over HTTP has it; the URL's
            # length is held to the body limit, and GET and POST share every check after.
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            # Operations one websocket may run at once: each alertRaised holds a stream per source.
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        )
        self.settings = settings
        self.backends = backends
        self.authenticator = authenticator
        self.persisted = PersistedOperations(
            registered_operations(),
            registered_only=settings.registered_operations_only,
            cache_chars=settings.persisted_query_cache_chars,
        )
        # Our own page over the vendored assets: strawberry's loads them from a CDN.
        self.graphiql_page = GraphiQLPage() if settings.graphiql_enabled else None

    def encode_json(self, data: object) -> str:
        # orjson: a page's answer in a tenth of the standard library's time (0.09 ms of a
        # customers page). The same JSON as strawberry's json.dumps(data, separators=(",", ":"))
        # but for non-ASCII text, written as UTF-8 rather than \u escapes. A str, not bytes:
        # strawberry sends bytes over a websocket as a binary frame, which
        # graphql-transport-ws forbids. What orjson refuses (an integer past 64 bits, a key
        # that is not a string) the standard library's encoder writes as before.
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return _JSON_ENCODER.encode(data)

    async def render_graphql_ide(self, request: Request) -> Response:
        assert self.graphiql_page is not None  # strawberry renders it only when enabled
        return self.graphiql_page.response()

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET of a persisted query names no query, only its hash: that is no page view.
        return super().should_render_graphql_ide(request) and not any(
            request.query_params.get(name) is not None for name in URL_PARAMETERS
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        # Only a GET renders the page (strawberry's rule): a POST skips building the adapter.
        if scope["method"] == "GET" and self.should_render_graphql_ide(
            StarletteRequestAdapter(request)
        ):
            await super().__call__(scope, receive, send)
            return
        response = await self._serve(request)
        await response(scope, receive, send)

    async def _serve(self, request: Request) -> Response:
        media_type = response_media_type(request.headers.get("accept"))
        limit = self.settings.max_body_bytes
        declared = declared_length(request)
        if declared is not None and declared > limit:
            return _too_large(limit, media_type)
        if len(request.scope.get("query_string", b"")) > limit:
            return _too_large(limit, media_type, url=True)
        try:
            caller = await self.authenticator.authenticate(request.headers.get("authorization"))
        except AuthError as error:
            return _unauthorized(error, media_type)
        try:
            body = await read_body(request, limit)
        except BodyTooLarge:
            return _too_large(limit, media_type)
        scope = request.scope
        scope[_CALLER] = caller
        scope[_MEDIA_TYPE] = media_type
        with acting_as(caller.principal), counting_rpc_calls() as calls:
            scope[_RPC_CALLS] = calls
            try:
                response = await self.run(Request(scope, replaying(body, request.receive)))
            except MalformedRequest as error:
                return _malformed(error, media_type)
            except OperationRefused as error:
                return _refused(error, media_type)
            except HTTPException as error:
                return _malformed(MalformedRequest(error.status_code, error.reason), media_type)
        if media_type != JSON_MEDIA_TYPE:
            response.headers["content-type"] = media_type
            response.status_code = scope.get(_REQUEST_ERROR_STATUS, response.status_code)
        return response

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        # Strict, and once: strawberry's own parsing crashes on a body that is JSON but
        # not an object, and takes forms; a GET's URL is read as strictly.
        if request.method == "GET":
            data = graphql_query_parameters(request.url)
        elif request.method == "POST":
            data = graphql_request(await request.get_body(), request.content_type)
        else:
            raise MalformedRequest(405, f"send GraphQL requests with GET or POST to {GRAPHQL_PATH}")
        return self.persisted.resolve(data)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: GatewayContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        try:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as error:
            refused = error.__cause__
            if (
                isinstance(refused, InvalidOperationTypeError)
                and refused.operation_type is OperationType.MUTATION
            ):
                # GraphQL over HTTP: a mutation by GET is 405, and nothing runs.
                raise MalformedRequest(
                    405, "mutations are sent with POST, never GET", allow="POST"
                ) from None
            raise

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GatewayContext:
        clients = self.backends.clients
        calls: RpcCalls | None = request.scope.get(_RPC_CALLS)
        return GatewayContext(
            authenticated=request.scope.get(_CALLER),
            language=negotiate_language(request.headers.get("accept-language")),
            clients=clients,
            settings=self.settings,
            loaders=Loaders(clients),
            rpc_calls=calls if calls is not None else Counter(),
            handshake_authorization=request.headers.get("authorization"),
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            # A last net: errors raised where no extension could see them get their code too.
            result.errors = [typed_error(error) for error in result.errors]
            note_error_codes(str((error.extensions or {}).get("code")) for error in result.errors)
        data = process_result(result)
        if request.scope.get(_MEDIA_TYPE) == GRAPHQL_RESPONSE_MEDIA_TYPE and _is_request_error(
            result
        ):
            data.pop("data", None)
            request.scope[_REQUEST_ERROR_STATUS] = 400
        if self.settings.rpc_calls_reported:
            calls: RpcCalls = request.scope.get(_RPC_CALLS) or Counter()
            data["extensions"] = {**(data.get("extensions") or {}), "rpcCalls": dict(calls)}
        return data

    async def on_ws_connect(self, context: GatewayContext) -> UnsetType | dict[str, object] | None:
        params: Mapping[str, Any] = context.connection_params or {}
        authorization = params.get("Authorization") or params.get("authorization")
        if not isinstance(authorization, str):
            authorization = context.handshake_authorization
        try:
            context.authenticated = await self.authenticator.authenticate(authorization)
        except AuthError as error:
            raise ConnectionRejectionError(
                {"message": error.message, "extensions": {"code": error.code.value}}
            ) from None
        context.reauthenticate = functools.partial(self.authenticator.recheck, authorization)
        return cast(UnsetType, UNSET)


def _token_verifier(settings: GatewaySettings) -> TokenVerifier:
    if settings.jwks_url:
        secret = None
    else:
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        if not secret:
            raise SettingsError("SALESGUARD_JWT_SECRET or SALESGUARD_JWKS_URL is required")
    return TokenVerifier(
        secret=secret,
        jwks_url=settings.jwks_url,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


def create_app(settings: GatewaySettings, *, channels: ServiceChannels | None = None) -> Starlette:
    """The gateway; ``channels`` lets tests point it at services they started."""
    backends = Backends(settings, channels)
    authenticator = Authenticator(
        _token_verifier(settings),
        lambda: backends.clients.directory,
        cache_seconds=settings.principal_cache_seconds,
    )
    graphql = GatewayGraphQL(
        build_schema(SchemaLimits.from_settings(settings), observers=[ObservedOperation]),
        settings=settings,
        backends=backends,
        authenticator=authenticator,
    )
    routes: list[BaseRoute] = [
        Route(GRAPHQL_PATH, graphql),
        WebSocketRoute(GRAPHQL_PATH, graphql),
        Route("/healthz", healthz),
        Route("/readyz", Readiness(backends, settings.readiness_check_seconds).check),
        *download_routes(authenticator, lambda: backends.clients.downloads, _unauthorized),
        # The HR console: static files over the public API, so always on.
        *console_routes(settings),
    ]
    if settings.graphiql_enabled:
        routes += asset_routes()
    if settings.metrics_port is None:
        routes.append(Route("/metrics", metrics))
    store = object_store_from_settings(settings)
    if isinstance(store, LocalObjectStore):
        routes += object_routes(store, settings.max_object_bytes)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        metrics_server = None
        if settings.metrics_port is not None:
            metrics_server = start_metrics_server(settings.gateway_host, settings.metrics_port)
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server.close()
            await authenticator.close()
            await backends.close()

    middleware = [
        # One server span per request; the gRPC client spans become its children.
        # (OpenTelemetry's ASGI middleware, its HTTP metrics, which carry raw paths and
        # are dropped by salesguard.telemetry's views, not recorded at all.)
        # A process exporting no spans only continues the request's trace.
        Middleware(ServerSpans, excluded_urls="healthz,readyz,metrics", record=spans_exported()),
        # Inside that span: the access line, the metrics and the span's name.
        Middleware(
            AccessLog,
            graphql_path=GRAPHQL_PATH,
            operation_names=OperationNames(settings.metrics_max_operations),
        ),
    ]
    if settings.cors_allow_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_allow_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept-Language"],
                # A download's name and digest (downloads.py), readable by the app.
                expose_headers=["Content-Disposition", "Repr-Digest", "X-Row-Count"],
                max_age=600,
            )
        )
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


class GatewayService:
    """The ``salesguard.services`` entry point: ``salesguard serve gateway``."""

    name = "gateway"
    settings_class = GatewaySettings

    def load_settings(self, **overrides: Any) -> GatewaySettings:
        return load(GatewaySettings, **overrides)

    async def migrate(self, settings: GatewaySettings) -> None:
        """The gateway keeps no database."""

    async def healthy(self, settings: GatewaySettings) -> bool:
        """Whether this host's gateway answers /healthz (``salesguard healthcheck``)."""
        url = f"http://127.0.0.1:{settings.gateway_port}/healthz"

        def get() -> bool:
            try:
                with urllib.request.urlopen(url, timeout=HEALTHCHECK_SECONDS) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        return await asyncio.to_thread(get)

    def main(self) -> None:
        settings = self.load_settings()
        setup_logging(settings.log_level)
        setup_telemetry("gateway", settings.otel_exporter_otlp_endpoint)
        host, port = settings.listen_address(self.name)
        app = create_app(settings)
        eventloop.settle_heap()
        config = uvicorn_config(
            app,
            host=host,
            port=port,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
            server_header=False,
            loop=eventloop.uvicorn_loop(settings.uvloop),
        )
        log.info("serving", extra={"service": self.name, "port": port})
        uvicorn.Server(config).run()


service = GatewayService()
