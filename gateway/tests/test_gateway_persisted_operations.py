"""Persisted operations: Apollo's Automatic Persisted Queries (extensions.persistedQuery with
the query's SHA-256), the committed operations of gateway/operations registered by hash, and
a production setting that runs nothing else."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from gateway.tests.conftest import StartSuite, World
from gateway.tests.support import Spans, auth, codes_of
from salesguard_gateway.persisted import registered_operations
from tests.contracts import graphql_operations
from tests.harness import Suite, employee_id
from tests.org import make_org
from tests.support.subscriptions import GraphQLWebSocket, serve_gateway

Calls = Callable[[], list[str]]
GRAPHQL_RESPONSE = "application/graphql-response+json"


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted(query_hash: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": query_hash}}


async def post(suite: Suite, as_: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await suite.client.post("/graphql", json=body, headers=auth(as_, **headers))


def registered(name: str) -> tuple[str, str]:
    """The hash and text of a committed operation, from the manifest the gateway ships."""
    (operation,) = [op for op in registered_operations().values() if op.name == name]
    return operation.id, operation.body


async def test_an_automatic_persisted_query_round_trip(
    suite: Suite, world: World, calls: Calls
) -> None:
    as_ = world.org.junior
    query = "query MyName { me { id name } }"
    query_hash = sha256(query)
    # Unknown hash, no text: the client is told to send the text (and nothing ran).
    first = await post(suite, as_, {"extensions": persisted(query_hash)})
    assert first.status_code == 200
    assert first.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert codes_of(first.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert calls() == ["ResolvePrincipal"]
    # The text with its hash runs and is kept...
    second = await post(suite, as_, {"query": query, "extensions": persisted(query_hash)})
    expected = {"me": {"id": employee_id(as_), "name": "李雷"}}
    assert second.json()["data"] == expected, second.text
    # ...so the hash alone runs it from now on, by POST or by GET (a CDN's cacheable URL).
    third = await post(suite, as_, {"extensions": persisted(query_hash)})
    assert third.json()["data"] == expected, third.text
    url = "/graphql?" + urlencode({"extensions": json.dumps(persisted(query_hash))})
    by_get = await suite.client.get(url, headers=auth(as_, Accept="*/*"))
    assert by_get.status_code == 200 and by_get.json()["data"] == expected, by_get.text


async def test_an_unknown_hash_is_a_400_for_graphql_response_clients(
    suite: Suite, world: World
) -> None:
    body = {"extensions": persisted(sha256("query Never { me { id } }"))}
    response = await post(suite, world.org.junior, body, Accept=GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert codes_of(response.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


@pytest.mark.parametrize(
    ("extensions", "field"),
    [
        (persisted(sha256("{ me { name } }")), "extensions.persistedQuery.sha256Hash"),
        (persisted("ABC"), "extensions.persistedQuery.sha256Hash"),
        (persisted(sha256("{ me { id } }"), version=2), "extensions.persistedQuery.version"),
        ({"persistedQuery": "yes"}, "extensions.persistedQuery"),
    ],
    ids=["hash-of-another-query", "not-a-sha256", "version", "not-an-object"],
)
async def test_a_persisted_query_that_does_not_hold_together_is_refused(
    suite: Suite, world: World, calls: Calls, extensions: dict[str, Any], field: str
) -> None:
    body = {"query": "{ me { id } }", "extensions": extensions}
    response = await post(suite, world.org.junior, body)
    assert response.status_code == 400
    assert codes_of(response.json()) == ["VALIDATION"]
    assert response.json()["errors"][0]["extensions"]["field"] == field
    assert calls() == ["ResolvePrincipal"]


async def test_a_committed_operation_runs_by_its_hash_alone(suite: Suite, world: World) -> None:
    query_hash, _ = registered("FieldMe")
    response = await post(suite, world.org.junior, {"extensions": persisted(query_hash)})
    assert response.json()["data"]["me"]["id"] == employee_id(world.org.junior), response.text


async def test_only_registered_operations_run_when_so_set(
    start_suite: StartSuite, spans: Spans
) -> None:
    suite = await start_suite(registered_operations_only=True, principal_cache_seconds=0)
    me_hash, me_text = registered("FieldMe")
    # A committed operation runs, by its hash or by its text.
    by_hash = await post(suite, "admin", {"extensions": persisted(me_hash)})
    assert by_hash.json()["data"]["me"]["id"] == employee_id("admin"), by_hash.text
    by_text = await post(suite, "admin", {"query": me_text})
    assert by_text.json()["data"]["me"]["id"] == employee_id("admin"), by_text.text
    # Anything else is refused before it runs, however it is sent.
    query = "{ employees(first: 100) { edges { node { id name email } } } }"
    for body in (
        {"query": query},
        {"query": query, "extensions": persisted(sha256(query))},
        {"extensions": persisted(sha256(query))},
    ):
        spans.clear()
        response = await post(suite, "admin", body)
        assert response.status_code == 403, response.text
        assert codes_of(response.json()) == ["OPERATION_NOT_REGISTERED"]
        assert spans.served() == ["ResolvePrincipal"]
    # Sent once with its text, the query is still not known by its hash.
    again = await post(suite, "admin", {"extensions": persisted(sha256(query))})
    assert codes_of(again.json()) == ["OPERATION_NOT_REGISTERED"]


async def test_only_registered_subscriptions_run_when_so_set(start_suite: StartSuite) -> None:
    suite = await start_suite()
    org = await make_org(suite)
    _, alert_raised = registered("HrAlertRaised")
    async with (
        serve_gateway(suite, registered_operations_only=True) as url,
        GraphQLWebSocket.open(url, suite.token(org.hr)) as hr,
    ):
        await hr.subscribe("subscription { alertRaised { id employee { id name email } } }")
        refused = await hr.receive(10)
        assert refused["type"] == "next", refused
        assert codes_of(refused["payload"]) == ["OPERATION_NOT_REGISTERED"]
        assert (await hr.receive(10))["type"] == "complete"
        await hr.subscribe(alert_raised)  # accepted: it waits for alerts, sending nothing
        with pytest.raises(TimeoutError):
            await hr.receive(1)


def test_the_shipped_manifest_is_what_the_committed_operations_make() -> None:
    assert graphql_operations.main([]) == 0


def test_the_operations_check_names_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "a.graphql").write_text(
        "query Twice { me { id } }\n"
        "query Twice { me { name } }\n"
        "{ me { id } }\n"
        "query Unknown { me { nothingHere } }\n"
        "fragment Unused on Employee { id }\n"
    )
    (tmp_path / "b.graphql").write_text("query Broken { me { id }")
    found, _ = graphql_operations.check(tmp_path)
    problems = "\n".join(found.problems)
    assert "operation Twice is also in" in problems
    assert "every operation needs a name" in problems
    assert "Unknown: Cannot query field 'nothingHere'" in problems
    assert "fragment Unused is used by no operation" in problems
    assert "b.graphql: Syntax Error" in problems
