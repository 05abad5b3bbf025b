"""Whatever a careless client POSTs to /graphql, the answer is a 4xx
with a GraphQL-shaped JSON error body (``errors[0].extensions.code``), never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import Suite

JSON = "application/json"
ME = b'{"query": "{ me { hrId } }"}'


async def post(
    suite: Suite,
    body: bytes,
    content_type: str | None = JSON,
    *,
    method: str = "POST",
    path: str = "/graphql",
    as_: str = "admin",
) -> tuple[int, dict[str, Any]]:
    """The status and JSON body; an exception escaping the app is what a server answers 500 to."""
    headers = {"Authorization": f"Bearer {suite.token(as_)}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    try:
        response = await suite.client.request(method, path, content=body, headers=headers)
    except Exception as error:
        return 500, {"exception": repr(error)}
    assert response.headers.get("content-type", "").startswith(JSON), response.text
    return response.status_code, response.json()


def refused(status: int, body: dict[str, Any], code: str = "VALIDATION") -> dict[str, Any]:
    """The one error of a 4xx answer, asserting its shape and code."""
    assert 400 <= status < 500, (status, body)
    errors = body["errors"]
    assert isinstance(errors, list) and len(errors) == 1, body
    assert isinstance(errors[0]["message"], str) and errors[0]["message"]
    assert errors[0]["extensions"]["code"] == code, body
    return dict(errors[0])


@pytest.mark.parametrize(
    "body",
    [b"12", b"null", b'"hello"', b"true", b"1.5", b"[1,2]", b"[]", b'[{"query": "{ me { id } }"}]'],
)
async def test_a_body_that_is_not_one_json_object_is_refused(suite: Suite, body: bytes) -> None:
    refused(*await post(suite, body))


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe{}",
        b'\xff\xfe{\x00"\x00q\x00"\x00:\x001\x00}\x00',  # UTF-16 with a byte-order mark
        b'{"query": "{ me { id } }", "operationName": "\xff"}',
        b'{"query": "{ me { id } }", "variables": {"a": "\xed\xa0\x80"}}',  # an encoded surrogate
        b"\xef\xbb\xbf" + ME,  # a UTF-8 byte-order mark is not JSON either
    ],
)
async def test_a_body_that_is_not_utf8_json_is_refused(suite: Suite, body: bytes) -> None:
    refused(*await post(suite, body))


@pytest.mark.parametrize(
    "body", [b"", b"   ", b"{", b'{"query": "{ me { id } }"} trailing', b"{'query': 1}"]
)
async def test_a_body_that_is_not_json_is_refused(suite: Suite, body: bytes) -> None:
    error = refused(*await post(suite, body))
    assert "JSON" in error["message"]


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/graphql",
        "application/json; charset=latin-1",
        "application/jsonp",
        "",
    ],
)
async def test_a_body_that_is_not_declared_json_is_refused(
    suite: Suite, content_type: str | None
) -> None:
    status, body = await post(suite, ME, content_type)
    assert status == 415
    refused(status, body)


async def test_a_form_encoded_body_is_refused(suite: Suite) -> None:
    status, body = await post(
        suite, b"query=%7B+me+%7B+id+%7D+%7D", "application/x-www-form-urlencoded"
    )
    assert status == 415
    refused(status, body)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("query", 5),
        ("query", ["{ me { id } }"]),
        ("query", {"text": "{ me { id } }"}),
        ("query", True),
        ("variables", [1]),
        ("variables", "{}"),
        ("variables", 5),
        ("operationName", 5),
        ("operationName", ["Me"]),
        ("operationName", {}),
        ("extensions", "x"),
        ("extensions", [1]),
    ],
)
async def test_a_member_of_the_wrong_type_is_refused_and_named(
    suite: Suite, member: str, value: Any
) -> None:
    request = {"query": "{ me { id } }", member: value}
    error = refused(*await post(suite, json.dumps(request).encode()))
    assert error["extensions"]["field"] == member


@pytest.mark.parametrize(
    "body", [b"{}", b'{"query": null}', b'{"query": ""}', b'{"variables": {}}']
)
async def test_a_request_without_a_query_is_refused(suite: Suite, body: bytes) -> None:
    error = refused(*await post(suite, body))
    assert error["extensions"]["field"] == "query"


@pytest.mark.parametrize(
    "number",
    [b"1e999999", b"-1e400", b"1" * 5000, b"-" + b"9" * 400, b"NaN", b"Infinity", b"-Infinity"],
)
async def test_numbers_no_machine_holds_are_refused(suite: Suite, number: bytes) -> None:
    body = b'{"query": "query($n: Int) { me { id } }", "variables": {"n": ' + number + b"}}"
    refused(*await post(suite, body))


async def test_ordinary_numbers_still_pass(suite: Suite) -> None:
    query = "query($n: Int) { me { hrId } customers(first: $n) { totalCount } }"
    body = json.dumps({"query": query, "variables": {"n": 12, "unused": -1.5e3}}).encode()
    status, answer = await post(suite, body)
    assert status == 200 and answer["data"]["me"] == {"hrId": "admin"}, answer


@pytest.mark.parametrize("depth", [40, 900, 100_000])
async def test_deeply_nested_json_is_refused(suite: Suite, depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    body = b'{"query": "{ me { id } }", "variables": {"deep": ' + nested + b"}}"
    refused(*await post(suite, body))


async def test_deeply_nested_objects_are_refused(suite: Suite) -> None:
    nested = b'{"a": ' * 5000 + b"1" + b"}" * 5000
    refused(*await post(suite, b'{"query": "{ me { id } }", "extensions": ' + nested + b"}"))


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_methods_other_than_get_and_post_are_refused(suite: Suite, method: str) -> None:
    status, body = await post(
        suite, b"", None, method=method, path="/graphql?query=%7B%20me%20%7B%20id%20%7D%20%7D"
    )
    assert status == 405
    refused(status, body)


async def test_a_mutation_by_get_is_refused(suite: Suite) -> None:
    # GraphQL over HTTP: queries may come by GET, mutations never.
    mutation = (
        "mutation%20%7B%20updateAlert(input%3A%20%7Bid%3A%20%22a%22%7D)%20%7B%20ok%20%7D%20%7D"
    )
    status, body = await post(suite, b"", None, method="GET", path=f"/graphql?query={mutation}")
    assert status == 405
    refused(status, body)


async def test_a_lone_surrogate_in_the_operation_name_is_refused(suite: Suite) -> None:
    body = b'{"query": "query Me { me { id } }", "operationName": "\\ud800"}'
    error = refused(*await post(suite, body))
    assert error["extensions"]["field"] == "operationName"


async def test_an_unknown_operation_name_is_refused(suite: Suite) -> None:
    body = b'{"query": "query Me { me { id } }", "operationName": "\\u4e0d\\u5728"}'
    refused(*await post(suite, body))


async def test_a_well_formed_request_still_answers(suite: Suite) -> None:
    status, body = await post(suite, ME, "application/json; charset=utf-8")
    assert status == 200 and body["data"] == {"me": {"hrId": "admin"}}, body
