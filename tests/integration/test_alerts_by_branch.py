"""The alerts list and the live feed filtered by branch on the server (AlertFilter.branchId),
within the caller's scope: a manager never reaches another branch's alerts through it, the
totals and pages hold, and a bad branch ID is VALIDATION naming the field."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.harness import Suite, employee_id, global_id
from tests.org import Org, add_other_branch_rep, make_org
from tests.support.alerts import ALERTS_PAGE, stored_alert
from tests.support.subscriptions import (
    SOURCES,
    GraphQLWebSocket,
    serve_gateway,
    watch_alerts,
    watcher_count,
)

QUERY = ALERTS_PAGE


@dataclass(frozen=True)
class Branches:
    suite: Suite
    org: Org
    # A junior rep of the other branch.
    other_rep: str
    # The API IDs of the alerts stored in each branch, in every alert source.
    here: set[str]
    there: set[str]


@pytest.fixture
async def branches(either_profile: Suite) -> Branches:
    """A company on either profile with three alerts in its branch (one per alert source)
    and two in the other one."""
    suite = either_profile
    org = await make_org(suite)
    other_rep = await add_other_branch_rep(suite, org)
    now = datetime.now(UTC)

    async def stored(source: str, kind: str, employee: str, branch: str, hours_ago: int) -> str:
        alert_id = await stored_alert(
            suite,
            source,
            kind,
            employee_id=employee,
            branch_id=branch,
            detected_at=now - timedelta(hours=hours_ago),
        )
        return global_id("Alert", alert_id)

    here = {
        await stored("customers", "LATE_REGISTRATION", org.junior, org.branch, 1),
        await stored("attendance", "MOCK_LOCATION", org.senior, org.branch, 2),
        await stored("orders", "PAYER_MISMATCH", org.junior_b, org.branch, 3),
    }
    there = {
        await stored("attendance", "NEW_DEVICE", other_rep, org.other_branch, 1),
        await stored("orders", "FAKE_DEAL_SUSPECTED", other_rep, org.other_branch, 4),
    }
    return Branches(suite, org, other_rep, here, there)


async def listed(suite: Suite, as_: str, branch: str, first: int = 50) -> tuple[list[str], int]:
    """Every alert ``as_`` lists filtered by ``branch`` (a branch's HR key), page by page of
    ``first``; and the totalCount, the same on every page."""
    alert_filter = {"branchId": global_id("Branch", branch)}
    seen: list[str] = []
    totals: set[int] = set()
    after = None
    while True:
        result = await suite.gql(
            QUERY, {"filter": alert_filter, "first": first, "after": after}, as_=as_
        )
        connection = result.ok()["alerts"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        totals.add(connection["totalCount"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    (total,) = totals
    return seen, total


async def test_a_manager_filtering_by_their_branch_gets_exactly_its_alerts(
    branches: Branches,
) -> None:
    suite, org = branches.suite, branches.org
    seen, total = await listed(suite, org.manager, org.branch)
    assert set(seen) == branches.here and len(seen) == total == 3
    theirs, total = await listed(suite, org.other_manager, org.other_branch)
    assert set(theirs) == branches.there and len(theirs) == total == 2


async def test_another_branch_s_filter_gives_a_manager_nothing(branches: Branches) -> None:
    # The filter narrows the caller's scope, never widens it: the other branch's alerts
    # exist (HR lists them), and a manager asking for them by branch gets none.
    suite, org = branches.suite, branches.org
    assert await listed(suite, org.manager, org.other_branch) == ([], 0)
    assert await listed(suite, org.other_manager, org.branch) == ([], 0)
    assert await listed(suite, org.manager, org.hq) == ([], 0)


async def test_hr_filtering_by_each_branch_gets_its_alerts_across_pages(
    branches: Branches,
) -> None:
    suite, org = branches.suite, branches.org
    for branch, expected in ((org.branch, branches.here), (org.other_branch, branches.there)):
        # One alert a page: the merged cursor walks every source, the total on every page.
        seen, total = await listed(suite, org.hr, branch, first=1)
        assert len(seen) == len(set(seen)) == total == len(expected)
        assert set(seen) == expected
        assert await listed(suite, org.hr, branch) == (seen, total)


@pytest.mark.parametrize(
    ("branch_id", "field"),
    [
        # Another type's ID (an employee's), a branch ID too long for any directory record
        # (the services' check), and no global ID at all (the edge's, naming the input field).
        ("employee", "filter.branchId"),
        (global_id("Branch", "X" * 600), "filter.branch_id"),
        ("not-a-global-id", "branchId"),
    ],
)
async def test_a_bad_branch_id_is_validation_naming_the_field(
    either_profile: Suite, branch_id: str, field: str
) -> None:
    suite = either_profile
    org = await make_org(suite)
    value = employee_id(org.junior) if branch_id == "employee" else branch_id
    for caller in (org.hr, org.manager):
        result = await suite.gql(QUERY, {"filter": {"branchId": value}}, as_=caller)
        assert result.codes == ["VALIDATION"], result.body
        assert result.errors[0]["extensions"]["field"] == field


async def test_the_live_feed_with_a_branch_filter_sends_only_that_branch_s_alerts(
    either_profile: Suite,
) -> None:
    suite = either_profile
    org = await make_org(suite)
    other_rep = await add_other_branch_rep(suite, org)
    base = watcher_count(suite)

    def branch_filter(branch: str) -> dict[str, Any]:
        return {"filter": {"branchId": global_id("Branch", branch)}}

    async with AsyncExitStack() as stack, serve_gateway(suite) as url:

        async def open_as(employee: str) -> GraphQLWebSocket:
            return await stack.enter_async_context(
                GraphQLWebSocket.open(url, suite.token(employee))
            )

        hr_here, hr_there = await open_as(org.hr), await open_as(org.hr)
        manager_here, manager_there = await open_as(org.manager), await open_as(org.manager)
        await watch_alerts(suite, base, branch_filter(org.branch), hr_here, manager_here)
        await watch_alerts(
            suite, base + 2 * SOURCES, branch_filter(org.other_branch), hr_there, manager_there
        )

        there = await stored_alert(
            suite, "attendance", "NEW_DEVICE", employee_id=other_rep, branch_id=org.other_branch
        )
        here = await stored_alert(
            suite, "attendance", "NEW_DEVICE", employee_id=org.junior, branch_id=org.branch
        )
        to_hr_there = await hr_there.next_alert("NEW_DEVICE", within=5)
        to_hr_here = await hr_here.next_alert("NEW_DEVICE", within=5)
        to_manager_here = await manager_here.next_alert("NEW_DEVICE", within=5)
        assert to_hr_there["id"] == global_id("Alert", there)
        assert to_hr_there["employee"] == {"id": employee_id(other_rep)}
        assert to_hr_here["id"] == to_manager_here["id"] == global_id("Alert", here)
        # Nothing else: neither branch's subscribers get the other's alert, and a manager
        # asking for another branch's gets none of it (nor their own branch's).
        for socket in (hr_here, hr_there, manager_here):
            await socket.nothing_within(0.5)
        await manager_there.nothing_within(0.5)


async def test_filters_of_the_same_fields_with_other_values_each_get_their_own_alerts(
    branches: Branches,
) -> None:
    # A service keeps ListAlerts' statements by the filter fields given, their values
    # bound when each runs: lists of other lengths, other employees, other windows.
    suite, org = branches.suite, branches.org
    now = datetime.now(UTC)

    async def kinds_of(**alert_filter: Any) -> list[str]:
        result = await suite.gql(QUERY, {"filter": alert_filter, "first": 50}, as_=org.hr)
        return sorted(edge["node"]["kind"] for edge in result.ok()["alerts"]["edges"])

    for kinds, expected in (
        (["LATE_REGISTRATION"], ["LATE_REGISTRATION"]),
        (["MOCK_LOCATION", "PAYER_MISMATCH", "NEW_DEVICE"], ["MOCK_LOCATION", "PAYER_MISMATCH"]),
        (["NEW_DEVICE"], []),
    ):
        assert await kinds_of(kinds=kinds, branchId=global_id("Branch", org.branch)) == expected
    for employee, expected in (
        (org.junior, ["LATE_REGISTRATION"]),
        (branches.other_rep, ["FAKE_DEAL_SUSPECTED", "NEW_DEVICE"]),
    ):
        assert await kinds_of(employeeId=employee_id(employee)) == expected
    for hours, expected in ((2.5, ["NEW_DEVICE"]), (4.5, ["FAKE_DEAL_SUSPECTED", "NEW_DEVICE"])):
        window = {
            "from": (now - timedelta(hours=hours)).isoformat(),
            "to": (now + timedelta(minutes=5)).isoformat(),
        }
        assert await kinds_of(employeeId=employee_id(branches.other_rep), **window) == expected
