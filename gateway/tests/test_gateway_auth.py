"""Authentication happens before GraphQL: bad tokens cost no gRPC call and get a clear 401."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from gateway.tests.conftest import GatewayFactory
from gateway.tests.gateway_fakes import SECRET, FakeService, auth, codes, gql, token
from salesguard.attendance.v1 import directory_pb2_grpc
from salesguard.grpc_client import ServiceChannels
from salesguard.settings import DEV_JWT_SECRET
from salesguard.tokens import TokenVerifier
from salesguard_gateway.auth import Authenticator

QUERY = {"query": "{ me { id } }"}
OTHER_SECRET = "not-" + "the-gateway-jwt-secret-but-as-long-as-it"


def _assert_refused(response: httpx.Response, status: int, code: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == code
    assert fragment in body["errors"][0]["message"]
    assert "data" not in body


@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        (None, "authentication required"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <token>'"),
        ("Bearer", "must be 'Bearer <token>'"),
        ("Bearer not.a.jwt", "invalid"),
        (f"Bearer {token(ttl=-60)}", "expired"),
        (f"Bearer {token(secret=OTHER_SECRET)}", "invalid"),
    ],
    ids=["missing", "not-bearer", "empty", "malformed", "expired", "wrong-secret"],
)
async def test_bad_tokens_get_401_without_any_call(
    gateway: httpx.AsyncClient,
    calls: Callable[[], list[str]],
    authorization: str | None,
    fragment: str,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await gateway.post("/graphql", json=QUERY, headers=headers)
    _assert_refused(response, 401, "UNAUTHENTICATED", fragment)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert calls() == []


async def test_unknown_employee_is_unauthenticated(
    gateway: httpx.AsyncClient, calls: Callable[[], list[str]]
) -> None:
    response = await gateway.post("/graphql", json=QUERY, headers=auth("NOBODY"))
    _assert_refused(response, 401, "UNAUTHENTICATED", "NOBODY is not in the people directory")
    assert calls() == ["ResolvePrincipal"]


@pytest.mark.parametrize(
    ("employee_id", "fragment"), [("GONE", "has left"), ("BENCHED", "is suspended")]
)
async def test_inactive_employees_are_forbidden(
    gateway: httpx.AsyncClient, employee_id: str, fragment: str
) -> None:
    response = await gateway.post("/graphql", json=QUERY, headers=auth(employee_id))
    _assert_refused(response, 403, "FORBIDDEN", fragment)


async def test_a_directory_refusal_is_503_not_500(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/graphql", json=QUERY, headers=auth("MISCONFIGURED"))
    _assert_refused(response, 503, "UNAVAILABLE", "cannot be resolved")


async def test_directory_down_is_503(make_gateway: GatewayFactory) -> None:
    gateway = await make_gateway(addresses={"attendance": "127.0.0.1:1"})
    response = await gateway.post("/graphql", json=QUERY, headers=auth())
    _assert_refused(response, 503, "UNAVAILABLE", "directory is unavailable")


async def test_principal_is_cached_and_forwarded(
    make_gateway: GatewayFactory, calls: Callable[[], list[str]], attendance: FakeService
) -> None:
    gateway = await make_gateway(principal_cache_seconds=60)
    for _ in range(3):
        status, body = await gql(gateway, "{ me { id name roles team { name } } }")
        assert status == 200 and body["data"]["me"] == {
            "id": "E1",
            "name": "Employee E1",
            "roles": ["MANAGER"],
            "team": {"name": "East"},
        }
    assert calls().count("ResolvePrincipal") == 1
    # The services saw the caller's principal (signed), not the gateway's own.
    log = attendance.log.calls
    assert ("ResolvePrincipal", "system:gateway") in log
    assert ("BatchGetEmployees", "E1") in log
    assert ("ListTeams", "E1") in log


async def test_graphiql_page_needs_no_token(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_unexpected_method_is_typed(gateway: httpx.AsyncClient) -> None:
    response = await gateway.put("/graphql", json=QUERY, headers=auth())
    assert response.status_code in (405, 400)
    assert codes(response.json()) == ["VALIDATION"]


class CountingVerifier(TokenVerifier):
    def __init__(self) -> None:
        super().__init__(secret=DEV_JWT_SECRET, jwks_url=None)
        self.calls = 0

    async def subject(self, token: str) -> str:
        self.calls += 1
        return await super().subject(token)


async def test_verified_tokens_are_reused_until_they_expire(
    monkeypatch: pytest.MonkeyPatch, attendance: FakeService
) -> None:
    verifier = CountingVerifier()
    channels = ServiceChannels({"attendance": attendance.address}, SECRET, 5)
    stub = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
    authenticator = Authenticator(verifier, lambda: stub, cache_seconds=60)
    short_lived = token(ttl=30)
    for _ in range(3):
        assert (await authenticator.authenticate(f"Bearer {short_lived}")).principal.id == "E1"
    assert verifier.calls == 1
    # Past the token's own expiry the cached verification no longer counts: it is verified
    # again (and PyJWT, on its own clock, is the judge of expiry).
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 31)
    await authenticator.authenticate(f"Bearer {short_lived}")
    assert verifier.calls == 2
    await channels.close()
