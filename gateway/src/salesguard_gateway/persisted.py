"""Persisted operations: Apollo's Automatic Persisted Queries, and the registered operations.

A client sends ``extensions.persistedQuery = {version: 1, sha256Hash}``, the SHA-256 (hex)
of the query's UTF-8 text, with or without the text:

- with the text, the hash must match it (else ``VALIDATION``, 400) and the text is kept for
  later requests;
- without it, the text is looked up: the registered operations first, then the texts this
  process was sent. An unknown hash is answered ``PERSISTED_QUERY_NOT_FOUND`` (message
  ``PersistedQueryNotFound``, as Apollo's clients expect), and the client sends it again
  with the text.

The registered operations are the ones committed under ``gateway/operations/``; their
manifest (``persisted_operations.json``, Apollo's persisted-query manifest format, generated
by ``make operations``) ships in this package, so every replica of one release knows the
same set. With ``registered_operations_only`` nothing else runs (``OPERATION_NOT_REGISTERED``,
403), whether sent as text or as a hash: a stolen token cannot run a query of its own.

The texts clients sent are kept in memory, per process, in an LRU bounded by their total
size; nothing is shared between replicas. A replica that has not seen a hash answers
``PERSISTED_QUERY_NOT_FOUND`` and the client's retry teaches it: one extra round trip per
replica and operation, after which each answers from memory.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from strawberry.http import GraphQLRequestData

from salesguard_gateway.http import MalformedRequest, persisted_query
from salesguard_gateway.limits import BoundedCache

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
OPERATION_NOT_REGISTERED = "OPERATION_NOT_REGISTERED"
MANIFEST_FORMAT = "apollo-persisted-query-manifest"
MANIFEST_RESOURCE = "persisted_operations.json"
APQ_VERSION = 1
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_FIELD = "extensions.persistedQuery"


def query_hash(query: str) -> str:
    """The APQ hash of a query text: SHA-256 of its UTF-8 bytes, lowercase hex."""
    return hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class RegisteredOperation:
    id: str  # query_hash(body)
    name: str
    type: str  # query, mutation or subscription
    body: str


def manifest(operations: list[RegisteredOperation]) -> dict[str, Any]:
    """Apollo's persisted-query manifest of ``operations``."""
    return {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "operations": [
            {"id": op.id, "name": op.name, "type": op.type, "body": op.body} for op in operations
        ],
    }


def registered_operations(text: str | None = None) -> dict[str, RegisteredOperation]:
    """The registered operations by hash, from the shipped manifest (or ``text``)."""
    if text is None:
        text = resources.files("salesguard_gateway").joinpath(MANIFEST_RESOURCE).read_text()
    data = json.loads(text)
    if data.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{MANIFEST_RESOURCE} is not an {MANIFEST_FORMAT}")
    operations = [RegisteredOperation(**entry) for entry in data["operations"]]
    return {operation.id: operation for operation in operations}


class OperationRefused(Exception):
    """A GraphQL request error found before any GraphQL work: answered with a GraphQL error
    body, ``status`` for ``application/graphql-response+json`` and ``legacy_status`` for
    ``application/json`` (where request errors answer 200, as they always have)."""

    def __init__(self, message: str, code: str, *, status: int, legacy_status: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.legacy_status = legacy_status


def _not_found() -> OperationRefused:
    # Apollo's clients retry with the text on this message or code.
    return OperationRefused(
        "PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND, status=400, legacy_status=200
    )


def _not_registered() -> OperationRefused:
    return OperationRefused(
        "this gateway runs only registered operations (gateway/operations)",
        OPERATION_NOT_REGISTERED,
        status=403,
        legacy_status=403,
    )


def _requested_hash(persisted: object) -> str:
    if not isinstance(persisted, Mapping):
        raise MalformedRequest(400, f"{_FIELD} must be an object", _FIELD)
    if persisted.get("version") != APQ_VERSION:
        raise MalformedRequest(400, f"{_FIELD}.version must be {APQ_VERSION}", f"{_FIELD}.version")
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        raise MalformedRequest(
            400, f"{_FIELD}.sha256Hash must be a SHA-256 in lowercase hex", f"{_FIELD}.sha256Hash"
        )
    return sha256


class PersistedOperations:
    def __init__(
        self,
        registered: Mapping[str, RegisteredOperation],
        *,
        registered_only: bool,
        cache_chars: int,
    ) -> None:
        self._registered = {key: operation.body for key, operation in registered.items()}
        self._registered_only = registered_only
        self._sent: BoundedCache[str] = BoundedCache(cache_chars, weigh=len)

    def check_text(self, query: str) -> None:
        """OperationRefused when only registered operations run and ``query`` is none of them
        (a query sent without a hash, or a subscription over the websocket)."""
        if self._registered_only and query_hash(query) not in self._registered:
            raise _not_registered()

    def resolve(self, request: GraphQLRequestData) -> GraphQLRequestData:
        """The request with its query text, or OperationRefused / MalformedRequest."""
        persisted = persisted_query(request.extensions)
        if persisted is None:
            self.check_text(request.query or "")
            return request
        sha256 = _requested_hash(persisted)
        if request.query is None:
            query = self._registered.get(sha256)
            if query is None and not self._registered_only:
                query = self._sent.lookup(sha256)
            if query is None:
                raise _not_registered() if self._registered_only else _not_found()
            return replace(request, query=query)
        if query_hash(request.query) != sha256:
            raise MalformedRequest(
                400, f"{_FIELD}.sha256Hash is not the SHA-256 of the query", f"{_FIELD}.sha256Hash"
            )
        if sha256 not in self._registered:
            if self._registered_only:
                raise _not_registered()
            self._sent.put(sha256, request.query)
        return request
