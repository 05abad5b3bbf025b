"""G3: oversized queries are refused with a typed error before any resolver or gRPC call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gateway.tests.gateway_fakes import auth, codes, gql


def of_depth(depth: int) -> str:
    """``{ me { manager { ... { id } } } }`` with ``id`` at ``depth`` (root fields are at 0)."""
    return "{ me " + "{ manager " * (depth - 1) + "{ id }" + " }" * (depth - 1) + " }"


async def _refused(
    gateway: httpx.AsyncClient,
    calls: Callable[[], list[str]],
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status, body = await gql(gateway, query, variables)
    assert status == 200
    assert body["data"] is None, body
    # Only the principal lookup ran: nothing of the query itself.
    assert calls() == ["ResolvePrincipal"]
    assert body["extensions"]["rpcCalls"] == {}
    return body


async def test_depth_limit(gateway: httpx.AsyncClient, calls: Callable[[], list[str]]) -> None:
    body = await _refused(gateway, calls, of_depth(9))
    assert codes(body) == ["QUERY_TOO_DEEP"]
    assert "exceeds maximum operation depth of 8" in body["errors"][0]["message"]


async def test_depth_at_the_limit_is_fine(gateway: httpx.AsyncClient) -> None:
    status, body = await gql(gateway, of_depth(8))
    assert status == 200 and "errors" not in body, body


async def test_alias_limit(gateway: httpx.AsyncClient, calls: Callable[[], list[str]]) -> None:
    aliases = " ".join(f"a{i}: me {{ id }}" for i in range(16))
    body = await _refused(gateway, calls, "{ " + aliases + " }")
    assert codes(body) == ["TOO_MANY_ALIASES"]


async def test_token_limit(gateway: httpx.AsyncClient, calls: Callable[[], list[str]]) -> None:
    fields = " ".join("id name" for _ in range(1100))
    body = await _refused(gateway, calls, "{ me { " + fields + " } }")
    assert codes(body) == ["TOO_MANY_TOKENS"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ customers(first: 101) { totalCount } }", None),
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": 101}),
        ("query($n: Int = 500) { customers(first: $n) { totalCount } }", None),
        ("{ customers(first: 0) { totalCount } }", None),
        ('{ customer(id: "c1") { followUps(first: 1000) { totalCount } } }', None),
        ("{ me { customers(first: -1) { totalCount } } }", None),
    ],
    ids=["literal", "variable", "default", "zero", "nested", "negative"],
)
async def test_page_size_limit(
    gateway: httpx.AsyncClient,
    calls: Callable[[], list[str]],
    query: str,
    variables: dict[str, Any] | None,
) -> None:
    body = await _refused(gateway, calls, query, variables)
    assert codes(body) == ["VALIDATION"]
    assert body["errors"][0]["extensions"]["field"] == "first"


async def test_page_size_at_the_limit_is_fine(gateway: httpx.AsyncClient) -> None:
    status, body = await gql(gateway, "{ customers(first: 100) { totalCount edges { cursor } } }")
    assert status == 200 and "errors" not in body
    assert len(body["data"]["customers"]["edges"]) == 60


@pytest.mark.parametrize("where", ["variable", "literal"])
async def test_long_strings_are_refused(
    gateway: httpx.AsyncClient, calls: Callable[[], list[str]], where: str
) -> None:
    text = "x" * 10_001
    if where == "variable":
        query = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"
        body = await _refused(gateway, calls, query, {"f": {"text": text}})
    else:
        body = await _refused(
            gateway, calls, '{ customers(filter: {text: "' + text + '"}) { totalCount } }'
        )
    assert codes(body) == ["VALIDATION"]


async def test_oversized_body_is_413_and_typed(
    gateway: httpx.AsyncClient, calls: Callable[[], list[str]]
) -> None:
    huge = "x" * (1 << 20)
    response = await gateway.post(
        "/graphql",
        json={
            "query": "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
            "variables": {"f": {"text": huge}},
        },
        headers=auth(),
    )
    assert response.status_code == 413
    assert codes(response.json()) == ["PAYLOAD_TOO_LARGE"]
    assert calls() == []


async def test_oversized_streamed_body_is_413(
    gateway: httpx.AsyncClient, calls: Callable[[], list[str]]
) -> None:
    async def chunks() -> Any:
        yield b'{"query": "{ me { id } }", "variables": {"x": "'
        for _ in range(64):
            yield b"x" * 16384
        yield b'"}}'

    response = await gateway.post(
        "/graphql",
        content=chunks(),
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert codes(response.json()) == ["PAYLOAD_TOO_LARGE"]
    assert calls() == ["ResolvePrincipal"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ customers(filter: {sources: [TELEPATHY]}) { totalCount } }", None),
        (
            "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
            {"f": {"sources": ["TELEPATHY"]}},
        ),
        ('{ customers(first: "ten") { totalCount } }', None),
        (
            "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
            {"f": {"registeredFrom": "2025-01-01T00:00:00"}},
        ),
        (
            "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
            {"f": {"registeredFrom": "yesterday"}},
        ),
        ("{ customers { noSuchField } }", None),
        ("{ customers(", None),
    ],
    ids=[
        "enum-literal",
        "enum-variable",
        "wrong-type",
        "naive-datetime",
        "bad-datetime",
        "unknown-field",
        "syntax",
    ],
)
async def test_bad_input_is_validation(
    gateway: httpx.AsyncClient,
    calls: Callable[[], list[str]],
    query: str,
    variables: dict[str, Any] | None,
) -> None:
    body = await _refused(gateway, calls, query, variables)
    assert set(codes(body)) == {"VALIDATION"}, body


async def test_introspection_follows_the_setting(make_gateway: Any) -> None:
    query = "{ __schema { queryType { name } } }"
    status, body = await gql(await make_gateway(), query)
    assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    status, body = await gql(await make_gateway(introspection=False), query)
    assert status == 200 and body["data"] is None
    assert set(codes(body)) == {"VALIDATION"}
    assert "introspection" in body["errors"][0]["message"].lower()


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"query": "{ me { id } ', "application/json"),
        (b"query=%7B%20me%20%7B%20id%20%7D%20%7D", "application/x-www-form-urlencoded"),
        (b'[{"query": "{ me { id } }"}, {"query": "{ me { id } }"}]', "application/json"),
    ],
    ids=["broken-json", "form", "batch"],
)
async def test_malformed_requests_are_typed_400s(
    gateway: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    response = await gateway.post(
        "/graphql", content=content, headers={**auth(), "Content-Type": content_type}
    )
    assert response.status_code == 400
    assert codes(response.json()) == ["VALIDATION"]
