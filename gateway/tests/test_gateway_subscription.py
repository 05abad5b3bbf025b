"""alertRaised over graphql-transport-ws in the embedded profile (SQLite polled by rowid)."""

from __future__ import annotations

from collections import Counter

import pytest
from websockets.exceptions import ConnectionClosed

from gateway.tests.conftest import StartSuite
from gateway.tests.support import Spans
from salesguard_gateway.app import MAX_SUBSCRIPTIONS_PER_CONNECTION
from tests.harness import Suite, employee_id
from tests.org import add_other_branch_rep, make_org
from tests.support.subscriptions import (
    ALERT_RAISED,
    SOURCES,
    GraphQLWebSocket,
    mock_location_alert_reaches_its_subscribers,
    mock_location_check_in,
    serve_gateway,
    until_watching,
    watching_alerts,
)


async def test_a_check_in_alert_reaches_hr_and_the_branch_manager_only(suite: Suite) -> None:
    await mock_location_alert_reaches_its_subscribers(suite, await make_org(suite))


async def test_a_failing_service_ends_the_subscription_with_a_typed_error(
    start_suite: StartSuite,
) -> None:
    suite = await start_suite()
    org = await make_org(suite)
    async with (
        serve_gateway(suite) as url,
        GraphQLWebSocket.open(url, suite.token(org.hr)) as hr,
    ):
        await hr.subscribe(ALERT_RAISED)
        await until_watching(suite, SOURCES)
        await suite.running["orders"].stop()
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
