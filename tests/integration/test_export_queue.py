"""The export approval queue (C9): ``exportRequests`` lists what ``exportRequest`` shows.

A request is seen by its requester and by the managers who may decide it (its branch's; a
headquarters manager: any); a rep who did not request one sees none, HR only their own.
The list is that rule as one decision and one SQL filter (exports.py ``visible_to``), so
every seat's list is checked against ``exportRequest`` of the same requests.
"""

from __future__ import annotations

from typing import Any

from tests.harness import Suite, unique
from tests.org import Org, add_hq_manager, make_org, register
from tests.support.exports import DECIDE_EXPORT, request_export

EXPORT_REQUESTS = """
query($first: Int, $after: String, $filter: ExportRequestFilter) {
  exportRequests(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id status reason requester { id } } }
  }
}
"""
EXPORT_REQUEST = "query($id: ID!) { exportRequest(id: $id) { id status } }"
PENDING = {"statuses": ["PENDING"]}


async def listed(
    suite: Suite, as_: str, filter_: dict[str, Any] | None = None, first: int = 100
) -> list[dict[str, Any]]:
    """Every request ``as_`` is shown with the filter, page after page."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = (
            await suite.gql(
                EXPORT_REQUESTS, {"first": first, "after": after, "filter": filter_}, as_=as_
            )
        ).ok()["exportRequests"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def listed_ids(suite: Suite, as_: str, filter_: dict[str, Any] | None = None) -> set[str]:
    return {node["id"] for node in await listed(suite, as_, filter_)}


async def shown(suite: Suite, as_: str, request_id: str) -> bool:
    """Whether exportRequest(id) shows the request to ``as_`` (else NOT_FOUND)."""
    result = await suite.gql(EXPORT_REQUEST, {"id": request_id}, as_=as_)
    if result.errors:
        assert result.codes == ["NOT_FOUND"], result.body
        return False
    return bool(result.data.get("exportRequest"))


async def requests_of_every_branch(suite: Suite, org: Org) -> dict[str, str]:
    """A pending request by a manager of the branch, by the other branch's manager, and by
    HR (of headquarters): their IDs by who asked."""
    ours = await register(suite, org.junior)
    theirs = await register(suite, org.other_manager)
    return {
        "manager": (await request_export(suite, org.manager, [ours["id"]]))["id"],
        "other_manager": (await request_export(suite, org.other_manager, [theirs["id"]]))["id"],
        "hr": (await request_export(suite, org.hr, [ours["id"], theirs["id"]]))["id"],
    }


async def test_each_seat_lists_the_requests_it_may_see_as_export_request_decides(
    either_profile: Suite,
) -> None:
    suite = either_profile
    org = await make_org(suite)
    hq_manager = await add_hq_manager(suite, org)
    requests = await requests_of_every_branch(suite, org)
    everything = set(requests.values())

    expected = {
        # The requester sees their own; deciding it is another manager's.
        org.manager: {requests["manager"]},
        # Another manager of the branch may decide it: their queue.
        org.manager_2: {requests["manager"]},
        # Not another branch's request, and the other branch's manager not ours.
        org.other_manager: {requests["other_manager"]},
        # A headquarters manager decides any branch's.
        hq_manager: everything,
        # HR may request exports but decides none: only their own.
        org.hr: {requests["hr"]},
        # Reps request and decide none: nothing, as exportRequest is NOT_FOUND to them.
        org.junior: set(),
        org.senior: set(),
        org.finance: set(),
    }
    for seat, wanted in expected.items():
        pending = await listed_ids(suite, seat, PENDING)
        assert pending & everything == wanted, seat
        # Exactly what exportRequest shows the seat, request by request.
        for request_id in everything:
            assert (request_id in pending) == await shown(suite, seat, request_id), (
                seat,
                request_id,
            )
    # The queue of what each seat may decide: not the seat's own requests.
    awaiting = {"awaitingMyDecision": True}
    deciding = {
        org.manager: set(),
        org.manager_2: {requests["manager"]},
        org.other_manager: set(),
        hq_manager: everything,
        org.hr: set(),
        org.junior: set(),
    }
    for seat, wanted in deciding.items():
        assert await listed_ids(suite, seat, awaiting) & everything == wanted, seat
    # Only the hq manager's list spans the suite's other companies; the rest see no others.
    assert await listed_ids(suite, org.manager_2, PENDING) == {requests["manager"]}
    assert await listed_ids(suite, org.junior) == set()


async def test_a_decided_request_leaves_the_pending_queue(either_profile: Suite) -> None:
    suite = either_profile
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    first = await request_export(suite, org.manager, [customer["id"]], reason="first")
    second = await request_export(suite, org.manager, [customer["id"]], reason="second")
    assert await listed_ids(suite, org.manager_2, PENDING) == {first["id"], second["id"]}

    approved = await suite.gql(
        DECIDE_EXPORT,
        {"input": {"id": first["id"], "approve": True, "comment": "ok"}},
        as_=org.manager_2,
    )
    assert approved.ok()["decideExportRequest"]["exportRequest"]["status"] == "APPROVED"

    assert await listed_ids(suite, org.manager_2, PENDING) == {second["id"]}
    assert await listed_ids(suite, org.manager_2, {"awaitingMyDecision": True}) == {second["id"]}
    assert await listed_ids(suite, org.manager_2, {"statuses": ["APPROVED"]}) == {first["id"]}
    both = await listed(suite, org.manager_2)
    assert [(node["id"], node["status"]) for node in both] == [
        (second["id"], "PENDING"),
        (first["id"], "APPROVED"),
    ]
    either = {"statuses": ["APPROVED", "REJECTED"]}
    assert await listed_ids(suite, org.manager, either) == {first["id"]}
    # Still not the other branch's business.
    assert await listed_ids(suite, org.other_manager) == set()


async def test_pages_newest_first_with_cursors(either_profile: Suite) -> None:
    suite = either_profile
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    made = [
        (await request_export(suite, org.manager, [customer["id"]], reason=f"r{n}"))["id"]
        for n in range(5)
    ]
    newest_first = list(reversed(made))

    page = (
        await suite.gql(EXPORT_REQUESTS, {"first": 2, "filter": PENDING}, as_=org.manager_2)
    ).ok()["exportRequests"]
    assert [edge["node"]["id"] for edge in page["edges"]] == newest_first[:2]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]

    # From any edge's cursor the list goes on after that edge.
    after_first = (
        await suite.gql(
            EXPORT_REQUESTS,
            {"first": 2, "after": page["edges"][0]["cursor"], "filter": PENDING},
            as_=org.manager_2,
        )
    ).ok()["exportRequests"]
    assert [edge["node"]["id"] for edge in after_first["edges"]] == newest_first[1:3]

    walked = [node["id"] for node in await listed(suite, org.manager_2, PENDING, first=2)]
    assert walked == newest_first


async def test_bad_filter_and_page_input_is_validation(suite: Suite) -> None:
    org = await make_org(suite)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"first": 0}, "first"),
        ({"first": 1000}, "first"),
        ({"first": 10, "after": "not-a-cursor"}, "page.page_token"),
        ({"first": 10, "after": unique("x") * 200}, "page.page_token"),
    ]
    for variables, field in cases:
        result = await suite.gql(EXPORT_REQUESTS, variables, as_=org.manager)
        assert result.codes == ["VALIDATION"], (variables, result.body)
        assert result.errors[0]["extensions"].get("field") == field, (variables, result.errors)
    # A status that is not one of ExportStatus never reaches the service.
    bogus = await suite.gql(
        EXPORT_REQUESTS, {"first": 10, "filter": {"statuses": ["NOPE"]}}, as_=org.manager
    )
    assert bogus.codes == ["VALIDATION"], bogus.body
    assert not bogus.data.get("exportRequests")
