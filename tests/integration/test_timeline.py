"""``employeeTimeline`` (SPEC G4) on the full profile: PostgreSQL, OPA, S3, gRPC.

One rep's field day, deals and traces, as HR and managers pull them: every kind of
evidence in one timeline, newest first; who may read it (HR anyone, a manager their
branch, nobody else, not even through one kind); paging that returns every item once;
and bad input refused with the field named.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from salesguard_gateway.schema.common import encode_state
from tests.harness import Suite, employee_id, unique
from tests.org import Org, make_org, register
from tests.support.field_visits import IMPORT_CALLS, call, check_in
from tests.support.payments import bank_line
from tests.support.timeline import TIMELINE, record_follow_up, somewhere_of_its_own, submit_order

SHANGHAI = ZoneInfo("Asia/Shanghai")  # make_org's branches

CUSTOMER = "query($id: ID!) { customer(id: $id) { id phone } }"
DECIDE = """mutation($input: DecideOrderInput!) {
  decideOrder(input: $input) { order { id status } } }"""
RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) { payment { id } } }"""
RECORD_SHIPMENT = """mutation($input: RecordShipmentInput!) {
  recordShipment(input: $input) { shipment { id } } }"""


def item_id(node: dict[str, Any]) -> str:
    """The ID of whatever the item holds (an approval: its order and step)."""
    for key in ("checkIn", "followUp", "call", "order", "payment", "shipment", "event", "alert"):
        if key in node and node[key] is not None:
            return str(node[key]["id"])
    return f"{node['orderCode']}:{node['step']['approverId']}"


async def timeline(
    suite: Suite, as_: str, employee: str, start: datetime, end: datetime, **extra: Any
) -> Any:
    """``employee``'s timeline (their HR key)."""
    values = {
        "employeeId": employee_id(employee),
        "from": start.isoformat(),
        "to": end.isoformat(),
        **extra,
    }
    return await suite.gql(TIMELINE, values, as_=as_)


async def a_day_of_evidence(suite: Suite, org: Org) -> dict[str, str]:
    """The junior's check-in, follow-up and call (backdated), then a late registration
    (an alert), a contact read (an audit event) and an order approved by the manager,
    paid and shipped, in this order. Returns each item's ID by kind."""
    rep, now = org.junior, datetime.now(UTC)
    visit = await check_in(suite, rep, somewhere_of_its_own(), now - timedelta(hours=5))
    customer = await register(suite, rep, hours_since_contact=30)  # LATE_REGISTRATION
    follow_up = await record_follow_up(
        suite, rep, customer["id"], "VISIT", now - timedelta(hours=4)
    )
    calls = {"entries": [call(rep, "+86 139 5555 0101", now - timedelta(hours=3))]}
    assert (await suite.gql(IMPORT_CALLS, {"input": calls}, as_=org.hr)).ok()["importCallLogs"][
        "accepted"
    ] == 1
    (await suite.gql(CUSTOMER, {"id": customer["id"]}, as_=rep)).ok()  # an audited contact read
    order = await submit_order(suite, rep, customer["id"], quantity="2", unit_price="150.00")
    decided = await suite.gql(
        DECIDE, {"input": {"orderId": order["id"], "approve": True}}, as_=org.manager
    )
    assert decided.ok()["decideOrder"]["order"]["status"] == "APPROVED"
    payment = (
        await suite.gql(
            RECORD_PAYMENT,
            {
                "input": bank_line(
                    order["total"]["amount"], datetime.now(UTC).isoformat(), orderId=order["id"]
                )
            },
            as_=org.finance,
        )
    ).ok()["recordPayment"]["payment"]
    shipment = (
        await suite.gql(
            RECORD_SHIPMENT,
            {
                "input": {
                    "orderId": order["id"],
                    "carrier": "SF Express",
                    "trackingNumber": unique("SF"),
                    "shippedAt": datetime.now(UTC).isoformat(),
                }
            },
            as_=org.manager,
        )
    ).ok()["recordShipment"]["shipment"]
    return {
        "CHECK_IN": visit["id"],
        "FOLLOW_UP": follow_up["id"],
        "ORDER": order["id"],
        "APPROVAL": f"{order['code']}:{employee_id(org.manager)}",
        "PAYMENT": payment["id"],
        "SHIPMENT": shipment["id"],
        "customer": customer["id"],
    }


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=1), now + timedelta(hours=1)


