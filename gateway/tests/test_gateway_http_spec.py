"""GraphQL over HTTP: ``application/graphql-response+json`` answers request errors with a 4xx
and no ``data``; ``application/json`` keeps answering them 200; queries run by GET, mutations
never (405)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from gateway.tests.conftest import StartSuite, World
from gateway.tests.support import auth, codes_of
from tests.harness import Suite, employee_id, global_id

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
Calls = Callable[[], list[str]]


async def post(
    suite: Suite, as_: str, body: dict[str, Any], accept: str | None = GRAPHQL_RESPONSE
) -> httpx.Response:
    headers = auth(as_) if accept is None else auth(as_, Accept=accept)
    return await suite.client.post("/graphql", json=body, headers=headers)


async def get(
    suite: Suite, as_: str, accept: str | None = GRAPHQL_RESPONSE, **parameters: Any
) -> httpx.Response:
    encoded = {
        name: json.dumps(value) if isinstance(value, dict) else value
        for name, value in parameters.items()
    }
    headers = auth(as_) if accept is None else auth(as_, Accept=accept)
    return await suite.client.get(f"/graphql?{urlencode(encoded)}", headers=headers)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def request_error(response: httpx.Response, code: str = "VALIDATION") -> dict[str, Any]:
    """The answer to a request error in the spec's media type: a 4xx, no data."""
    assert response.status_code == 400, (response.status_code, response.text)
    assert media_type(response) == GRAPHQL_RESPONSE
    body: dict[str, Any] = response.json()
    assert "data" not in body, body
    assert codes_of(body) == [code], body
    return body


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ me { id }", None),
        ("{ me { nothingHere } }", None),
        ("query($n: Int) { customers(first: $n) { totalCount } }", {"n": "many"}),
        ("query($id: ID!) { customer(id: $id) { id } }", None),
    ],
    ids=["syntax", "unknown-field", "variable-type", "missing-variable"],
)
async def test_request_errors_are_4xx_in_the_graphql_response_media_type(
    suite: Suite, world: World, calls: Calls, query: str, variables: dict[str, Any] | None
) -> None:
    body = {"query": query, "variables": variables}
    request_error(await post(suite, world.org.manager, body))
    # Nothing of the query ran, in any service.
    assert calls() == ["ResolvePrincipal"]


@pytest.mark.parametrize("accept", [JSON, None, "*/*", f"{JSON}, {GRAPHQL_RESPONSE};q=0.5"])
async def test_legacy_clients_keep_200_for_request_errors(
    suite: Suite, world: World, accept: str | None
) -> None:
    response = await post(suite, world.org.manager, {"query": "{ me { id }"}, accept)
    assert response.status_code == 200
    assert media_type(response) == JSON
    assert response.json()["data"] is None
    assert codes_of(response.json()) == ["VALIDATION"]


async def test_a_request_without_a_query_is_400_in_the_media_type_asked_for(
    suite: Suite, world: World
) -> None:
    body = request_error(await post(suite, world.org.manager, {"variables": {}}))
    assert body["errors"][0]["extensions"]["field"] == "query"


async def test_an_answer_is_given_in_the_media_type_asked_for(suite: Suite, world: World) -> None:
    accept = f"{GRAPHQL_RESPONSE}, {JSON};q=0.9"
    response = await post(suite, world.org.junior, {"query": "{ me { id } }"}, accept)
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json()["data"] == {"me": {"id": employee_id(world.org.junior)}}


async def test_a_field_error_keeps_its_data_and_200(suite: Suite, world: World) -> None:
    missing = global_id("Customer", "no-such-customer")
    query = '{ me { id } customer(id: "' + missing + '") { id } }'
    response = await post(suite, world.org.junior, {"query": query})
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert body["data"] == {"me": {"id": employee_id(world.org.junior)}, "customer": None}
    assert codes_of(body) == ["NOT_FOUND"]


async def test_a_query_runs_by_get(suite: Suite, world: World) -> None:
    query = "query Mine($n: Int) { me { id } customers(first: $n) { totalCount } }"
    response = await get(
        suite, world.org.junior, query=query, variables={"n": 5}, operationName="Mine"
    )
    assert response.status_code == 200, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    by_post = await post(
        suite, world.org.junior, {"query": query, "variables": {"n": 5}, "operationName": "Mine"}
    )
    assert response.json()["data"] == by_post.json()["data"]
    assert response.json()["data"]["me"] == {"id": employee_id(world.org.junior)}
    # A legacy client's GET is answered in JSON.
    legacy = await get(suite, world.org.junior, accept=None, query="{ me { id } }")
    assert legacy.status_code == 200 and media_type(legacy) == JSON
    assert legacy.json()["data"] == {"me": {"id": employee_id(world.org.junior)}}


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
async def test_a_mutation_never_runs_by_get(
    suite: Suite, world: World, calls: Calls, accept: str
) -> None:
    alert = global_id("Alert", "a1")
    mutation = (
        'mutation { updateAlert(input: {id: "'
        + alert
        + '", status: ACKNOWLEDGED}) { alert { id } } }'
    )
    response = await get(suite, world.org.manager, accept, query=mutation)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert media_type(response) == accept
    assert codes_of(response.json()) == ["VALIDATION"]
    assert calls() == ["ResolvePrincipal"]


async def test_a_subscription_never_runs_by_get(suite: Suite, world: World, calls: Calls) -> None:
    response = await get(suite, world.org.manager, query="subscription { alertRaised { id } }")
    assert 400 <= response.status_code < 500
    assert codes_of(response.json()) == ["VALIDATION"]
    assert calls() == ["ResolvePrincipal"]


async def test_get_reads_its_url_as_strictly_as_a_body(suite: Suite, world: World) -> None:
    as_ = world.org.junior
    bad_variables = await suite.client.get(
        "/graphql?" + urlencode({"query": "{ me { id } }", "variables": "[1"}), headers=auth(as_)
    )
    assert bad_variables.status_code == 400
    assert bad_variables.json()["errors"][0]["extensions"]["field"] == "variables"
    twice = await suite.client.get(
        "/graphql?query=%7B%20me%20%7B%20id%20%7D%20%7D&query=x", headers=auth(as_)
    )
    assert twice.status_code == 400
    assert twice.json()["errors"][0]["extensions"]["field"] == "query"


async def test_a_get_url_is_held_to_the_body_limit(start_suite: StartSuite) -> None:
    suite = await start_suite(max_body_bytes=2048)
    fits = await get(suite, "admin", query="{ me { id } }" + " " * 1900)
    assert fits.json()["data"] == {"me": {"id": employee_id("admin")}}
    too_long = await get(suite, "admin", query="{ me { id } }" + " " * 2048)
    assert too_long.status_code == 414
    assert codes_of(too_long.json()) == ["PAYLOAD_TOO_LARGE"]


async def test_other_methods_name_get_and_post(suite: Suite, world: World) -> None:
    response = await suite.client.put(
        "/graphql", json={"query": "{ me { id } }"}, headers=auth(world.org.junior)
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_refusals_before_graphql_answer_in_the_media_type_asked_for(
    suite: Suite,
) -> None:
    response = await suite.client.post(
        "/graphql", json={"query": "{ me { id } }"}, headers={"Accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 401
    assert media_type(response) == GRAPHQL_RESPONSE
    assert codes_of(response.json()) == ["UNAUTHENTICATED"]
