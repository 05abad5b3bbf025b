"""What the leaver tests share: the operations, an employee's changes as the admin sends
them, a customer left to the pool, a caller's me, a refusal, the customers someone owns and a warmed cache.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from salesguard_customers.models import Customer
from tests.harness import GraphQLResult, Suite, global_id, unique
from tests.org import UPSERT_EMPLOYEE, Org, admin, register

ME = "{ me { id hrId roles team { id } branch { id } } }"
CUSTOMERS = "{ customers(first: 100) { totalCount edges { node { id } } } }"
UPSERT_BRANCH = """
mutation($input: UpsertBranchInput!) { upsertBranch(input: $input) { branch { id } } }
"""
CLAIM = """
mutation($input: ClaimCustomerInput!) { claimCustomer(input: $input) { customer { id } } }
"""


def rep(org: Org, **changes: Any) -> dict[str, Any]:
    """The upsertEmployee input of a fresh junior rep of the org's team A (the default cache):
    ``hrId`` is their HR key (their tokens' ``sub``), ``teamId``/``branchId`` API IDs."""
    return {
        "hrId": unique(f"{org.branch}-rep"),
        "name": "临时销售",
        "roles": ["SALES_JUNIOR"],
        "teamId": global_id("Team", org.team_a),
        "branchId": global_id("Branch", org.branch),
        "status": "ACTIVE",
        **changes,
    }


def departure(employee: dict[str, Any], status: str) -> dict[str, Any]:
    """``employee`` LEFT (handing their customers to the pool) or SUSPENDED."""
    return employee | {"status": status} | ({"toPool": True} if status == "LEFT" else {})


async def pooled_customer(
    suite: Suite, org: Org, owner: str, name: str, team: str
) -> dict[str, Any]:
    """A customer in the pool: registered by ``owner`` (a junior rep of ``team``, called
    ``name``), who has then left and handed it to the pool."""
    customer = await register(suite, owner)
    leaving = departure(rep(org, hrId=owner, name=name, teamId=global_id("Team", team)), "LEFT")
    await admin(suite, UPSERT_EMPLOYEE, leaving)
    return customer


async def me(suite: Suite | httpx.AsyncClient, employee_id: str) -> GraphQLResult:
    if isinstance(suite, Suite):
        return await suite.gql(ME, as_=employee_id)
    response = await suite.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {Suite.token(employee_id)}"},
    )
    return GraphQLResult(response.status_code, response.json())


def assert_forbidden(result: GraphQLResult) -> None:
    assert result.status == 403, result.body
    assert result.codes == ["FORBIDDEN"], result.body


async def customers_owned_by(suite: Suite, employee_id: str) -> int:
    async with suite.running["customers"].runtime.db.read() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Customer).where(Customer.owner_id == employee_id)
            )
            or 0
        )


async def warm(suite: Suite, employee_id: str) -> None:
    """Two answered requests: the gateway now holds the employee's principal (their HR key)."""
    for _ in range(2):
        assert (await me(suite, employee_id)).ok()["me"]["hrId"] == employee_id
