"""Alerts under attack, from the wrong seat: nobody decides an alert about themselves, a
decided alert is revised by HR only, and a live feed ends (or runs nothing more) for a
subscriber who left, and refuses a bad filter with a typed error. The paths already
covered elsewhere (test_alert_feed, test_alert_history) are not repeated here.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql.execution.executor import Executor

from salesguard_gateway.schema.alerts import Alert
from tests.harness import Suite, employee_id, global_id, service_id
from tests.org import (
    UPSERT_EMPLOYEE,
    Org,
    add_other_branch_rep,
    admin,
    make_org,
    register,
)
from tests.support.alerts import HISTORY, UPDATE_ALERT, stored_alert
from tests.support.subscriptions import (
    ALERT_RAISED,
    SOURCES,
    GraphQLWebSocket,
    mock_location_check_in,
    serve_gateway,
    until_watching,
    watcher_count,
    watching_alerts,
)

ALERTS = f"""
query($filter: AlertFilter) {{
  alerts(first: 20, filter: $filter) {{ edges {{ node {{ id status resolution {HISTORY} }} }} }}
}}
"""


async def alert_node(suite: Suite, as_: str, employee: str, alert_id: str) -> dict[str, Any]:
    found = await suite.gql(ALERTS, {"filter": {"employeeId": employee_id(employee)}}, as_=as_)
    (node,) = [e["node"] for e in found.ok()["alerts"]["edges"] if e["node"]["id"] == alert_id]
    return dict(node)


# -- alert decisions ----------------------------------------------------------------------


async def second_manager_leaves(suite: Suite, org: Org) -> None:
    """``manager_2`` leaves the company, their customers to the branch pool."""
    await admin(
        suite,
        UPSERT_EMPLOYEE,
        {
            "hrId": org.manager_2,
            "name": "周经理",
            "roles": ["MANAGER"],
            "branchId": global_id("Branch", org.branch),
            "status": "LEFT",
            "toPool": True,
        },
    )


async def test_nobody_decides_an_alert_about_themselves(suite: Suite) -> None:
    """Clearing a FAKE_DEAL_SUSPECTED releases withheld commission (M2): a manager who
    submitted the deal must not clear the alert on it, nor HR an alert about HR."""
    org: Org = await make_org(suite)
    about_manager = global_id(
        "Alert",
        await stored_alert(
            suite, "orders", "FAKE_DEAL_SUSPECTED", employee_id=org.manager, branch_id=org.branch
        ),
    )
    # The manager does not even read it (SPEC §2: nobody reads their own case) ...
    own = await suite.gql(
        ALERTS, {"filter": {"employeeId": employee_id(org.manager)}}, as_=org.manager
    )
    assert own.ok()["alerts"]["edges"] == []
    # ... and deciding it in any way is refused, and leaves no trace.
    for status, resolution in (
        ("RESOLVED", "CLEARED"),
        ("DISMISSED", None),
        ("ACKNOWLEDGED", None),
    ):
        refused = await suite.gql(
            UPDATE_ALERT,
            {"input": {"id": about_manager, "status": status, "resolution": resolution}},
            as_=org.manager,
        )
        assert refused.codes == ["FORBIDDEN"], refused.body
        assert refused.data.get("updateAlert") is None
    untouched = await alert_node(suite, org.hr, org.manager, about_manager)
    assert (untouched["status"], untouched["history"]) == ("OPEN", [])

    # Another manager of the branch neither reads nor decides it: a manager's case is for
    # HR and headquarters (SPEC §2).
    peer = await suite.gql(
        UPDATE_ALERT,
        {"input": {"id": about_manager, "status": "ACKNOWLEDGED"}},
        as_=org.manager_2,
    )
    assert peer.codes == ["NOT_FOUND"], peer.body
    decided = await suite.gql(
        UPDATE_ALERT,
        {"input": {"id": about_manager, "status": "ACKNOWLEDGED"}},
        as_=org.hr,
    )
    assert decided.ok()["updateAlert"]["alert"]["history"] == [
        {"status": "ACKNOWLEDGED", "resolution": None, "by": {"id": employee_id(org.hr)}}
    ]

    # HR is refused on an alert about themselves too, and decides others'.
    about_hr = global_id(
        "Alert",
        await stored_alert(
            suite, "customers", "BULK_CONTACT_ACCESS", employee_id=org.hr, branch_id=org.hq
        ),
    )
    refused = await suite.gql(
        UPDATE_ALERT, {"input": {"id": about_hr, "status": "DISMISSED"}}, as_=org.hr
    )
    assert refused.codes == ["FORBIDDEN"], refused.body
    (
        await suite.gql(
            UPDATE_ALERT,
            {"input": {"id": about_manager, "status": "RESOLVED", "resolution": "CONFIRMED"}},
            as_=org.hr,
        )
    ).ok()


async def test_a_decided_alert_is_revised_by_hr_only(suite: Suite) -> None:
    """A DISMISSED alert releases withheld commission like a CLEARED one: a branch manager
    must not overturn HR's CONFIRMED finding on their own team's deal by dismissing it."""
    org = await make_org(suite)
    confirmed = global_id(
        "Alert",
        await stored_alert(
            suite, "orders", "FAKE_DEAL_SUSPECTED", employee_id=org.junior, branch_id=org.branch
        ),
    )
    (
        await suite.gql(
            UPDATE_ALERT,
            {"input": {"id": confirmed, "status": "RESOLVED", "resolution": "CONFIRMED"}},
            as_=org.hr,
        )
    ).ok()
    for status in ("DISMISSED", "ACKNOWLEDGED"):
        refused = await suite.gql(
            UPDATE_ALERT, {"input": {"id": confirmed, "status": status}}, as_=org.manager
        )
        assert refused.codes == ["FORBIDDEN"], refused.body
    kept = await alert_node(suite, org.hr, org.junior, confirmed)
    assert (kept["status"], kept["resolution"], len(kept["history"])) == (
        "RESOLVED",
        "CONFIRMED",
        1,
    )

    # A manager's dismissal is final for the managers too; HR may overrule it.
    dismissed = global_id(
        "Alert",
        await stored_alert(
            suite, "orders", "FAKE_DEAL_SUSPECTED", employee_id=org.junior, branch_id=org.branch
        ),
    )
    decide = {"id": dismissed, "status": "DISMISSED"}
    (await suite.gql(UPDATE_ALERT, {"input": decide}, as_=org.manager)).ok()
    again = {"id": dismissed, "status": "RESOLVED", "resolution": "CLEARED"}
    assert (await suite.gql(UPDATE_ALERT, {"input": again}, as_=org.manager_2)).codes == [
        "FORBIDDEN"
    ]
    overruled = {"id": dismissed, "status": "RESOLVED", "resolution": "CONFIRMED"}
    revised = (await suite.gql(UPDATE_ALERT, {"input": overruled}, as_=org.hr)).ok()
    assert [entry["by"]["id"] for entry in revised["updateAlert"]["alert"]["history"]] == [
        employee_id(org.manager),
        employee_id(org.hr),
    ]


# -- the live feed ------------------------------------------------------------------------


async def test_a_live_feed_ends_when_its_subscriber_leaves_the_company(suite: Suite) -> None:
    """The websocket was authenticated once, at connection_init: a manager who has left
    must not keep receiving the branch's alerts on a connection opened before."""
    org = await make_org(suite)
    base = watcher_count(suite)
    # Principals not cached: the departure shows on the next alert, not 30 s later.
    mock_locations = {"filter": {"kinds": ["MOCK_LOCATION"]}}
    async with watching_alerts(
        suite, mock_locations, org.manager_2, org.manager, principal_cache_seconds=0
    ) as (leaver, stayer):
        await second_manager_leaves(suite, org)
        await mock_location_check_in(suite, org.junior)
        # The manager who stays gets it; the one who left gets an error, never the alert.
        assert (await stayer.next_alert("MOCK_LOCATION", within=5))["employee"] == {
            "id": employee_id(org.junior)
        }
        ended = await leaver.receive(5)
        assert ended["type"] == "next" and ended["payload"].get("data") is None, ended
        assert [e["extensions"]["code"] for e in ended["payload"]["errors"]] == ["FORBIDDEN"]
        assert (await leaver.receive(5))["type"] == "complete"
        await until_watching(suite, base + SOURCES)


