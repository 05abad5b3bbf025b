"""Commissions through the gateway (M4, M5) and updateAlert's routing to the owning service:
only finance runs, locks and exports; an alert's id routes it; clearing an alert releases
the withheld line.
"""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.relay import GlobalID

from gateway.tests.commissions_support import (
    ALERTS,
    EXPORT,
    LOCK,
    PERIOD,
    RUN,
    UPDATE_ALERT,
    approve,
    paid_at,
    paid_orders,
    pay,
    reconcile,
    rpc_calls,
    run,
    statement,
    submit,
)
from salesguard.errors import InvalidInput
from salesguard_gateway.schema.alerts import alert_route
from tests.harness import Suite, cny, employee_id, global_id, unique
from tests.org import Org, make_org, register

# --- runs, locks and exports: finance only ----------------------------------------------------


async def test_only_finance_runs_locks_and_exports(suite: Suite) -> None:
    org = await make_org(suite)
    company = (await register(suite, org.junior, source="WEBSITE"))["id"]
    await paid_orders(
        suite, org, [(org.junior, company, "1000.00", None), (org.junior, company, "200.00", None)]
    )
    branch = {"period": PERIOD, "branchId": global_id("Branch", org.branch)}
    for outsider in (org.junior, org.manager, org.hr, org.admin):
        for mutation, name in (
            (RUN, "runCommissions"),
            (LOCK, "lockCommissionPeriod"),
            (EXPORT, "exportCommissionPeriod"),
        ):
            refused = await suite.gql(mutation, {"input": branch}, as_=outsider)
            assert refused.codes == ["FORBIDDEN"], (outsider, name, refused.body)
            assert refused.data == {name: None}

    # Locking or exporting a period that has not run is refused, not empty.
    not_run = await suite.gql(LOCK, {"input": branch}, as_=org.finance)
    assert not_run.codes == ["FAILED_PRECONDITION"]

    ran = (await run(suite, org.finance, org.branch)).ok()["runCommissions"]
    (summary,) = ran["periods"]
    assert summary["period"] == PERIOD and summary["branchId"] == branch["branchId"]
    assert summary["branch"] == {"id": branch["branchId"]}
    assert (summary["status"], summary["lines"], summary["orders"]) == ("OPEN", 2, 2)
    assert (summary["payable"], summary["withheld"]) == (cny("60.00"), cny("0.00"))
    assert (summary["pendingReview"], summary["clawback"]) == (cny("0.00"), cny("0.00"))
    assert summary["lastRunAt"] and summary["lockedAt"] is None and summary["lockedBy"] is None
    assert summary["planVersion"] >= 0

    locked = (await suite.gql(LOCK, {"input": branch}, as_=org.finance)).ok()
    period = locked["lockCommissionPeriod"]["period"]
    assert (period["status"], period["lockedBy"]) == ("LOCKED", {"id": employee_id(org.finance)})
    again = await run(suite, org.finance, org.branch)
    assert again.codes == ["FAILED_PRECONDITION"]
    assert (await statement(suite, org.junior, None)).ok()["commissionStatement"][
        "periodStatus"
    ] == "LOCKED"

    exported = (await suite.gql(EXPORT, {"input": branch}, as_=org.finance)).ok()
    export = exported["exportCommissionPeriod"]
    assert export["rowCount"] == 2 and len(export["sha256"]) == 64
    assert export["downloadUrl"] and export["downloadUrlExpiresAt"]


# --- updateAlert: routed to the service that owns the alert -----------------------------------


def test_an_alert_update_goes_to_its_named_source_or_every_source() -> None:
    sources = ("customers", "attendance", "orders")
    assert alert_route(None, sources) == list(sources)
    assert alert_route("orders", sources) == ["orders"]
    with pytest.raises(InvalidInput):
        alert_route("nowhere", sources)


