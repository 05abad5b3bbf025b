"""Authentication happens before GraphQL: bad tokens cost no gRPC call and get a clear 401."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from gateway.tests.conftest import StartSuite
from gateway.tests.support import Spans, auth, codes_of, node_ids, token
from salesguard.grpc_client import ServiceChannels
from salesguard.tokens import TokenVerifier
from salesguard_api.attendance.v1 import directory_pb2_grpc
from salesguard_gateway.auth import Authenticator
from tests.harness import JWT_SECRET, Suite, employee_id, global_id, unique
from tests.org import UPSERT_EMPLOYEE, Org, add_employee, admin, make_org, register

QUERY = {"query": "{ me { id } }"}
OTHER_SECRET = "not-" + "the-gateway-jwt-secret-but-as-long-as-it"
ROTATED_INTERNAL_SECRET = "rotated-" + "on-the-gateway-only-0123456789"


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
        (f"Bearer {token('admin', ttl=-60)}", "expired"),
        (f"Bearer {token('admin', secret=OTHER_SECRET)}", "invalid"),
    ],
    ids=["missing", "not-bearer", "empty", "malformed", "expired", "wrong-secret"],
)
async def test_bad_tokens_get_401_without_any_call(
    suite: Suite, calls: Callable[[], list[str]], authorization: str | None, fragment: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await suite.client.post("/graphql", json=QUERY, headers=headers)
    _assert_refused(response, 401, "UNAUTHENTICATED", fragment)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert calls() == []


async def test_unknown_employee_is_unauthenticated(
    suite: Suite, calls: Callable[[], list[str]]
) -> None:
    response = await suite.client.post("/graphql", json=QUERY, headers=auth("NOBODY"))
    _assert_refused(response, 401, "UNAUTHENTICATED", "NOBODY is not in the people directory")
    # The directory's span ends once its handler has unwound, which for an error reply
    # can be just after the gateway has the answer.
    await asyncio.sleep(0.1)
    assert calls() == ["ResolvePrincipal"]


@pytest.mark.parametrize(
    ("status", "fragment"), [("LEFT", "has left"), ("SUSPENDED", "is suspended")]
)
async def test_inactive_employees_are_forbidden(
    suite: Suite, org: Org, status: str, fragment: str
) -> None:
    hr_id = unique(f"{org.branch}-{status.lower()}")
    employee = await add_employee(
        suite, hr_id, "Former rep", "SALES_JUNIOR", branch=org.branch, team=org.team_a
    )
    assert (await suite.client.post("/graphql", json=QUERY, headers=auth(hr_id))).is_success
    # The directory records the new status; the very next request is refused (no cached principal).
    # Leaving hands the employee's customers over (C6): here to the branch pool.
    handover = {"toPool": True} if status == "LEFT" else {}
    await admin(suite, UPSERT_EMPLOYEE, employee | {"status": status} | handover)
    response = await suite.client.post("/graphql", json=QUERY, headers=auth(hr_id))
    _assert_refused(response, 403, "FORBIDDEN", f"employee {hr_id} {fragment}")


async def test_a_directory_refusing_the_gateway_is_503_not_401(
    start_suite: StartSuite,
) -> None:
    # A platform mistake: the gateway signs principals with a secret the services do not share.
    suite = await start_suite(internal_secret=ROTATED_INTERNAL_SECRET)
    response = await suite.client.post("/graphql", json=QUERY, headers=auth("admin"))
    _assert_refused(response, 503, "UNAVAILABLE", "cannot be resolved")


async def test_directory_down_is_503(start_suite: StartSuite) -> None:
    suite = await start_suite()
    await suite.running["attendance"].stop()
    response = await suite.client.post("/graphql", json=QUERY, headers=auth("admin"))
    _assert_refused(response, 503, "UNAVAILABLE", "directory is unavailable")


async def test_principal_is_cached_and_forwarded(start_suite: StartSuite, spans: Spans) -> None:
    suite = await start_suite(principal_cache_seconds=60)
    org = await make_org(suite)
    spans.clear()
    for _ in range(3):
        data = (
            await suite.gql("{ me { id name roles team { id } branch { id } } }", as_=org.junior)
        ).ok()
        assert data["me"] == {
            "id": employee_id(org.junior),
            "name": "李雷",
            "roles": ["SALES_JUNIOR"],
            "team": {"id": global_id("Team", org.team_a)},
            "branch": {"id": global_id("Branch", org.branch)},
        }
    assert Counter(spans.served())["ResolvePrincipal"] == 1
    mine = await register(suite, org.junior)
    await register(suite, org.junior_b)
    # The services enforce their policies on the caller's principal, not on the gateway's own
    # SYSTEM one (which may read everything): a junior sees their own team and customers only.
    employees = "{ employees(first: 50) { edges { node { id } } } }"
    assert sorted(await node_ids(suite, employees, org.junior)) == sorted(
        [employee_id(org.junior), employee_id(org.junior_mate), employee_id(org.senior)]
    )
    customers = "{ customers(first: 50) { edges { node { id } } } }"
    assert await node_ids(suite, customers, org.junior) == [mine["id"]]


async def test_me_comes_with_the_principal_and_follows_the_directory(
    start_suite: StartSuite, spans: Spans
) -> None:
    """`me` is answered from the record ResolvePrincipal sent with the principal: no directory
    call per request, and a change of the record (here a rename) is seen on the next request,
    as the watch drops the cached principal with it."""
    suite = await start_suite(principal_cache_seconds=60)
    org = await make_org(suite)
    query = "{ me { id hrId name status } }"
    spans.clear()
    for _ in range(3):
        result = await suite.gql(query, as_=org.junior)
        assert result.ok()["me"] == {
            "id": employee_id(org.junior),
            "hrId": org.junior,
            "name": "李雷",
            "status": "ACTIVE",
        }
        assert result.body["extensions"]["rpcCalls"] == {}
    assert Counter(spans.served()) == Counter({"ResolvePrincipal": 1})
    values = await add_employee(
        suite, org.junior, "李雷雷", "SALES_JUNIOR", branch=org.branch, team=org.team_a
    )
    assert values["name"] == "李雷雷"
    assert (await suite.gql(query, as_=org.junior)).ok()["me"]["name"] == "李雷雷"


async def test_graphiql_page_needs_no_token(suite: Suite) -> None:
    response = await suite.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_unexpected_method_is_typed(suite: Suite) -> None:
    response = await suite.client.put("/graphql", json=QUERY, headers=auth("admin"))
    assert response.status_code in (405, 400)
    assert codes_of(response.json()) == ["VALIDATION"]


class CountingVerifier(TokenVerifier):
    def __init__(self) -> None:
        super().__init__(secret=JWT_SECRET, jwks_url=None)
        self.calls = 0

    async def subject(self, token: str) -> str:
        self.calls += 1
        return await super().subject(token)


async def test_verified_tokens_are_reused_until_they_expire(
    monkeypatch: pytest.MonkeyPatch, suite: Suite
) -> None:
    attendance = suite.running["attendance"]
    verifier = CountingVerifier()
    channels = ServiceChannels(
        {"attendance": attendance.address}, attendance.runtime.internal_secret, 5
    )
    stub = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
    authenticator = Authenticator(verifier, lambda: stub, cache_seconds=60)
    short_lived = token("admin", ttl=30)
    try:
        for _ in range(3):
            caller = await authenticator.authenticate(f"Bearer {short_lived}")
            assert caller.principal.id == "admin" and caller.principal.roles == ("ADMIN",)
        assert verifier.calls == 1
        # Past the token's own expiry the cached verification no longer counts: it is verified
        # again (and PyJWT, on its own clock, is the judge of expiry).
        real_time = time.time
        monkeypatch.setattr(time, "time", lambda: real_time() + 31)
        await authenticator.authenticate(f"Bearer {short_lived}")
        assert verifier.calls == 2
    finally:
        await authenticator.close()
        await channels.close()