async def test_hr_sees_every_kind_of_evidence_newest_first(suite: Suite) -> None:
    org = await make_org(suite)
    ids = await a_day_of_evidence(suite, org)
    start, end = window()

    result = await timeline(suite, org.hr, org.junior, start, end, first=100)
    page = result.ok()["employeeTimeline"]
    nodes = [edge["node"] for edge in page["edges"]]
    assert not page["pageInfo"]["hasNextPage"] and page["totalCount"] == len(nodes)
    moments = [datetime.fromisoformat(node["at"]) for node in nodes]
    assert moments == sorted(moments, reverse=True)
    # Days are the branch's days, not UTC's.
    assert [node["day"] for node in nodes] == [
        moment.astimezone(SHANGHAI).date().isoformat() for moment in moments
    ]
    for node in nodes:
        assert (
            node["kind"]
            == {
                "CheckInItem": "CHECK_IN",
                "FollowUpItem": "FOLLOW_UP",
                "CallItem": "CALL",
                "OrderItem": "ORDER",
                "ApprovalItem": "APPROVAL",
                "PaymentItem": "PAYMENT",
                "ShipmentItem": "SHIPMENT",
                "AuditEventItem": "AUDIT_EVENT",
                "AlertItem": "ALERT",
            }[node["__typename"]]
        )

    by_kind: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        by_kind.setdefault(node["kind"], []).append(node)
    for kind in ("CHECK_IN", "FOLLOW_UP", "ORDER", "APPROVAL", "PAYMENT", "SHIPMENT"):
        assert [item_id(node) for node in by_kind[kind]] == [ids[kind]], kind
    # The backdated field evidence is the oldest, in the order it happened.
    assert [node["kind"] for node in nodes[-3:]] == ["CALL", "FOLLOW_UP", "CHECK_IN"]
    # The deal, newest first: shipped, paid, approved (by the manager), submitted.
    deal = [n["kind"] for n in nodes if n["kind"] in {"ORDER", "APPROVAL", "PAYMENT", "SHIPMENT"}]
    assert deal == ["SHIPMENT", "PAYMENT", "APPROVAL", "ORDER"]
    (approval,) = by_kind["APPROVAL"]
    assert approval["step"]["status"] == "APPROVED" and approval["decidedOrder"] == {
        "id": ids["ORDER"]
    }
    (check_in_item,) = by_kind["CHECK_IN"]
    assert "NO_PHOTO" in {reason["code"] for reason in check_in_item["checkIn"]["reasons"]}
    assert by_kind["CALL"][0]["call"]["number"].count("*") >= 4  # masked as everywhere
    assert by_kind["FOLLOW_UP"][0]["followUp"]["customer"] == {"id": ids["customer"]}
    # The junior's own contact read is audited with them as actor; the alert is about them.
    reads = [
        n["event"] for n in by_kind["AUDIT_EVENT"] if ids["customer"] in n["event"]["customerIds"]
    ]
    assert any(event["action"] == "customer.contact.read" for event in reads)
    assert all(event["actor"] == {"id": employee_id(org.junior)} for event in reads)
    assert [a["alert"]["kind"] for a in by_kind["ALERT"]] == ["LATE_REGISTRATION"]
    assert by_kind["ALERT"][0]["alert"]["employee"] == {"id": employee_id(org.junior)}

    # The manager who approved has the decision in their own timeline, nothing of the rep's.
    theirs = (await timeline(suite, org.hr, org.manager, start, end, first=100)).ok()
    kinds = [edge["node"]["kind"] for edge in theirs["employeeTimeline"]["edges"]]
    assert "APPROVAL" in kinds and not {"CHECK_IN", "ORDER", "PAYMENT"} & set(kinds)

    # kinds narrows the sources: only the deal.
    narrowed = await timeline(
        suite, org.hr, org.junior, start, end, first=100, kinds=["ORDER", "PAYMENT"]
    )
    assert [edge["node"]["kind"] for edge in narrowed.ok()["employeeTimeline"]["edges"]] == [
        "PAYMENT",
        "ORDER",
    ]


