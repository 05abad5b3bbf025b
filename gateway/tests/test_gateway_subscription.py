"""alertRaised over graphql-transport-ws in the embedded profile (SQLite polled by rowid)."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack

import pytest
from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse
from websockets.exceptions import ConnectionClosed

from gateway.tests.conftest import StartSuite
from gateway.tests.support import Spans
from salesguard_gateway.app import MAX_SUBSCRIPTIONS_PER_CONNECTION
from salesguard_gateway.schema import alerts_subscription
from salesguard_gateway.schema.alerts_sharing import _ALL, _PEERS, _UNSHARED, _shared_selection
from tests.harness import Suite, employee_id, global_id
from tests.org import UPSERT_EMPLOYEE, add_other_branch_rep, admin, make_org
from tests.support.subscriptions import (
    ALERT_RAISED,
    SOURCES,
    GraphQLWebSocket,
    mock_location_alert_reaches_its_subscribers,
    mock_location_check_in,
    serve_gateway,
    until_watching,
    watcher_count,
    watching_alerts,
)


async def test_a_check_in_alert_reaches_hr_and_the_branch_manager_only(suite: Suite) -> None:
    await mock_location_alert_reaches_its_subscribers(suite, await make_org(suite))


async def test_a_lasting_service_failure_ends_the_subscription_with_a_typed_error(
    start_suite: StartSuite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source that stays down past the retry budget (shortened here from 15 s) ends the
    subscription with its typed error, once; until then the client hears nothing."""
    monkeypatch.setattr(alerts_subscription, "RETRY_SECONDS", 3.0)
    suite = await start_suite()
    org = await make_org(suite)
    async with (
        serve_gateway(suite) as url,
        GraphQLWebSocket.open(url, suite.token(org.hr)) as hr,
    ):
        await hr.subscribe(ALERT_RAISED)
        await until_watching(suite, SOURCES)
        await suite.running["orders"].stop()
        await hr.nothing_within(2)
        ended = await hr.receive(10)
        assert ended["type"] == "next" and ended["payload"].get("data") is None, ended
        (error,) = ended["payload"]["errors"]
        assert error["extensions"]["code"] == "UNAVAILABLE"
        assert error["extensions"]["source"] == "orders"
        assert (await hr.receive(10))["type"] == "complete"
        # The other services' watches were cancelled with it.
        await until_watching(suite, 0)


async def test_an_unauthenticated_websocket_is_refused(suite: Suite) -> None:
    async with serve_gateway(suite) as url:
        # The gateway closes the socket (4403) instead of acknowledging connection_init.
        with pytest.raises(ConnectionClosed) as closed:
            await GraphQLWebSocket.open(url, "not-a-token").__aenter__()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_one_websocket_runs_a_bounded_number_of_subscriptions(suite: Suite) -> None:
    org = await make_org(suite)
    async with (
        serve_gateway(suite) as url,
        GraphQLWebSocket.open(url, suite.token(org.hr)) as hr,
    ):
        for _ in range(MAX_SUBSCRIPTIONS_PER_CONNECTION):
            await hr.subscribe(ALERT_RAISED)
        await until_watching(suite, MAX_SUBSCRIPTIONS_PER_CONNECTION * SOURCES)
        await hr.subscribe(ALERT_RAISED)
        refused = await hr.receive(10)  # the ones within the limit send nothing yet
        assert refused["type"] == "error", refused
        assert refused["id"] == str(MAX_SUBSCRIPTIONS_PER_CONNECTION + 1)
    await until_watching(suite, 0)


async def test_a_subscription_posted_over_http_is_refused_typed(suite: Suite) -> None:
    # Subscriptions run over graphql-transport-ws only; a POST used to run one as a query
    # and answer INTERNAL (null for the non-null alertRaised).
    org = await make_org(suite)
    reply = await suite.gql("subscription { alertRaised { id kind } }", as_=org.hr)
    assert reply.status == 400, reply.body
    assert reply.codes == ["VALIDATION"], reply.body
    assert reply.errors[0]["message"] == "subscriptions are not allowed when using POST"


