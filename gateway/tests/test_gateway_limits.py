"""G3: oversized queries are refused with a typed error before any resolver or gRPC call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway.tests.conftest import StartSuite, World
from gateway.tests.support import auth, codes_of
from tests.harness import Suite, employee_id, global_id

Calls = Callable[[], list[str]]


def of_depth(depth: int) -> str:
    """``{ me { manager { ... { id } } } }`` with ``id`` at ``depth`` (root fields are at 0)."""
    return "{ me " + "{ manager " * (depth - 1) + "{ id }" + " }" * (depth - 1) + " }"


async def _refused(
    suite: Suite,
    world: World,
    calls: Calls,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    result = await suite.gql(query, variables, as_=world.org.manager)
    assert result.status == 200
    assert result.body["data"] is None, result.body
    # Only the principal lookup ran: nothing of the query itself, in any service.
    assert calls() == ["ResolvePrincipal"]
    assert result.body["extensions"]["rpcCalls"] == {}
    return result.body


async def test_depth_limit(suite: Suite, world: World, calls: Calls) -> None:
    body = await _refused(suite, world, calls, of_depth(9))
    assert codes_of(body) == ["QUERY_TOO_DEEP"]
    assert "exceeds maximum operation depth of 8" in body["errors"][0]["message"]


async def test_depth_at_the_limit_is_fine(suite: Suite, world: World) -> None:
    data = (await suite.gql(of_depth(8), as_=world.org.junior)).ok()
    # The junior reports to the senior, who reports to nobody.
    assert data == {"me": {"manager": {"manager": None}}}


async def test_alias_limit(suite: Suite, world: World, calls: Calls) -> None:
    aliases = " ".join(f"a{i}: me {{ id }}" for i in range(16))
    body = await _refused(suite, world, calls, "{ " + aliases + " }")
    assert codes_of(body) == ["TOO_MANY_ALIASES"]


async def test_token_limit(suite: Suite, world: World, calls: Calls) -> None:
    fields = " ".join("id name" for _ in range(1100))
    body = await _refused(suite, world, calls, "{ me { " + fields + " } }")
    assert codes_of(body) == ["TOO_MANY_TOKENS"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ customers(first: 101) { totalCount } }", None),
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": 101}),
        ("query($n: Int = 500) { customers(first: $n) { totalCount } }", None),
        ("{ customers(first: 0) { totalCount } }", None),
        (
            '{ customer(id: "'
            + global_id("Customer", "c1")
            + '") { followUps(first: 1000) { totalCount } } }',
            None,
        ),
        ("{ me { customers(first: -1) { totalCount } } }", None),
    ],
    ids=["literal", "variable", "default", "zero", "nested", "negative"],
)
async def test_page_size_limit(
    suite: Suite, world: World, calls: Calls, query: str, variables: dict[str, Any] | None
) -> None:
    body = await _refused(suite, world, calls, query, variables)
    assert codes_of(body) == ["VALIDATION"]
    assert body["errors"][0]["extensions"]["field"] == "first"


async def test_page_size_at_the_limit_is_fine(suite: Suite, world: World) -> None:
    data = (
        await suite.gql(
            "{ customers(first: 100) { totalCount edges { cursor } } }", as_=world.org.manager
        )
    ).ok()
    assert data["customers"]["totalCount"] == len(world.customers)
    assert len(data["customers"]["edges"]) == len(world.customers)


@pytest.mark.parametrize("where", ["variable", "literal"])
async def test_long_strings_are_refused(
    suite: Suite, world: World, calls: Calls, where: str
) -> None:
    text = "x" * 10_001
    if where == "variable":
        query = "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }"
        body = await _refused(suite, world, calls, query, {"f": {"text": text}})
    else:
        body = await _refused(
            suite, world, calls, '{ customers(filter: {text: "' + text + '"}) { totalCount } }'
        )
    assert codes_of(body) == ["VALIDATION"]


async def test_oversized_body_is_413_and_typed(suite: Suite, world: World, calls: Calls) -> None:
    huge = "x" * (1 << 20)
    response = await suite.client.post(
        "/graphql",
        json={
            "query": "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
            "variables": {"f": {"text": huge}},
        },
        headers=auth(world.org.manager),
    )
    assert response.status_code == 413
    assert codes_of(response.json()) == ["PAYLOAD_TOO_LARGE"]
    assert calls() == []


async def test_oversized_streamed_body_is_413(suite: Suite, world: World, calls: Calls) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ me { id } }", "variables": {"x": "'
        for _ in range(64):
            yield b"x" * 16384
        yield b'"}}'

    response = await suite.client.post(
        "/graphql",
        content=chunks(),
        headers={**auth(world.org.manager), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert codes_of(response.json()) == ["PAYLOAD_TOO_LARGE"]
    # No length was declared: the caller was authenticated before the body was read.
    assert calls() == ["ResolvePrincipal"]


async def test_a_smaller_body_limit_applies(start_suite: StartSuite) -> None:
    suite = await start_suite(max_body_bytes=2048)
    fits = await suite.gql("{ me { id } }", {"pad": "x" * 1000}, as_="admin")
    assert fits.ok() == {"me": {"id": employee_id("admin")}}
    refused = await suite.gql("{ me { id } }", {"pad": "x" * 3000}, as_="admin")
    assert refused.status == 413
    assert refused.codes == ["PAYLOAD_TOO_LARGE"]
    assert refused.errors[0]["extensions"]["limit"] == 2048


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
    suite: Suite, world: World, calls: Calls, query: str, variables: dict[str, Any] | None
) -> None:
    body = await _refused(suite, world, calls, query, variables)
    assert set(codes_of(body)) == {"VALIDATION"}, body


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_introspection_is_on_in_dev(suite: Suite) -> None:
    data = (await suite.gql(INTROSPECTION, as_="admin")).ok()
    assert data == {"__schema": {"queryType": {"name": "Query"}}}


async def test_introspection_follows_the_setting(start_suite: StartSuite) -> None:
    suite = await start_suite(introspection=False)
    result = await suite.gql(INTROSPECTION, as_="admin")
    assert result.status == 200 and result.body["data"] is None
    assert set(result.codes) == {"VALIDATION"}
    assert "introspection" in result.errors[0]["message"].lower()


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"query": "{ me { id } ', "application/json", 400),
        (b"query=%7B%20me%20%7B%20id%20%7D%20%7D", "application/x-www-form-urlencoded", 415),
        (b'[{"query": "{ me { id } }"}, {"query": "{ me { id } }"}]', "application/json", 400),
    ],
    ids=["broken-json", "form", "batch"],
)
async def test_malformed_requests_are_typed_4xx(
    suite: Suite, content: bytes, content_type: str, status: int
) -> None:
    response = await suite.client.post(
        "/graphql", content=content, headers={**auth("admin"), "Content-Type": content_type}
    )
    assert response.status_code == status
    assert codes_of(response.json()) == ["VALIDATION"]
