"""Who reads the case about an employee.

A manager used to read the alerts about themselves (with evidence), their risk
score and their timeline; only deciding was blocked. Nobody reads the alerts,
risk or timeline about themselves, HR included (an HR employee's case is for
other HR), and a manager's case is for HR and headquarters (their superior),
not for another manager of the branch.

FINANCE used to read every alert of every kind. It reads the deal, payment and
commission kinds only (SPEC §2), through every path: alerts, alertRaised and
the alerts' evidence anywhere else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from salesguard.subjects import DirectorySubjectRoles
from tests.harness import GraphQLResult, Suite, employee_id, global_id
from tests.org import UPSERT_EMPLOYEE, Org, admin, make_org
from tests.support.alerts import stored_alert
from tests.support.subscriptions import (
    watching_alerts,
)

ALERTS = """
query($filter: AlertFilter) {
  alerts(first: 100, filter: $filter) {
    totalCount edges { node { id kind evidence employee { id } } }
  }
}
"""
RISK = "query($id: ID!) { employeeRisk(employeeId: $id) { score evidence { id evidence } } }"
RANKING = """query($branch: ID) { riskRanking(branchId: $branch, first: 100) {
  employee { hrId } evidence { id } } }"""
TIMELINE = """
query($id: ID!, $from: DateTime!, $to: DateTime!) {
  employeeTimeline(employeeId: $id, from: $from, to: $to, first: 100) {
    edges { node { kind ... on AlertItem { alert { id evidence } } } }
  }
}
"""
UPDATE_ALERT = """mutation($input: UpdateAlertInput!) {
  updateAlert(input: $input) { alert { id status } } }"""
# The kinds finance reads (policy data), and kinds of every other source that it must not.
DEAL_KINDS = ("FAKE_DEAL_SUSPECTED", "PAYER_MISMATCH", "ATTRIBUTION_MISMATCH")
OTHER_KINDS = (
    ("customers", "LATE_REGISTRATION"),
    ("customers", "BULK_CONTACT_ACCESS"),
    ("attendance", "PHOTO_REUSED"),
)


@dataclass(frozen=True)
class World:
    org: Org
    hq_manager: str
    # Alert IDs (the API's) by the employee they are about.
    about: dict[str, str]


async def upsert_manager(suite: Suite, hr_id: str, name: str, branch: str) -> None:
    """Make ``hr_id`` a manager of ``branch`` (new, or promoted), as the administrator."""
    values = {
        "hrId": hr_id,
        "name": name,
        "roles": ["MANAGER"],
        "branchId": global_id("Branch", branch),
    }
    await admin(suite, UPSERT_EMPLOYEE, values)


@pytest.fixture(scope="module")
async def world(suite: Suite) -> World:
    org = await make_org(suite)
    hq_manager = f"{org.branch}-hq-manager"
    await upsert_manager(suite, hq_manager, "总部经理", org.hq)
    about: dict[str, str] = {}
    for employee, branch in (
        (org.manager, org.branch),
        (org.manager_2, org.branch),
        (org.junior, org.branch),
        (org.hr, org.hq),
    ):
        alert_id = await stored_alert(
            suite,
            "orders",
            "FAKE_DEAL_SUSPECTED",
            employee_id=employee,
            branch_id=branch,
            evidence={"order_code": f"O-{employee}", "days_past_due": 9},
        )
        about[employee] = global_id("Alert", alert_id)
    return World(org, hq_manager, about)


def window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(days=30)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }


async def alert_ids(suite: Suite, as_: str, **filter_: Any) -> set[str]:
    """The API IDs of the alerts ``as_`` lists; ``employeeId`` is an HR key."""
    if "employeeId" in filter_:
        filter_["employeeId"] = employee_id(filter_["employeeId"])
    found = (await suite.gql(ALERTS, {"filter": filter_}, as_=as_)).ok()["alerts"]
    return {edge["node"]["id"] for edge in found["edges"]}


async def timeline_alerts(suite: Suite, as_: str, employee: str) -> GraphQLResult:
    return await suite.gql(TIMELINE, {"id": employee_id(employee), **window()}, as_=as_)


async def employee_risk(suite: Suite, as_: str, employee: str) -> GraphQLResult:
    return await suite.gql(RISK, {"id": employee_id(employee)}, as_=as_)


async def risk_ranking(suite: Suite, as_: str, branch: str) -> GraphQLResult:
    return await suite.gql(RANKING, {"branch": global_id("Branch", branch)}, as_=as_)


async def ranked_hr_ids(suite: Suite, as_: str, branch: str) -> set[str]:
    """The HR keys of the employees ``as_`` sees in the risk ranking of ``branch``."""
    ranked = (await risk_ranking(suite, as_, branch)).ok()
    return {entry["employee"]["hrId"] for entry in ranked["riskRanking"]}


def refused(result: GraphQLResult, field: str) -> None:
    assert result.codes == ["FORBIDDEN"], result.body
    assert result.data.get(field) is None, result.body


async def risk_and_timeline_refused(suite: Suite, as_: str, employee: str) -> None:
    """``as_`` reads neither the risk score nor the timeline about ``employee``."""
    refused(await employee_risk(suite, as_, employee), "employeeRisk")
    refused(await timeline_alerts(suite, as_, employee), "employeeTimeline")


# -- nobody reads a case about themselves -----------------------------------------------------


async def test_a_manager_reads_no_alert_risk_or_timeline_about_themselves(
    suite: Suite, world: World
) -> None:
    org, mine = world.org, world.about[world.org.manager]
    assert await alert_ids(suite, org.manager, employeeId=org.manager) == set()
    assert mine not in await alert_ids(suite, org.manager)
    await risk_and_timeline_refused(suite, org.manager, org.manager)
    ranked_ids = await ranked_hr_ids(suite, org.manager, org.branch)
    assert org.junior in ranked_ids and not {org.manager, org.manager_2} & ranked_ids
    # Their own team's case stays theirs to read.
    assert world.about[org.junior] in await alert_ids(suite, org.manager, employeeId=org.junior)
    junior_risk = (await employee_risk(suite, org.manager, org.junior)).ok()
    assert [alert["id"] for alert in junior_risk["employeeRisk"]["evidence"]] == [
        world.about[org.junior]
    ]


async def test_hr_reads_no_case_about_themselves(suite: Suite, world: World) -> None:
    org = world.org
    assert await alert_ids(suite, org.hr, employeeId=org.hr) == set()
    await risk_and_timeline_refused(suite, org.hr, org.hr)
    # The headquarters manager reads HR's case (as would other HR).
    assert await alert_ids(suite, world.hq_manager, employeeId=org.hr) == {world.about[org.hr]}


async def test_a_managers_case_is_for_hr_and_headquarters(suite: Suite, world: World) -> None:
    org, about_manager = world.org, world.about[world.org.manager]
    # Another manager of the branch reads none of it and cannot decide it ...
    assert await alert_ids(suite, org.manager_2, employeeId=org.manager) == set()
    await risk_and_timeline_refused(suite, org.manager_2, org.manager)
    ranked_ids = await ranked_hr_ids(suite, org.manager_2, org.branch)
    assert org.junior in ranked_ids and not {org.manager, org.manager_2} & ranked_ids
    decided = await suite.gql(
        UPDATE_ALERT,
        {"input": {"id": about_manager, "status": "ACKNOWLEDGED"}},
        as_=org.manager_2,
    )
    assert decided.codes == ["NOT_FOUND"], decided.body
    # ... HR and the headquarters manager read all of it, evidence included.
    for superior in (org.hr, world.hq_manager):
        found = (
            await suite.gql(
                ALERTS, {"filter": {"employeeId": employee_id(org.manager)}}, as_=superior
            )
        ).ok()
        [edge] = found["alerts"]["edges"]
        assert edge["node"]["evidence"]["order_code"] == f"O-{org.manager}"
        risk = (await employee_risk(suite, superior, org.manager)).ok()["employeeRisk"]
        assert [alert["id"] for alert in risk["evidence"]] == [about_manager]
        timeline = (await timeline_alerts(suite, superior, org.manager)).ok()
        assert about_manager in {
            edge["node"]["alert"]["id"]
            for edge in timeline["employeeTimeline"]["edges"]
            if edge["node"]["kind"] == "ALERT"
        }
        assert {org.junior, org.manager, org.manager_2} <= await ranked_hr_ids(
            suite, superior, org.branch
        )


async def test_alert_raised_leaves_out_the_subscribers_own_case(suite: Suite, world: World) -> None:
    org = world.org
    kinds = {"filter": {"kinds": ["UNREGISTERED_CUSTOMER"]}}
    async with watching_alerts(suite, kinds, org.manager, org.hr) as (manager, hr):
        own = await stored_alert(
            suite, "orders", "UNREGISTERED_CUSTOMER", employee_id=org.manager, branch_id=org.branch
        )
        assert (await hr.next_alert("UNREGISTERED_CUSTOMER", 10))["id"] == global_id("Alert", own)
        await manager.nothing_within(1.5)
        junior = await stored_alert(
            suite, "orders", "UNREGISTERED_CUSTOMER", employee_id=org.junior, branch_id=org.branch
        )
        assert (await manager.next_alert("UNREGISTERED_CUSTOMER", 10))["id"] == global_id(
            "Alert", junior
        )


# -- finance reads only its alert kinds --------------------------------------------------------


async def test_finance_reads_deal_payment_and_commission_alerts_only(
    suite: Suite, world: World
) -> None:
    org = world.org
    deal = {
        kind: global_id(
            "Alert",
            await stored_alert(
                suite, "orders", kind, employee_id=org.junior_b, branch_id=org.branch
            ),
        )
        for kind in DEAL_KINDS
    }
    other = {
        kind: global_id(
            "Alert",
            await stored_alert(suite, source, kind, employee_id=org.junior_b, branch_id=org.branch),
        )
        for source, kind in OTHER_KINDS
    }
    seen = await alert_ids(suite, org.finance, employeeId=org.junior_b)
    assert seen == set(deal.values()), seen
    for kind, alert_id in other.items():
        assert await alert_ids(suite, org.finance, kinds=[kind]) & {alert_id} == set()
        # HR still reads them.
        assert alert_id in await alert_ids(suite, org.hr, employeeId=org.junior_b, kinds=[kind])
    # Finance has no other path to an alert's evidence: no timelines, no risk.
    await risk_and_timeline_refused(suite, org.finance, org.junior_b)
    refused(await risk_ranking(suite, org.finance, org.branch), "riskRanking")


async def test_alert_raised_sends_finance_only_its_kinds(suite: Suite, world: World) -> None:
    org = world.org
    mates = {"filter": {"employeeId": employee_id(org.junior_mate)}}
    async with watching_alerts(suite, mates, org.finance) as (finance,):
        for source, kind in OTHER_KINDS:
            await stored_alert(
                suite, source, kind, employee_id=org.junior_mate, branch_id=org.branch
            )
        await finance.nothing_within(1.5)
        payer = await stored_alert(
            suite, "orders", "PAYER_MISMATCH", employee_id=org.junior_mate, branch_id=org.branch
        )
        assert (await finance.next_alert("PAYER_MISMATCH", 10))["id"] == global_id("Alert", payer)


async def test_own_case_and_finance_kinds_hold_on_the_embedded_profile(
    embedded_suite: Suite,
) -> None:
    """The same limits with regopy and SQLite (`make run`)."""
    suite = embedded_suite
    org = await make_org(suite)
    about_manager = global_id(
        "Alert",
        await stored_alert(
            suite, "orders", "FAKE_DEAL_SUSPECTED", employee_id=org.manager, branch_id=org.branch
        ),
    )
    late = global_id(
        "Alert",
        await stored_alert(
            suite, "customers", "LATE_REGISTRATION", employee_id=org.junior, branch_id=org.branch
        ),
    )
    assert await alert_ids(suite, org.manager, employeeId=org.manager) == set()
    assert await alert_ids(suite, org.manager_2, employeeId=org.manager) == set()
    assert await alert_ids(suite, org.hr, employeeId=org.manager) == {about_manager}
    refused(await employee_risk(suite, org.manager, org.manager), "employeeRisk")
    refused(await timeline_alerts(suite, org.manager_2, org.manager), "employeeTimeline")
    assert await alert_ids(suite, org.finance, employeeId=org.manager) == {about_manager}
    assert late not in await alert_ids(suite, org.finance, employeeId=org.junior)
    assert late in await alert_ids(suite, org.manager, employeeId=org.junior)


async def test_role_holders_come_from_the_directory_cached_as_configured(suite: Suite) -> None:
    org = await make_org(suite)
    channels = suite.running["orders"].runtime.channels
    cached = DirectorySubjectRoles(channels, "orders", ttl_seconds=300)
    uncached = DirectorySubjectRoles(channels, "orders", ttl_seconds=0)
    managers = frozenset({"MANAGER"})
    before = await cached.holders(managers)
    assert {org.manager, org.manager_2, org.other_manager} <= before
    assert org.junior not in before and org.hr not in before
    assert await cached.holders(frozenset({"SYSTEM"})) == frozenset()  # no employee holds it
    await upsert_manager(suite, org.junior, "李雷", org.branch)  # a promotion
    assert org.junior in await uncached.holders(managers)
    assert await cached.holders(managers) == before


async def test_cached_role_holders_follow_the_directory_watch(suite: Suite) -> None:
    """With the directory watch live, a promotion reaches the filters on the next decision,
    however long the holders may otherwise be cached (SPEC §2: a role change takes effect
    on the next request)."""
    org = await make_org(suite)
    runtime = suite.running["orders"].runtime
    followed = DirectorySubjectRoles(runtime.channels, "orders", ttl_seconds=300)
    followed.follow(runtime.directory.generation)
    managers = frozenset({"MANAGER"})
    deadline = asyncio.get_running_loop().time() + 20
    while runtime.directory.generation() is None:  # the watch opens on first use
        assert asyncio.get_running_loop().time() < deadline, "the directory watch never went live"
        await asyncio.sleep(0.05)
    assert org.junior_mate not in await followed.holders(managers)
    await upsert_manager(suite, org.junior_mate, "韩梅梅", org.branch)  # a promotion
    # upsertEmployee answers once the change reached the watches it serves.
    assert org.junior_mate in await followed.holders(managers)