async def test_an_open_websocket_runs_nothing_more_for_someone_who_left(suite: Suite) -> None:
    """graphql-transport-ws also carries queries and mutations: a connection opened before
    the departure must not keep a departed manager's access to the branch's customers."""
    org = await make_org(suite)
    await register(suite, org.junior)
    customers = "query { customers(first: 5) { totalCount } }"
    async with (
        serve_gateway(suite, principal_cache_seconds=0) as url,
        GraphQLWebSocket.open(url, suite.token(org.manager_2)) as leaver,
    ):
        await leaver.subscribe(customers)
        answered = await leaver.receive(10)
        assert answered["payload"]["data"]["customers"]["totalCount"] >= 1, answered
        assert (await leaver.receive(10))["type"] == "complete"
        await second_manager_leaves(suite, org)
        await leaver.subscribe(customers)
        refused = await leaver.receive(10)
        assert refused["type"] == "next" and refused["payload"].get("data") is None, refused
        assert [e["extensions"]["code"] for e in refused["payload"]["errors"]] == ["FORBIDDEN"]
        assert (await leaver.receive(10))["type"] == "complete"


async def test_a_live_feed_with_a_bad_filter_is_refused_with_a_typed_error(suite: Suite) -> None:
    org = await make_org(suite)
    base = watcher_count(suite)
    async with (
        serve_gateway(suite) as url,
        GraphQLWebSocket.open(url, suite.token(org.hr)) as hr,
    ):
        bad_filters: list[tuple[dict[str, Any], str]] = [
            ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "filter.to"),
            ({"employeeId": employee_id("x" * 100)}, "filter.employee_id"),
            # More kinds than a request may name (the same one, the enum having fewer).
            ({"kinds": ["LATE_REGISTRATION"] * 60}, "filter.kinds"),
        ]
        for bad, field in bad_filters:
            await hr.subscribe(ALERT_RAISED, {"filter": bad})
            refused = await hr.receive(10)
            assert refused["type"] == "next" and refused["payload"].get("data") is None, refused
            (error,) = refused["payload"]["errors"]
            assert (error["extensions"]["code"], error["extensions"].get("field")) == (
                "VALIDATION",
                field,
            ), refused
            assert (await hr.receive(10))["type"] == "complete"
        # Nothing is left watching.
        await until_watching(suite, base)