async def test_the_branch_manager_reads_it_and_nobody_else(suite: Suite) -> None:
    org = await make_org(suite)
    ids = await a_day_of_evidence(suite, org)
    start, end = window()

    mine = (await timeline(suite, org.manager, org.junior, start, end, first=100)).ok()
    seen = {item_id(edge["node"]) for edge in mine["employeeTimeline"]["edges"]}
    assert {ids[kind] for kind in ("CHECK_IN", "FOLLOW_UP", "ORDER", "PAYMENT", "SHIPMENT")} <= seen

    # A manager of another branch: the junior's evidence is outside their scope.
    other = (await timeline(suite, org.other_manager, org.junior, start, end, first=100)).ok()
    assert other["employeeTimeline"]["edges"] == []
    assert other["employeeTimeline"]["totalCount"] == 0

    # Reps read no timeline: not a teammate's, not their own, not through any one kind.
    kinds: list[list[str] | None] = [
        None,
        *([kind] for kind in ("CHECK_IN", "FOLLOW_UP", "CALL", "ORDER", "APPROVAL")),
        *([kind] for kind in ("PAYMENT", "SHIPMENT", "AUDIT_EVENT", "ALERT")),
    ]
    for reader in (org.junior_mate, org.senior, org.junior):
        for only in kinds:
            refused = await timeline(suite, reader, org.junior, start, end, first=100, kinds=only)
            assert refused.codes == ["FORBIDDEN"], (reader, only)
            assert refused.data.get("employeeTimeline") is None, (reader, only)