async def test_peers_share_the_employee_link_and_another_branch_gets_neither_alert_nor_link(
    suite: Suite, spans: Spans
) -> None:
    """Two managers of one branch (the same scope but for their IDs) get the alert about
    their junior with one read of the junior between them; the other branch's manager,
    subscribed alongside, gets neither that alert nor its link, only their own branch's."""
    org = await make_org(suite)
    other_rep = await add_other_branch_rep(suite, org)
    async with watching_alerts(suite, {}, org.manager, org.manager_2, org.other_manager) as (
        manager,
        manager_2,
        other_manager,
    ):
        spans.clear()
        await mock_location_check_in(suite, org.junior)
        for socket in (manager, manager_2):
            alert = await socket.next_alert("MOCK_LOCATION", within=5)
            assert alert["employee"] == {"id": employee_id(org.junior)}
        await other_manager.nothing_within(0.5)
        assert Counter(spans.served())["BatchGetEmployees"] == 1

        spans.clear()
        await mock_location_check_in(suite, other_rep)
        theirs = await other_manager.next_alert("MOCK_LOCATION", within=5)
        assert theirs["employee"] == {"id": employee_id(other_rep)}
        await manager.nothing_within(0.5)
        await manager_2.nothing_within(0.5)
        assert Counter(spans.served())["BatchGetEmployees"] == 1


PEER_DOCUMENT = """
subscription { alertRaised { id kind employee { id name roles } history { by { id } } } }
"""
OWN_DOCUMENT = """
subscription { alertRaised { id kind employee { id name manager { id } } detectedOn } }
"""


async def test_an_execution_shared_by_peers_gives_each_what_their_own_would(suite: Suite) -> None:
    """Peers selecting the alert's employee share one execution; a document reading more as
    the caller (the employee's manager, the branch's day) runs per subscriber; all agree,
    and the other branch's manager gets none of it."""
    org = await make_org(suite)
    base = watcher_count(suite)
    async with AsyncExitStack() as stack, serve_gateway(suite) as url:
        manager, manager_2, other_manager = [
            await stack.enter_async_context(GraphQLWebSocket.open(url, suite.token(employee)))
            for employee in (org.manager, org.manager_2, org.other_manager)
        ]
        for socket in (manager, manager_2, other_manager):
            await socket.subscribe(PEER_DOCUMENT)
        await manager_2.subscribe(OWN_DOCUMENT)
        await until_watching(suite, base + 4 * SOURCES)
        await mock_location_check_in(suite, org.junior)
        junior = {"id": employee_id(org.junior), "name": "李雷", "roles": ["SALES_JUNIOR"]}
        shared = await manager.next_alert("MOCK_LOCATION", within=5)
        assert shared["employee"] == junior and shared["history"] == []
        received = [
            await manager_2.next_alert("MOCK_LOCATION", within=5),
            await manager_2.next_alert("MOCK_LOCATION", within=5),
        ]
        assert shared in received
        (own,) = [alert for alert in received if alert != shared]
        assert own["id"] == shared["id"] and own["employee"]["name"] == "李雷"
        assert own["employee"]["manager"] is None and own["detectedOn"]
        await other_manager.nothing_within(0.5)


@pytest.mark.parametrize(
    ("selection", "sharing"),
    [
        ("{ id title history { status } }", _ALL),
        ("{ id employee { id name } }", _PEERS),
        ("{ id history { by { id } } ...E } fragment E on Alert { employee { hrId } }", _PEERS),
        ("{ id employee { manager { id } } }", _UNSHARED),
        ("{ id employee { team { id } } }", _UNSHARED),
        ("{ id customer { id } }", _UNSHARED),
        ("{ id detectedOn }", _UNSHARED),
    ],
)
def test_which_selections_are_shared(selection: str, sharing: int) -> None:
    fields, _, fragment = selection.partition(" fragment ")
    document = parse(
        f"subscription {{ alertRaised {fields} }}" + (f" fragment {fragment}" if fragment else "")
    )
    operation, *fragments = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    (root,) = operation.selection_set.selections
    assert isinstance(root, FieldNode) and root.selection_set is not None
    named = {
        fragment.name.value: fragment
        for fragment in fragments
        if isinstance(fragment, FragmentDefinitionNode)
    }
    assert _shared_selection(root.selection_set, "Alert", named) == sharing


