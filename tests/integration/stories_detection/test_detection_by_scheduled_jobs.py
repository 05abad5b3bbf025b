"""Detection that happens by itself (O5, O6, A5): the scheduled jobs raise what depends on
the calendar, with nobody pressing a button.

- A payment recorded with the order's code in its reference makes the order RECONCILED
  at once; the commission draft job credits it.
- An approved order past due with no payment and no shipment is FAKE_DEAL_SUSPECTED after
  the daily job; a shipment prevents it.
- A regular customer gone quiet while visited is a DIVERSION_RISK after the daily job.
- Photo-less check-ins synced out of order become a streak after the hourly job.
- The same on the embedded profile.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from salesguard_attendance.jobs import DETECTORS
from salesguard_commissions.jobs import DRAFT_RUN
from salesguard_orders.jobs import DIVERSION_RISK, RECONCILIATION
from tests.harness import Suite, employee_id, unique
from tests.integration.stories_detection.support import (
    RECORD_SHIPMENT,
    SITE,
    alerts_of,
    approved_order,
    job_command,
    moment,
    order_state,
    overdue_order,
    paid_moment,
    record_payment,
    run,
)
from tests.integration.test_stories_deals import SHANGHAI, statement, today
from tests.org import make_org, register
from tests.support.field_visits import at_local, check_in, recent_working_days

# -- the story of the issue: approved → paid → RECONCILED → in the draft ------------------------


async def test_a_recorded_payment_reconciles_its_order_at_once_and_the_draft_credits_it(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    customer = (await register(suite, org.junior, source="WEBSITE"))["id"]
    order = await approved_order(suite, org, customer, "500.00")
    paid_at = paid_moment()
    payment = await record_payment(
        suite, org, "500.00", paid_at, referenceText=f"payment for {order['code']}"
    )
    # No reconciliation run: the payment is matched and the order classified at once.
    assert (payment["matchedBy"], payment["order"]) == ("ORDER_CODE", {"id": order["id"]})
    state = await order_state(suite, org, order["id"])
    assert (state["paymentState"], state["paidAmount"]["amount"]) == ("RECONCILED", "500.00")
    assert moment(state["fullyPaidAt"]) == paid_at

    # The commission draft of the month in the branch's time zone credits it once the daily
    # job has run; nobody ran commissions.
    period = paid_at.strftime("%Y-%m")
    assert (await statement(suite, org.finance, org.junior, period))["lines"] == []
    first = await run(suite, DRAFT_RUN, paid_at + timedelta(minutes=1))
    assert period in str(first.summary["periods"]).split(",")
    assert int(first.summary["branches_changed"]) >= 1
    drafted = await statement(suite, org.finance, org.junior, period)
    assert drafted["periodStatus"] == "OPEN"
    (line,) = drafted["lines"]
    assert (line["orderCode"], line["kind"], line["status"]) == (
        order["code"],
        "COMMISSION",
        "PAYABLE",
    )
    assert (line["base"]["amount"], line["rate"], line["amount"]["amount"]) == (
        "500.00",
        "5.00",
        "25.00",
    )
    # Run again: nothing changes, the draft stays a draft.
    again = await run(suite, DRAFT_RUN, paid_at + timedelta(minutes=2))
    assert (again.summary["branches_changed"], again.summary["lines"]) == (
        0,
        first.summary["lines"],
    )
    assert await statement(suite, org.finance, org.junior, period) == drafted


# -- fake deals (O5), by the daily job ------------------------------------------------------------


async def test_an_approved_order_past_due_is_a_suspected_fake_after_the_daily_job(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    customer = (await register(suite, org.junior))["id"]
    order = await overdue_order(suite, org, customer, "8800.00")
    assert not await alerts_of(suite, org.hr, orderId=order["id"], kinds=["FAKE_DEAL_SUSPECTED"])

    # The CronJob's command, as of now: nobody calls runReconciliation.
    as_of = datetime.now(UTC).isoformat()
    code, first = await asyncio.to_thread(job_command, suite, RECONCILIATION.name, "--as-of", as_of)
    assert (code, first["job"], first["status"]) == (0, RECONCILIATION.name, "applied")
    assert first["summary"]["fake_deals_raised"] >= 1
    assert first["summary"]["as_of"] == today().isoformat()
    for reader in (org.finance, org.hr, org.manager):
        (alert,) = await alerts_of(
            suite, reader, orderId=order["id"], kinds=["FAKE_DEAL_SUSPECTED"]
        )
        assert (alert["rule"], alert["status"], alert["employee"]) == (
            "O5",
            "OPEN",
            {"id": employee_id(org.junior)},
        )
        assert alert["order"]["paymentState"] == "UNPAID"
        assert alert["evidence"]["days_past_due"] == 10

    # Twice, or at once with another runner: one alert, and the second run changes nothing.
    code, second = await asyncio.to_thread(
        job_command, suite, RECONCILIATION.name, "--as-of", as_of
    )
    assert code == 0
    changed = {key: second["summary"][key] for key in ("fake_deals_raised", "orders_changed")}
    assert changed == {"fake_deals_raised": 0, "orders_changed": 0}
    assert (
        len(await alerts_of(suite, org.hr, orderId=order["id"], kinds=["FAKE_DEAL_SUSPECTED"])) == 1
    )


async def test_a_shipment_keeps_a_past_due_order_from_being_suspected(suite: Suite) -> None:
    org = await make_org(suite)
    customer = (await register(suite, org.junior))["id"]
    overdue = {
        "orderDate": (today() - timedelta(days=50)).isoformat(),
        "expectedPaymentDate": (today() - timedelta(days=20)).isoformat(),
    }
    shipped = await approved_order(suite, org, customer, "1200.00", **overdue)
    unshipped = await approved_order(suite, org, customer, "1300.00", **overdue)
    shipment = {
        "orderId": shipped["id"],
        "carrier": "SF Express",
        "trackingNumber": unique("SF"),
        "shippedAt": (datetime.now(UTC) - timedelta(days=15)).isoformat(),
    }
    (await suite.gql(RECORD_SHIPMENT, {"input": shipment}, as_=org.manager)).ok()
    # Shipping reconciles the order: still unpaid, and shipped.
    assert (await order_state(suite, org, shipped["id"]))["paymentState"] == "UNPAID"

    await run(suite, RECONCILIATION, datetime.now(UTC))
    assert not await alerts_of(suite, org.hr, orderId=shipped["id"], kinds=["FAKE_DEAL_SUSPECTED"])
    assert await alerts_of(suite, org.hr, orderId=unshipped["id"], kinds=["FAKE_DEAL_SUSPECTED"])


# -- diversion risk (O6), by the daily job --------------------------------------------------------


async def test_a_regular_customer_gone_quiet_while_visited_is_a_diversion_risk_after_the_job(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    visited = (
        await register(
            suite, org.junior, name=unique("Wuxi Steel"), location={"lat": SITE[0], "lng": SITE[1]}
        )
    )["id"]
    # A monthly rhythm for five months, then 120 days of silence.
    for days in (240, 210, 180, 150, 120):
        await approved_order(
            suite, org, visited, "5000.00", orderDate=(today() - timedelta(days=days)).isoformat()
        )
    # Meanwhile the owner keeps visiting.
    for days in (2, 1):
        when = datetime.now(SHANGHAI).replace(hour=15, minute=0, second=0, microsecond=0)
        await check_in(suite, org.junior, SITE, when - timedelta(days=days), customerId=visited)
    assert not await alerts_of(suite, org.hr, customerId=visited, kinds=["DIVERSION_RISK"])

    first = await run(suite, DIVERSION_RISK, datetime.now(UTC))
    assert int(first.summary["alerts_raised"]) >= 1
    (alert,) = await alerts_of(suite, org.hr, customerId=visited, kinds=["DIVERSION_RISK"])
    assert (alert["rule"], alert["employee"]) == ("O6", {"id": employee_id(org.junior)})
    evidence = alert["evidence"]
    assert (evidence["usual_interval_days"], evidence["days_silent"]) == (30, 120)
    assert evidence["visits_since_last_order"] == 2

    again = await run(suite, DIVERSION_RISK, datetime.now(UTC))
    assert again.summary["alerts_raised"] == 0
    assert len(await alerts_of(suite, org.hr, customerId=visited, kinds=["DIVERSION_RISK"])) == 1


# -- the attendance detectors (A5), by the hourly job ----------------------------------------------


async def test_photo_less_check_ins_synced_out_of_order_make_a_streak_after_the_hourly_job(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    # A place of its own, with no customer near it: an unregistered site.
    place = (22.5 + random.uniform(0, 0.5), 113.9 + random.uniform(0, 0.5))
    days = recent_working_days(3)
    # The phone was offline: it syncs the newest day first. Each check-in, written, sees
    # only the days before it, so none completes the streak on its own.
    for day in reversed(days):
        await check_in(suite, org.junior, place, at_local(day, 10))
    for kind in ("PHOTO_MISSING_STREAK", "UNREGISTERED_SITE_REPEATED"):
        assert not await alerts_of(suite, org.hr, employeeId=employee_id(org.junior), kinds=[kind])

    as_of = at_local(days[-1], 18)
    first = await run(suite, DETECTORS, as_of)
    assert int(first.summary["alerts_raised"]) >= 2
    (streak,) = await alerts_of(
        suite, org.hr, employeeId=employee_id(org.junior), kinds=["PHOTO_MISSING_STREAK"]
    )
    assert streak["evidence"]["days"] == 3
    assert streak["evidence"]["first_day"] == days[0].isoformat()
    (site,) = await alerts_of(
        suite, org.hr, employeeId=employee_id(org.junior), kinds=["UNREGISTERED_SITE_REPEATED"]
    )
    assert site["evidence"]["visits"] == 3

    again = await run(suite, DETECTORS, as_of + timedelta(hours=1))
    assert again.summary["alerts_raised"] == 0


# -- the embedded profile: the same on SQLite ------------------------------------------------------


async def test_payments_and_jobs_on_the_embedded_profile(embedded_suite: Suite) -> None:
    suite = embedded_suite
    org = await make_org(suite)
    customer = (await register(suite, org.junior))["id"]
    overdue = await overdue_order(suite, org, customer, "700.00")
    paid = await approved_order(suite, org, customer, "300.00")
    paid_at = paid_moment()
    await record_payment(suite, org, "300.00", paid_at, referenceText=f"pay {paid['code']}")
    assert (await order_state(suite, org, paid["id"]))["paymentState"] == "RECONCILED"

    as_of = paid_at + timedelta(minutes=1)
    outcomes = {job.name: await run(suite, job, as_of) for job in (RECONCILIATION, DRAFT_RUN)}
    assert outcomes[RECONCILIATION.name].summary["fake_deals_raised"] == 1
    assert await alerts_of(suite, org.hr, orderId=overdue["id"], kinds=["FAKE_DEAL_SUSPECTED"])
    (line,) = (await statement(suite, org.finance, org.junior, paid_at.strftime("%Y-%m")))["lines"]
    assert (line["orderCode"], line["status"]) == (paid["code"], "PAYABLE")
    for job in (DIVERSION_RISK, DETECTORS):
        await run(suite, job, as_of)
    # After the full run (which gathers SQLite's statistics) a payment still reconciles.
    second = await approved_order(suite, org, customer, "310.00")
    await record_payment(suite, org, "310.00", paid_moment(), referenceText=second["code"])
    assert (await order_state(suite, org, second["id"]))["paymentState"] == "RECONCILED"