async def test_paging_across_sources_returns_every_item_once(suite: Suite) -> None:
    org = await make_org(suite)
    await a_day_of_evidence(suite, org)
    # More of the same kinds at the same instant: ties across and within sources.
    same_time = datetime.now(UTC) - timedelta(hours=2)
    calls = {"entries": [call(org.junior, f"+86 139 5555 02{i:02d}", same_time) for i in range(3)]}
    (await suite.gql(IMPORT_CALLS, {"input": calls}, as_=org.hr)).ok()
    # A check-in at that instant too: the same service, another kind.
    await check_in(suite, org.junior, somewhere_of_its_own(), same_time)
    start, end = window()

    whole = (await timeline(suite, org.hr, org.junior, start, end, first=100)).ok()
    expected = [item_id(edge["node"]) for edge in whole["employeeTimeline"]["edges"]]
    assert len(expected) >= 13

    paged: list[str] = []
    after = None
    for _ in range(len(expected)):
        page = (await timeline(suite, org.hr, org.junior, start, end, first=2, after=after)).ok()[
            "employeeTimeline"
        ]
        assert len(page["edges"]) <= 2
        paged += [item_id(edge["node"]) for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert paged == expected


async def test_bad_input_is_a_validation_error_naming_the_field(suite: Suite) -> None:
    org = await make_org(suite)
    now = datetime.now(UTC)
    forged = encode_state({"attendance": "bm90LWEtdG9rZW4"})
    cases: list[tuple[dict[str, Any], str]] = [
        ({"from": now, "to": now - timedelta(hours=1)}, "to"),
        ({"from": now, "to": now}, "to"),
        ({"from": now - timedelta(days=93), "to": now}, "to"),
        ({"from": now - timedelta(days=1), "to": now, "first": 0}, "first"),
        ({"from": now - timedelta(days=1), "to": now, "first": 101}, "first"),
        ({"from": now - timedelta(days=1), "to": now, "after": "not-a-cursor"}, "after"),
        # A cursor the gateway can read whose token a service cannot.
        ({"from": now - timedelta(days=1), "to": now, "after": forged}, "after"),
        ({"from": now - timedelta(days=1), "to": now, "employeeId": ""}, "employeeId"),
    ]
    for values, field in cases:
        variables = {
            "employeeId": employee_id(org.junior),
            **values,
            "from": values["from"].isoformat(),
            "to": values["to"].isoformat(),
        }
        result = await suite.gql(TIMELINE, variables, as_=org.hr)
        assert result.codes == ["VALIDATION"], (values, result.errors)
        assert result.errors[0]["extensions"]["field"] == field, (values, result.errors)
        assert result.data.get("employeeTimeline") is None
    # Exactly 92 days is fine.
    fine = await timeline(suite, org.hr, org.junior, now - timedelta(days=92), now)
    assert fine.ok()["employeeTimeline"]["edges"] == []


async def test_each_service_is_asked_once_per_page(suite: Suite) -> None:
    org = await make_org(suite)
    await a_day_of_evidence(suite, org)
    start, end = window()
    result = await timeline(suite, org.hr, org.junior, start, end, first=100)
    result.ok()
    calls = result.body.get("extensions", {}).get("rpcCalls", {})
    timeline_calls = {name: n for name, n in calls.items() if "Timeline" in name}
    assert timeline_calls == {
        "/salesguard.customers.v1.CustomerTimelineService/ListEmployeeTimeline": 1,
        "/salesguard.attendance.v1.AttendanceTimelineService/ListEmployeeTimeline": 1,
        "/salesguard.orders.v1.OrdersTimelineService/ListEmployeeTimeline": 1,
    }
    # One ListAlerts per alert source (customers, attendance, orders), on the common path.
    assert calls["/salesguard.common.v1.AlertsService/ListAlerts"] == 3


async def test_the_items_days_cost_one_read_of_the_employee_and_one_of_the_branches(
    suite: Suite,
) -> None:
    # Every item's day is in the employee's branch's zone: the employee and the branches
    # are read once a page (while the sources answer), whatever the number of items.
    org = await make_org(suite)
    await a_day_of_evidence(suite, org)
    start, end = window()
    for reader in (org.hr, org.manager):
        result = await timeline(suite, reader, org.junior, start, end, first=100)
        nodes = [edge["node"] for edge in result.ok()["employeeTimeline"]["edges"]]
        assert len(nodes) >= 5
        assert [node["day"] for node in nodes] == [
            datetime.fromisoformat(node["at"]).astimezone(SHANGHAI).date().isoformat()
            for node in nodes
        ]
        calls = result.body.get("extensions", {}).get("rpcCalls", {})
        assert calls["/salesguard.attendance.v1.DirectoryService/BatchGetEmployees"] == 1
        assert calls["/salesguard.attendance.v1.DirectoryService/ListBranches"] == 1


# The page with all of pageInfo, and without the edges' cursors: only pageInfo's are then
# written (federation.merged).
WITH_PAGE_INFO = TIMELINE.replace(
    "pageInfo { hasNextPage endCursor }",
    "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }",
)
WITHOUT_EDGE_CURSORS = WITH_PAGE_INFO.replace("edges { cursor node {", "edges { node {")


async def test_a_page_shows_the_same_with_or_without_the_edges_cursors(suite: Suite) -> None:
    org = await make_org(suite)
    await a_day_of_evidence(suite, org)
    start, end = window()
    values = {
        "employeeId": employee_id(org.junior),
        "from": start.isoformat(),
        "to": end.isoformat(),
    }
    assert TIMELINE != WITH_PAGE_INFO != WITHOUT_EDGE_CURSORS
    for paging in ({"first": 3}, {"last": 3}, {"first": 100}):
        full = (await suite.gql(WITH_PAGE_INFO, {**values, **paging}, as_=org.hr)).ok()
        plain = (await suite.gql(WITHOUT_EDGE_CURSORS, {**values, **paging}, as_=org.hr)).ok()
        edges = full["employeeTimeline"]["edges"]
        assert plain["employeeTimeline"]["pageInfo"] == full["employeeTimeline"]["pageInfo"]
        assert full["employeeTimeline"]["pageInfo"]["endCursor"] == edges[-1]["cursor"]
        assert full["employeeTimeline"]["pageInfo"]["startCursor"] == edges[0]["cursor"]
        assert [edge["node"] for edge in plain["employeeTimeline"]["edges"]] == [
            edge["node"] for edge in edges
        ]


async def test_the_orders_items_link_to_cost_one_batch_read(suite: Suite) -> None:
    # An approval's decidedOrder, a payment's and a shipment's order: one BatchGetOrders a
    # page for all of them.
    org = await make_org(suite)
    ids = await a_day_of_evidence(suite, org)
    start, end = window()
    result = await timeline(suite, org.hr, org.junior, start, end, first=100)
    nodes = [edge["node"] for edge in result.ok()["employeeTimeline"]["edges"]]
    linked = {
        node["kind"]: (node.get("decidedOrder") or node.get(node["kind"].lower()) or {})
        for node in nodes
        if node["kind"] in ("APPROVAL", "PAYMENT", "SHIPMENT")
    }
    assert linked["APPROVAL"] == {"id": ids["ORDER"]}
    assert linked["PAYMENT"]["order"] == {"id": ids["ORDER"]}
    assert linked["SHIPMENT"]["order"] == {"id": ids["ORDER"]}
    calls = result.body.get("extensions", {}).get("rpcCalls", {})
    assert calls["/salesguard.orders.v1.OrdersService/BatchGetOrders"] == 1
    # A page that shows no link asks for no order.
    no_links = TIMELINE.replace("decidedOrder { id }", "").replace("order { id } }", "}")
    assert no_links != TIMELINE
    plain = await suite.gql(
        no_links,
        {
            "employeeId": employee_id(org.junior),
            "from": start.isoformat(),
            "to": end.isoformat(),
            "first": 100,
        },
        as_=org.hr,
    )
    plain.ok()
    assert not any("BatchGetOrders" in name for name in plain.body["extensions"]["rpcCalls"])
