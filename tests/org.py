"""A small company per test, created through the API by the bootstrap admin."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.harness import Suite, global_id, unique

UPSERT_BRANCH = """
mutation($input: UpsertBranchInput!) { upsertBranch(input: $input) { branch { id } } }
"""
UPSERT_TEAM = """
mutation($input: UpsertTeamInput!) { upsertTeam(input: $input) { team { id } } }
"""
UPSERT_EMPLOYEE = """
mutation($input: UpsertEmployeeInput!) { upsertEmployee(input: $input) { employee { id } } }
"""
REGISTER = """
mutation($input: RegisterCustomerInput!) {
  registerCustomer(input: $input) {
    customer { id code name phone email address maskedFields owner { id } }
    warnings
  }
}
"""
_phones = itertools.count(10_000_000)


@dataclass(frozen=True)
class Org:
    """One branch with two teams, a second branch, and one person per role.

    Each field is the HR key of the record (the directory's own ID; an employee's is
    the ``sub`` of their tokens); the API's IDs are ``global_id("Branch", org.branch)``,
    ``employee_id(org.junior)`` (tests.harness)."""

    branch: str
    other_branch: str
    hq: str
    team_a: str
    team_b: str
    junior: str  # team A
    junior_mate: str  # team A, the junior's teammate
    senior: str  # team A
    junior_b: str  # team B
    manager: str
    manager_2: str  # a second manager of the branch (approves exports)
    other_manager: str  # manager of the other branch
    hr: str
    finance: str
    admin: str = "admin"


async def make_org(suite: Suite) -> Org:
    prefix = unique("org")
    org = Org(
        branch=f"{prefix}-sh",
        other_branch=f"{prefix}-bj",
        hq=f"{prefix}-hq",
        team_a=f"{prefix}-ta",
        team_b=f"{prefix}-tb",
        junior=f"{prefix}-junior",
        junior_mate=f"{prefix}-mate",
        senior=f"{prefix}-senior",
        junior_b=f"{prefix}-junior-b",
        manager=f"{prefix}-manager",
        manager_2=f"{prefix}-manager2",
        other_manager=f"{prefix}-manager-bj",
        hr=f"{prefix}-hr",
        finance=f"{prefix}-finance",
    )
    for branch_id, hq in ((org.branch, False), (org.other_branch, False), (org.hq, True)):
        await admin(
            suite,
            UPSERT_BRANCH,
            {"hrId": branch_id, "name": branch_id, "timeZone": "Asia/Shanghai", "headquarters": hq},
        )
    for team_id in (org.team_a, org.team_b):
        await admin(
            suite,
            UPSERT_TEAM,
            {"hrId": team_id, "name": team_id, "branchId": global_id("Branch", org.branch)},
        )
    people: list[tuple[str, str, str | None, str, str]] = [
        (org.junior, "SALES_JUNIOR", org.team_a, org.branch, "李雷"),
        (org.junior_mate, "SALES_JUNIOR", org.team_a, org.branch, "韩梅梅"),
        (org.senior, "SALES_SENIOR", org.team_a, org.branch, "王芳"),
        (org.junior_b, "SALES_JUNIOR", org.team_b, org.branch, "赵强"),
        (org.manager, "MANAGER", None, org.branch, "陈经理"),
        (org.manager_2, "MANAGER", None, org.branch, "周经理"),
        (org.other_manager, "MANAGER", None, org.other_branch, "吴经理"),
        (org.hr, "HR", None, org.hq, "孙人事"),
        (org.finance, "FINANCE", None, org.hq, "钱财务"),
    ]
    for employee_id, role, team, branch, name in people:
        await add_employee(suite, employee_id, name, role, branch=branch, team=team)
    return org


async def admin(suite: Suite, mutation: str, values: dict[str, Any]) -> dict[str, Any]:
    return (await suite.gql(mutation, {"input": values}, as_="admin")).ok()


async def add_employee(
    suite: Suite, employee_id: str, name: str, role: str, *, branch: str, team: str | None = None
) -> dict[str, Any]:
    """Add an active employee of one role (as the administrator); the input it sent."""
    values = {
        "hrId": employee_id,
        "name": name,
        "roles": [role],
        "teamId": global_id("Team", team) if team else None,
        "branchId": global_id("Branch", branch),
        "status": "ACTIVE",
    }
    await admin(suite, UPSERT_EMPLOYEE, values)
    return values


async def add_hq_manager(suite: Suite, org: Org, hr_id: str | None = None) -> str:
    """Add a manager at the company's headquarters (``<hq>-manager`` unless ``hr_id``
    names them); their HR key."""
    hr_id = hr_id or f"{org.hq}-manager"
    await add_employee(suite, hr_id, "郑总", "MANAGER", branch=org.hq)
    return hr_id


async def add_other_branch_rep(suite: Suite, org: Org) -> str:
    """Add a junior rep of the other branch (``<other manager>-rep``); their HR key."""
    hr_id = f"{org.other_manager}-rep"
    await add_employee(suite, hr_id, "郑销售", "SALES_JUNIOR", branch=org.other_branch)
    return hr_id


def new_phone() -> str:
    """A fresh mobile number, written the way people type them: '+86 138 1234 5678'."""
    digits = f"{next(_phones):08d}"
    return f"+86 138 {digits[:4]} {digits[4:]}"


async def register(suite: Suite, as_: str, **values: Any) -> dict[str, Any]:
    """Register a customer (arguments as :func:`register_result`) and return it; fails the
    test on any error."""
    result = await register_result(suite, as_, **values)
    return dict(result.ok()["registerCustomer"]["customer"])


async def register_result(
    suite: Suite,
    as_: str,
    *,
    name: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    source: str = "WEBSITE",
    hours_since_contact: float = 1,
    **extra: Any,
) -> Any:
    values = {
        "name": name or unique("Customer"),
        "company": extra.pop("company", "Acme Trading"),
        "phone": phone or new_phone(),
        "email": email,
        "address": extra.pop("address", "上海市黄浦区南京东路 100 号"),
        "source": source,
        "firstContactAt": (datetime.now(UTC) - timedelta(hours=hours_since_contact)).isoformat(),
        **extra,
    }
    return await suite.gql(REGISTER, {"input": values}, as_=as_)