async def fake_deal(
    suite: Suite, org: Org, customer_id: str, total: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An approved order past due without payment or shipment, and its FAKE_DEAL_SUSPECTED."""
    order = await submit(suite, org.junior, customer_id, total, expectedPaymentDate="2025-03-05")
    await approve(suite, org, order)
    await reconcile(suite, org)
    filter_ = {"orderId": order["id"], "kinds": ["FAKE_DEAL_SUSPECTED"]}
    edges = (await suite.gql(ALERTS, {"filter": filter_}, as_=org.hr)).ok()["alerts"]["edges"]
    (alert,) = [edge["node"] for edge in edges]
    assert alert["source"] == "orders" and alert["status"] == "OPEN"
    assert GlobalID.from_id(alert["id"]).type_name == "Alert"
    assert alert["order"] == {"id": order["id"]}
    return order, alert


async def test_update_alert_goes_to_the_owning_service(suite: Suite) -> None:
    org = await make_org(suite)
    company = (await register(suite, org.junior, source="WEBSITE"))["id"]
    _, by_id = await fake_deal(suite, org, company, "300.00")
    _, by_plain = await fake_deal(suite, org, company, "400.00")
    _, by_source = await fake_deal(suite, org, company, "500.00")

    # The ID alone: each source in turn until its owner; one write.
    result = await suite.gql(
        UPDATE_ALERT,
        {"input": {"id": by_id["id"], "status": "ACKNOWLEDGED", "note": "looking"}},
        as_=org.hr,
    )
    updated = result.ok()["updateAlert"]["alert"]
    assert (updated["id"], updated["status"], updated["note"]) == (
        by_id["id"],
        "ACKNOWLEDGED",
        "looking",
    )
    assert rpc_calls(result)["/salesguard.common.v1.AlertsService/UpdateAlert"] <= 3

    # With its source (Alert.source): one call.
    result = await suite.gql(
        UPDATE_ALERT,
        {"input": {"id": by_source["id"], "source": "orders", "status": "DISMISSED"}},
        as_=org.hr,
    )
    assert result.ok()["updateAlert"]["alert"]["status"] == "DISMISSED"
    assert rpc_calls(result) == {"/salesguard.common.v1.AlertsService/UpdateAlert": 1}
    # A source that does not own it: that one call, and NOT_FOUND, never another's alert.
    result = await suite.gql(
        UPDATE_ALERT,
        {"input": {"id": by_plain["id"], "source": "customers", "status": "DISMISSED"}},
        as_=org.hr,
    )
    assert result.codes == ["NOT_FOUND"]
    assert rpc_calls(result) == {"/salesguard.common.v1.AlertsService/UpdateAlert": 1}

    # As a commission line's alertIds give it: the same ID, each source in turn.
    values = {"id": by_plain["id"], "status": "RESOLVED", "resolution": "CLEARED"}
    result = await suite.gql(UPDATE_ALERT, {"input": values}, as_=org.hr)
    cleared = result.ok()["updateAlert"]["alert"]
    assert (cleared["status"], cleared["resolution"], cleared["source"]) == (
        "RESOLVED",
        "CLEARED",
        "orders",
    )
    assert rpc_calls(result)["/salesguard.common.v1.AlertsService/UpdateAlert"] <= 3

    # Out of the caller's scope reads as absent; so does an unknown ID.
    for caller, alert_id in (
        (org.junior, by_id["id"]),
        (org.other_manager, by_id["id"]),
        (org.hr, global_id("Alert", unique("nope"))),
    ):
        missing = await suite.gql(
            UPDATE_ALERT, {"input": {"id": alert_id, "status": "ACKNOWLEDGED"}}, as_=caller
        )
        assert missing.codes == ["NOT_FOUND"], (caller, alert_id, missing.body)
    # Typed refusals of the input: a source the gateway does not know, another type's ID,
    # a resolution without RESOLVED, reopening.
    for values, field in (
        ({"id": by_id["id"], "source": "nowhere", "status": "ACKNOWLEDGED"}, "source"),
        ({"id": company, "status": "ACKNOWLEDGED"}, "input.id"),
        (
            {"id": by_id["id"], "status": "DISMISSED", "resolution": "CLEARED"},
            "resolution",
        ),
        ({"id": by_id["id"], "status": "OPEN"}, "status"),
    ):
        refused = await suite.gql(UPDATE_ALERT, {"input": values}, as_=org.hr)
        assert refused.codes == ["VALIDATION"], (values, refused.body)
        assert refused.errors[0]["extensions"]["field"] == field


async def test_clearing_an_alert_releases_the_withheld_line(suite: Suite) -> None:
    org = await make_org(suite)
    company = (await register(suite, org.junior, source="WEBSITE"))["id"]
    cleared_order, cleared = await fake_deal(suite, org, company, "300.00")
    kept_order, kept = await fake_deal(suite, org, company, "400.00")
    for minute, order in enumerate((cleared_order, kept_order)):
        await pay(suite, org, order, paid_at(20, minute))
    await reconcile(suite, org)
    (await run(suite, org.finance, org.branch)).ok()
    lines = (await statement(suite, org.junior, None)).ok()["commissionStatement"]["lines"]
    assert [(line["status"], line["alertIds"]) for line in lines] == [
        ("WITHHELD", [cleared["id"]]),
        ("WITHHELD", [kept["id"]]),
    ]

    # HR clears one, with the ID the line names.
    values = {"id": lines[0]["alertIds"][0], "status": "RESOLVED", "resolution": "CLEARED"}
    (await suite.gql(UPDATE_ALERT, {"input": values}, as_=org.hr)).ok()
    (await run(suite, org.finance, org.branch)).ok()
    data = (await statement(suite, org.junior, None)).ok()["commissionStatement"]
    assert [(line["orderCode"], line["status"]) for line in data["lines"]] == [
        (cleared_order["code"], "PAYABLE"),
        (kept_order["code"], "WITHHELD"),
    ]
    (totals,) = data["totals"]
    assert (totals["payable"], totals["withheld"]) == (cny("15.00"), cny("20.00"))