# The alert's own fields only: executed once per alert, document and language for everyone.
ALERT_RAISED_OWN_FIELDS = """
subscription($filter: AlertFilter) {
  alertRaised(filter: $filter) { id kind source title status history { status byId } }
}
"""


async def test_subscribers_sharing_a_rendering_each_get_only_their_own_alerts(
    suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Subscriptions of the same document and language share one execution per alert; what
    each gets stays its own: two managers of one branch and the other branch's manager
    each get their branch's alerts only, and the one who leaves gets FORBIDDEN on the next
    alert while the other still gets it."""
    executions: list[str] = []
    original = Executor.execute_operation

    def counted(self: Executor[Any], serially: bool | None = None) -> Any:
        if isinstance(self.root_value, Alert):
            executions.append(self.root_value.id)
        return original(self, serially)

    monkeypatch.setattr(Executor, "execute_operation", counted)
    org = await make_org(suite)
    other_rep = await add_other_branch_rep(suite, org)
    base = watcher_count(suite)
    variables = {"filter": {"kinds": ["MOCK_LOCATION"]}}
    async with (
        serve_gateway(suite, principal_cache_seconds=0) as url,
        GraphQLWebSocket.open(url, suite.token(org.manager)) as manager,
        GraphQLWebSocket.open(url, suite.token(org.manager_2)) as leaver,
        GraphQLWebSocket.open(url, suite.token(org.other_manager)) as other_manager,
    ):
        for socket in (manager, leaver, other_manager):
            await socket.subscribe(ALERT_RAISED_OWN_FIELDS, variables)
        await until_watching(suite, base + 3 * SOURCES)

        await mock_location_check_in(suite, org.junior)
        first = await manager.next_alert("MOCK_LOCATION", within=5)
        assert await leaver.next_alert("MOCK_LOCATION", within=5) == first
        await other_manager.nothing_within(0.5)
        assert executions == [service_id(first["id"])]  # one execution for both managers

        await mock_location_check_in(suite, other_rep)
        theirs = await other_manager.next_alert("MOCK_LOCATION", within=5)
        assert theirs["id"] != first["id"]
        await manager.nothing_within(0.5)
        await leaver.nothing_within(0.1)

        await second_manager_leaves(suite, org)
        await mock_location_check_in(suite, org.junior)
        stayed = await manager.next_alert("MOCK_LOCATION", within=5)
        ended = await leaver.receive(5)
        assert ended["type"] == "next" and ended["payload"].get("data") is None, ended
        assert [e["extensions"]["code"] for e in ended["payload"]["errors"]] == ["FORBIDDEN"]
        assert (await leaver.receive(5))["type"] == "complete"
        await other_manager.nothing_within(0.5)
        assert len(executions) == 3 and executions[-1] == service_id(stayed["id"])