async def test_past_the_principal_ttl_a_subscriber_is_asked_about_again_only_when_changed(
    suite: Suite, spans: Spans
) -> None:
    """Before each alert the subscriber is checked again; with the directory watch live and
    nothing changed about them that costs no directory call, even past the cache's TTL; once
    they leave, the next alert ends the subscription."""
    org = await make_org(suite)
    async with watching_alerts(suite, {}, org.manager_2, principal_cache_seconds=0.2) as (manager,):
        await mock_location_check_in(suite, org.junior)
        await manager.next_alert("MOCK_LOCATION", within=5)
        await asyncio.sleep(0.5)  # past the TTL
        spans.clear()
        await mock_location_check_in(suite, org.junior)
        await manager.next_alert("MOCK_LOCATION", within=5)
        # The check-in's own request, through the suite's gateway (which caches nothing).
        assert Counter(spans.served())["ResolvePrincipal"] == 1

        leaving = {
            "hrId": org.manager_2,
            "name": "周经理",
            "roles": ["MANAGER"],
            "branchId": global_id("Branch", org.branch),
            "status": "LEFT",
            "toPool": True,
        }
        await admin(suite, UPSERT_EMPLOYEE, leaving)
        await mock_location_check_in(suite, org.junior)
        ended = await manager.receive(5)
        assert ended["type"] == "next" and ended["payload"].get("data") is None, ended
        assert [e["extensions"]["code"] for e in ended["payload"]["errors"]] == ["FORBIDDEN"]


LINK_DOCUMENT = "subscription { alertRaised { id kind employee { id name } } }"


async def _alerts_read(
    suite: Suite, spans: Spans, about: str, sockets: list[GraphQLWebSocket], name: str
) -> int:
    """Raise an alert about ``about``; each socket gets it, its employee named ``name``; how
    many BatchGetEmployees that cost."""
    spans.clear()
    await mock_location_check_in(suite, about)
    for socket in sockets:
        alert = await socket.next_alert("MOCK_LOCATION", within=5)
        assert alert["employee"] == {"id": employee_id(about), "name": name}
    return Counter(spans.served())["BatchGetEmployees"]


async def test_peers_keep_the_employee_link_across_alerts_until_the_directory_changes(
    suite: Suite, spans: Spans
) -> None:
    """Two managers of one branch read the junior once for the first alert about them and
    not for the next; once the junior is renamed (the directory watch reports it), the next
    alert reads them again and carries the new name."""
    org = await make_org(suite)
    base = watcher_count(suite)
    async with AsyncExitStack() as stack, serve_gateway(suite) as url:
        sockets = [
            await stack.enter_async_context(GraphQLWebSocket.open(url, suite.token(employee)))
            for employee in (org.manager, org.manager_2)
        ]
        for socket in sockets:
            await socket.subscribe(LINK_DOCUMENT)
        await until_watching(suite, base + 2 * SOURCES)
        assert await _alerts_read(suite, spans, org.junior, sockets, "李雷") == 1
        assert await _alerts_read(suite, spans, org.junior, sockets, "李雷") == 0

        renamed = {
            "hrId": org.junior,
            "name": "李雷雷",
            "roles": ["SALES_JUNIOR"],
            "teamId": global_id("Team", org.team_a),
            "branchId": global_id("Branch", org.branch),
            "status": "ACTIVE",
        }
        await admin(suite, UPSERT_EMPLOYEE, renamed)
        assert await _alerts_read(suite, spans, org.junior, sockets, "李雷雷") == 1
        assert await _alerts_read(suite, spans, org.junior, sockets, "李雷雷") == 0


async def test_a_kept_employee_link_is_not_shared_with_another_peer_scope_nor_past_its_ttl(
    suite: Suite, spans: Spans
) -> None:
    """The junior read for a branch manager is not what HR (another scope) is given: HR,
    subscribing after, reads the junior for themselves; past the TTL each reads again."""
    org = await make_org(suite)
    base = watcher_count(suite)
    async with AsyncExitStack() as stack, serve_gateway(suite, principal_cache_seconds=2) as url:
        manager = await stack.enter_async_context(
            GraphQLWebSocket.open(url, suite.token(org.manager))
        )
        await manager.subscribe(LINK_DOCUMENT)
        await until_watching(suite, base + SOURCES)
        assert await _alerts_read(suite, spans, org.junior, [manager], "李雷") == 1

        hr = await stack.enter_async_context(GraphQLWebSocket.open(url, suite.token(org.hr)))
        await hr.subscribe(LINK_DOCUMENT)
        await until_watching(suite, base + 2 * SOURCES)
        assert await _alerts_read(suite, spans, org.junior, [manager, hr], "李雷") == 1
        assert await _alerts_read(suite, spans, org.junior, [manager, hr], "李雷") == 0
        await asyncio.sleep(2.2)  # past the TTL
        assert await _alerts_read(suite, spans, org.junior, [manager, hr], "李雷") == 2
