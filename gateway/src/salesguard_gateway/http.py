"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): a POSTed body,
read with a ceiling (an oversized body is refused, never buffered), or a GET's URL parameters,
taken as one GraphQL request or refused with a 4xx saying why (never a 500: errors.py); and
the media type the answer is given in (``Accept``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.types import Message, Receive
from strawberry.http import GraphQLRequestData

from salesguard_gateway.inputs import NOT_TEXT, is_text


class BodyTooLarge(Exception):
    pass


def declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it exceeds ``limit`` bytes."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body out once, then defers to the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# --- the GraphQL request in the body ------------------------------------------------

JSON_MEDIA_TYPE = "application/json"
# The spec's own media type: a request error (no ``data``) is answered with a 4xx.
GRAPHQL_RESPONSE_MEDIA_TYPE = "application/graphql-response+json"
# Variables and extensions nest no deeper than this: the schema's inputs nest a few
# levels, and every later walk over them (coercion, limits) may then recurse safely.
MAX_JSON_DEPTH = 32
_INT64 = 2**63


class MalformedRequest(Exception):
    """The request is not one GraphQL request: answered with ``status`` before any GraphQL work
    (``allow``: the methods a 405 names)."""

    def __init__(
        self, status: int, message: str, field: str | None = None, *, allow: str = "GET, POST"
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.allow = allow


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def response_media_type(accept: str | None) -> str:
    """``application/graphql-response+json`` when the client accepts it at least as gladly as
    ``application/json``; ``application/json`` otherwise, and for legacy clients (no Accept,
    ``*/*``, or an Accept naming neither: the spec lets a server answer those in JSON)."""
    if not accept or GRAPHQL_RESPONSE_MEDIA_TYPE not in accept:
        return JSON_MEDIA_TYPE
    graphql_response = json_quality = 0.0
    for entry in accept.split(","):
        media_type, _, parameters = entry.partition(";")
        media_type = media_type.strip().lower()
        quality = _quality(parameters)
        if media_type == GRAPHQL_RESPONSE_MEDIA_TYPE:
            graphql_response = max(graphql_response, quality)
        elif media_type == JSON_MEDIA_TYPE:
            json_quality = max(json_quality, quality)
    if graphql_response > 0 and graphql_response >= json_quality:
        return GRAPHQL_RESPONSE_MEDIA_TYPE
    return JSON_MEDIA_TYPE


class _Unrepresentable(ValueError):
    pass


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Unrepresentable(f"the number {text[:40]} is too large")
    return value


def _integer(text: str) -> int:
    # Checked on the digits first: int() of thousands of digits is slow, then refused.
    if len(text.lstrip("-")) > 19 or not -_INT64 <= (value := int(text)) < _INT64:
        raise _Unrepresentable(f"the integer {text[:40]} does not fit 64 bits")
    return value


def _constant(name: str) -> None:
    raise _Unrepresentable(f"{name} is not a JSON number")


def _too_deep(value: object) -> bool:
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict | list):
            if depth > MAX_JSON_DEPTH:
                return True
            items = current.values() if isinstance(current, dict) else current
            stack.extend((item, depth + 1) for item in items)
    return False


def decode_json(body: bytes) -> object:
    """The body as strict JSON: UTF-8 (no byte-order mark), numbers a machine holds."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest(400, "the body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_float=_number, parse_int=_integer, parse_constant=_constant)
    except _Unrepresentable as error:
        raise MalformedRequest(400, f"the body holds a number out of range: {error}") from None
    except RecursionError:
        raise MalformedRequest(400, f"the JSON nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as error:
        raise MalformedRequest(400, f"the body is not JSON: {error}") from None


def graphql_request(body: bytes, content_type: str | None) -> GraphQLRequestData:
    """One GraphQL request POSTed (a JSON object with ``query``, ``variables``,
    ``operationName`` and ``extensions``), or MalformedRequest saying what is wrong."""
    media_type, _, parameters = (content_type or "").partition(";")
    charset = next(
        (
            value.strip().strip('"').lower()
            for name, _, value in (part.partition("=") for part in parameters.split(";"))
            if name.strip().lower() == "charset"
        ),
        "utf-8",
    )
    if media_type.strip().lower() != JSON_MEDIA_TYPE or charset != "utf-8":
        raise MalformedRequest(
            415, f"send the request as Content-Type: {JSON_MEDIA_TYPE} (UTF-8)", "Content-Type"
        )
    data = decode_json(body)
    if isinstance(data, list):
        raise MalformedRequest(400, "batched requests are not supported: send one at a time")
    if not isinstance(data, dict):
        raise MalformedRequest(400, "the body must be a JSON object with a query")
    return _request_data(data)


URL_PARAMETERS = ("query", "operationName", "variables", "extensions")


def graphql_query_parameters(url: str) -> GraphQLRequestData:
    """One GraphQL request sent with GET: ``query`` and ``operationName`` as they are,
    ``variables`` and ``extensions`` JSON-encoded, in the URL's query."""
    data: dict[str, object] = {}
    seen: set[str] = set()
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name not in URL_PARAMETERS:
            continue
        if name in seen:
            raise MalformedRequest(400, f"the URL gives {name} more than once", name)
        seen.add(name)
        if name in ("variables", "extensions"):
            if not value:
                continue
            try:
                data[name] = decode_json(value.encode("utf-8", "surrogatepass"))
            except MalformedRequest as error:
                raise MalformedRequest(400, f"{name}: {error.message}", name) from None
        else:
            data[name] = value
    return _request_data(data)


def persisted_query(extensions: Mapping[str, Any] | None) -> object:
    """The request's ``extensions.persistedQuery`` (Apollo's APQ protocol), if any."""
    return (extensions or {}).get("persistedQuery")


def _request_data(data: Mapping[str, Any]) -> GraphQLRequestData:
    query = data.get("query")
    if query is not None and not isinstance(query, str):
        raise MalformedRequest(400, "query must be a string", "query")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise MalformedRequest(400, "operationName must be a string", "operationName")
    if operation_name is not None and not is_text(operation_name):
        raise MalformedRequest(400, f"operationName {NOT_TEXT}", "operationName")
    members: dict[str, dict[str, Any] | None] = {}
    for member in ("variables", "extensions"):
        value = data.get(member)
        if value is not None and not isinstance(value, dict):
            raise MalformedRequest(400, f"{member} must be a JSON object", member)
        if _too_deep(value):
            raise MalformedRequest(
                400, f"{member} nest deeper than {MAX_JSON_DEPTH} levels", member
            )
        members[member] = value
    # A persisted query's text may be left out: persisted.py finds it by its hash.
    if not query and persisted_query(members["extensions"]) is None:
        raise MalformedRequest(400, "the request has no query", "query")
    return GraphQLRequestData(
        query=query or None,
        variables=members["variables"],
        operation_name=operation_name,
        extensions=members["extensions"],
    )
