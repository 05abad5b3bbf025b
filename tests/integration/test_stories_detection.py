"""Detection that happens by itself (O5): payments reconcile their orders at once, and
the scheduled jobs raise what depends on the calendar, with nobody pressing a button.

Everything a person does goes through the GraphQL gateway; what a scheduler does goes
through the job runner (``run_job``, or the ``salesguard job`` command a CronJob runs),
``as_of`` a given moment. The suite is this module's own (PostgreSQL, OPA, S3): the jobs
run over everything it holds, and the stories here are all it holds.

- A payment recorded with the order's code in its reference makes the order RECONCILED
  at once; the commission draft job credits it.
- An approved order past due with no payment and no shipment is FAKE_DEAL_SUSPECTED after
  the daily job; a shipment prevents it.
- A regular customer gone quiet while visited is a DIVERSION_RISK after the daily job.
- Photo-less check-ins synced out of order become a streak after the hourly job.
- Reversals, statement imports, customer + amount matches and approvals reconcile at once;
  two payments racing on one order end in the right state.
- The incremental path reads what it touches, not the history (rows read, on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import migrations
from salesguard.db import Database, new_id, utcnow
from salesguard.jobs import Job, JobOutcome, JobStatus, run_job
from salesguard.service import Runtime
from salesguard_attendance.jobs import DETECTORS
from salesguard_commissions.jobs import DRAFT_RUN
from salesguard_orders.jobs import DIVERSION_RISK, RECONCILIATION
from salesguard_orders.matching import FakeDealThresholds, Reconciler, Touched
from salesguard_orders.models import Order
from salesguard_orders.payment_fields import payment_from_fields
from salesguard_orders.payments import insert_payments
from salesguard_orders.server import service as orders_app
from tests.harness import POLICIES, SERVICES, Backends, Suite, unique
from tests.integration.test_field_visits import at_local, check_in, recent_working_days
from tests.integration.test_stories_deals import (
    ALERTS,
    SHANGHAI,
    approve,
    statement,
    submit,
    today,
)
from tests.org import Org, make_org, register
from tests.photos import put
from tests.support.orders_history import seed_history
from tests.support.servers import OpaServer, PostgresDatabases, S3Server

pytestmark = pytest.mark.integration

SITE = (31.2304, 121.4737)
HEADER = "bank_reference,paid_at,amount,currency,payer_name,payer_account,reference_text"

RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) { duplicate payment { id amount matchedBy order { id } } } }"""
REVERSE_PAYMENT = """mutation($input: ReversePaymentInput!) {
  reversePayment(input: $input) { payment { id reversed } } }"""
CREATE_UPLOAD = """mutation($input: CreatePaymentUploadInput!) {
  createPaymentUpload(input: $input) { key uploadUrl uploadHeaders } }"""
IMPORT_PAYMENTS = """mutation($input: ImportPaymentsInput!) {
  importPayments(input: $input) { applied accepted duplicates rows rejected { line field } } }"""
RECORD_SHIPMENT = """mutation($input: RecordShipmentInput!) {
  recordShipment(input: $input) { shipment { id } } }"""
DECIDE = """mutation($input: DecideOrderInput!) {
  decideOrder(input: $input) { order { id status paymentState paidAmount } } }"""
ORDER_STATE = """query($id: ID!) {
  order(id: $id) { id status paymentState paidAmount fullyPaidAt } }"""
UNMATCHED = """query { reconciliation(first: 1) { unmatchedPayments { id bankReference } } }"""


@pytest.fixture(scope="module")
async def suite(
    opa_server: OpaServer,
    s3_server: S3Server,
    postgres: PostgresDatabases,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Suite]:
    """This module's own suite, on fresh databases: the jobs' reports count what these
    stories did. Stopped after them, so that its connections do not outlive them."""
    backends = Backends(
        database_urls={name: await postgres.create(name) for name in SERVICES},
        opa_url=opa_server.url,
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket="salesguard-detection",
    )
    started = await Suite.start(backends, tmp_path_factory.mktemp("detection"))
    yield started
    await started.stop()


def runtime_of(suite: Suite, service: str) -> Runtime[Any]:
    return suite.running[service].runtime  # type: ignore[no-any-return]


async def run(suite: Suite, job: Job[Any], as_of: datetime) -> JobOutcome:
    """A scheduled run of ``job`` as of ``as_of``, as the scheduler makes it."""
    outcome = await run_job(runtime_of(suite, job.service), job, as_of=as_of)
    assert outcome.status is JobStatus.APPLIED, outcome
    return outcome


def job_command(suite: Suite, *args: str) -> tuple[int, dict[str, Any]]:
    """``salesguard job ...`` of the orders service in a process of its own, configured as
    a CronJob's pod is (its database, OPA, and the peers it calls)."""
    settings = runtime_of(suite, "orders").settings
    env = {key: value for key, value in os.environ.items() if not key.startswith("SALESGUARD_")}
    env |= {
        "SALESGUARD_PROFILE": "full",
        "SALESGUARD_DATABASE_URL": settings.database_url,
        "SALESGUARD_OPA_URL": settings.opa_url,
        "SALESGUARD_POLICIES_DIR": str(POLICIES),
        "SALESGUARD_ATTENDANCE_ADDRESS": suite.settings["attendance_address"],
        "SALESGUARD_CUSTOMERS_ADDRESS": suite.settings["customers_address"],
    }
    done = subprocess.run(
        [sys.executable, "-m", "salesguard.cli", "job", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, (done.stdout, done.stderr)
    return done.returncode, json.loads(lines[0])


async def order_state(suite: Suite, org: Org, order_id: str) -> dict[str, Any]:
    return dict((await suite.gql(ORDER_STATE, {"id": order_id}, as_=org.finance)).ok()["order"])


async def record_payment(
    suite: Suite, org: Org, amount: str, paid_at: datetime, **extra: Any
) -> dict[str, Any]:
    values = {
        "bankReference": unique("BANK"),
        "payerName": "Acme Trading",
        "amount": amount,
        "currency": "CNY",
        "paidAt": paid_at.isoformat(),
        **extra,
    }
    recorded = (await suite.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance)).ok()
    assert recorded["recordPayment"]["duplicate"] is False
    return dict(recorded["recordPayment"]["payment"])


async def approved_order(
    suite: Suite, org: Org, customer_id: str, total: str, **extra: Any
) -> dict[str, Any]:
    order = await submit(suite, org.junior, customer_id, total, **extra)
    await approve(suite, org, order)
    return order


async def alerts_of(suite: Suite, as_: str, **filter_: Any) -> list[dict[str, Any]]:
    result = await suite.gql(ALERTS, {"filter": filter_}, as_=as_)
    return [edge["node"] for edge in result.ok()["alerts"]["edges"]]


def paid_moment(days: float = 0) -> datetime:
    """A whole second in the past, in Shanghai (where the org's branches are)."""
    return datetime.now(SHANGHAI).replace(microsecond=0) - timedelta(days=days, minutes=1)


def moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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
    assert (state["paymentState"], state["paidAmount"]) == ("RECONCILED", "500.00")
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
    assert (line["base"], line["rate"], line["amount"]) == ("500.00", "5.00", "25.00")
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
    order = await approved_order(
        suite,
        org,
        customer,
        "8800.00",
        orderDate=(today() - timedelta(days=40)).isoformat(),
        expectedPaymentDate=(today() - timedelta(days=10)).isoformat(),
    )
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
            {"id": org.junior},
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
    assert (alert["rule"], alert["employee"]) == ("O6", {"id": org.junior})
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
        assert not await alerts_of(suite, org.hr, employeeId=org.junior, kinds=[kind])

    as_of = at_local(days[-1], 18)
    first = await run(suite, DETECTORS, as_of)
    assert int(first.summary["alerts_raised"]) >= 2
    (streak,) = await alerts_of(
        suite, org.hr, employeeId=org.junior, kinds=["PHOTO_MISSING_STREAK"]
    )
    assert streak["evidence"]["days"] == 3
    assert streak["evidence"]["first_day"] == days[0].isoformat()
    (site,) = await alerts_of(
        suite, org.hr, employeeId=org.junior, kinds=["UNREGISTERED_SITE_REPEATED"]
    )
    assert site["evidence"]["visits"] == 3

    again = await run(suite, DETECTORS, as_of + timedelta(hours=1))
    assert again.summary["alerts_raised"] == 0


# -- what each write reconciles at once -------------------------------------------------------------


async def test_reversals_take_the_order_back_at_once(suite: Suite) -> None:
    org = await make_org(suite)
    customer = (await register(suite, org.junior))["id"]
    order = await approved_order(suite, org, customer, "1000.00")
    first = await record_payment(
        suite, org, "400.00", paid_moment(2), referenceText=f"{order['code']} part 1"
    )
    last_paid = paid_moment(1)
    second = await record_payment(
        suite, org, "600.00", last_paid, referenceText=f"{order['code']} part 2"
    )
    state = await order_state(suite, org, order["id"])
    assert (state["paymentState"], state["paidAmount"]) == ("RECONCILED", "1000.00")
    assert moment(state["fullyPaidAt"]) == last_paid

    async def reverse(payment: dict[str, Any], kind: str) -> None:
        values = {"paymentId": payment["id"], "kind": kind, "reason": "the bank took it back"}
        reversed_ = (await suite.gql(REVERSE_PAYMENT, {"input": values}, as_=org.finance)).ok()
        assert reversed_["reversePayment"]["payment"]["reversed"] is True

    await reverse(second, "CHARGEBACK")
    state = await order_state(suite, org, order["id"])
    assert (state["paymentState"], state["paidAmount"], state["fullyPaidAt"]) == (
        "PARTIALLY_PAID",
        "400.00",
        None,
    )
    await reverse(first, "REFUND")
    state = await order_state(suite, org, order["id"])
    assert (state["paymentState"], state["paidAmount"]) == ("UNPAID", "0.00")


async def test_a_statement_import_reconciles_every_order_it_touches(suite: Suite) -> None:
    org = await make_org(suite)
    name = unique("Hangzhou Lianhua")
    customer = (await register(suite, org.junior, name=name, company=f"{name} Co"))["id"]
    exact, partial, over, by_amount, untouched = [
        await approved_order(suite, org, customer, total)
        for total in ("100.00", "200.00", "300.00", "412.34", "500.00")
    ]
    stray = unique("BR")
    rows = [
        (unique("BR"), paid_moment(4), "100.00", name, f"Payment {exact['code']}"),
        (unique("BR"), paid_moment(3), "50.00", name, f"{partial['code']} first instalment"),
        (unique("BR"), paid_moment(2), "350.00", name, f"Invoice {over['code']}"),
        (unique("BR"), paid_moment(1), "412.34", f" {name.upper()} ", "goods received"),
        (stray, paid_moment(1), "77.77", unique("Unknown Payer"), "misc"),
    ]
    lines = [
        f"{reference},{when.isoformat()},{amount},CNY,{payer},6222000011112222,{note}"
        for reference, when, amount, payer, note in rows
    ]
    data = "\r\n".join([HEADER, *lines, ""]).encode()
    upload = (
        await suite.gql(
            CREATE_UPLOAD,
            {"input": {"purpose": "STATEMENT", "contentType": "text/csv", "sizeBytes": len(data)}},
            as_=org.finance,
        )
    ).ok()["createPaymentUpload"]
    await put(suite, upload, data)
    imported = (
        await suite.gql(
            IMPORT_PAYMENTS, {"input": {"statementKey": upload["key"]}}, as_=org.finance
        )
    ).ok()["importPayments"]
    assert (imported["applied"], imported["accepted"], imported["rejected"]) == (True, 5, [])

    expected = {
        exact["id"]: ("RECONCILED", "100.00"),
        partial["id"]: ("PARTIALLY_PAID", "50.00"),
        over["id"]: ("OVERPAID", "350.00"),
        by_amount["id"]: ("RECONCILED", "412.34"),
        untouched["id"]: ("UNPAID", "0.00"),
    }
    for order_id, (state_name, paid) in expected.items():
        state = await order_state(suite, org, order_id)
        assert (state["paymentState"], state["paidAmount"]) == (state_name, paid), order_id
    unmatched = (await suite.gql(UNMATCHED, as_=org.finance)).ok()["reconciliation"]
    assert stray in {payment["bankReference"] for payment in unmatched["unmatchedPayments"]}


async def test_a_payment_without_a_code_is_matched_by_customer_and_amount_at_once(
    suite: Suite,
) -> None:
    org = await make_org(suite)
    name = unique("Ningbo Harbour")
    customer = (await register(suite, org.junior, name=name, company=f"{name} Co"))["id"]
    order = await approved_order(suite, org, customer, "880.00")
    payment = await record_payment(suite, org, "880.00", paid_moment(), payerName=name)
    assert (payment["matchedBy"], payment["order"]) == ("CUSTOMER_AMOUNT", {"id": order["id"]})
    assert (await order_state(suite, org, order["id"]))["paymentState"] == "RECONCILED"

    # Money that arrives before the approval waits for it; the approval reconciles it.
    waiting = await submit(suite, org.junior, customer, "990.00")
    early = await record_payment(suite, org, "990.00", paid_moment(), payerName=f"{name} Co")
    assert early["matchedBy"] is None and early["order"] is None
    values = {"orderId": waiting["id"], "approve": True, "comment": "fine"}
    decided = (await suite.gql(DECIDE, {"input": values}, as_=org.manager)).ok()["decideOrder"]
    assert (decided["order"]["status"], decided["order"]["paymentState"]) == (
        "APPROVED",
        "RECONCILED",
    )
    assert decided["order"]["paidAmount"] == "990.00"


# -- two payments at once -----------------------------------------------------------------------------


async def test_two_payments_on_one_order_at_once_end_in_the_right_state(suite: Suite) -> None:
    org = await make_org(suite)
    customer = (await register(suite, org.junior))["id"]
    orders = [await approved_order(suite, org, customer, "600.00") for _ in range(4)]
    earlier, later = paid_moment(2), paid_moment(1)
    await asyncio.gather(
        *(
            record_payment(suite, org, "300.00", when, referenceText=f"{order['code']} {half}")
            for order in orders
            for half, when in (("first half", earlier), ("second half", later))
        )
    )
    for order in orders:
        state = await order_state(suite, org, order["id"])
        assert (state["paymentState"], state["paidAmount"]) == ("RECONCILED", "600.00")
        assert moment(state["fullyPaidAt"]) == later

    # Two payments of one payer and amount race for that payer's two open orders: one each.
    name = unique("Suzhou Silk")
    payer = (await register(suite, org.junior, name=name, company=f"{name} Co"))["id"]
    pair = [await approved_order(suite, org, payer, "450.00") for _ in range(2)]
    payments = await asyncio.gather(
        *(record_payment(suite, org, "450.00", when, payerName=name) for when in (earlier, later))
    )
    assert {payment["order"]["id"] for payment in payments} == {order["id"] for order in pair}
    for order in pair:
        state = await order_state(suite, org, order["id"])
        assert (state["paymentState"], state["paidAmount"]) == ("RECONCILED", "450.00")


# -- what a payment costs: what it touches, not the history ---------------------------------------

READS = text(
    """SELECT relname, seq_scan, seq_tup_read, coalesce(idx_tup_fetch, 0)
       FROM pg_stat_xact_user_tables WHERE relname IN ('orders', 'payments')"""
)


async def rows_read(session: AsyncSession) -> dict[str, tuple[int, int, int]]:
    """(sequential scans, rows they read, rows fetched by index) per table, so far in this
    transaction (what PostgreSQL counts for it; diffs are this transaction's own)."""
    return {row[0]: (int(row[1]), int(row[2]), int(row[3])) for row in await session.execute(READS)}


def spent(
    after: dict[str, tuple[int, int, int]], before: dict[str, tuple[int, int, int]]
) -> dict[str, tuple[int, ...]]:
    zero = (0, 0, 0)
    return {
        table: tuple(
            a - b for a, b in zip(after.get(table, zero), before.get(table, zero), strict=True)
        )
        for table in ("orders", "payments")
    }


@pytest.fixture
async def history_db(postgres: PostgresDatabases) -> AsyncIterator[Database]:
    """An orders database holding 10 000 settled orders and 11 000 payments."""
    db = Database(await postgres.create("history"))
    try:
        await migrations.upgrade(db.engine, orders_app.migrations_dir)
        await seed_history(db, 10_000)
        yield db
    finally:
        await db.dispose()


async def test_a_payment_reads_what_it_touches_not_the_history(history_db: Database) -> None:
    db = history_db
    reconciler = Reconciler(db)
    async with db.transaction() as session:
        order = Order(
            customer_id=new_id(),
            customer_code="C-777777",
            submitted_by="rep-new",
            currency="CNY",
            total_minor=50_000,
            order_date=date.today(),
            expected_payment_date=date.today() + timedelta(days=30),
            source_claim="WEBSITE",
            registered_source="WEBSITE",
            status="APPROVED",
            customer_name_key="history customer 7",
            customer_company_key="history company 7",
        )
        session.add(order)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    for reference in (f"payment for {order.code}", ""):  # by its code; by customer + amount
        if not reference:
            async with db.transaction() as session:  # the first payment's reversal
                await session.execute(
                    text("UPDATE payments SET reversed = true WHERE order_id = :id"),
                    {"id": order.id},
                )
                await reconciler.reconcile(
                    session, Touched(order_ids=frozenset({order.id})), utcnow()
                )
        fields = payment_from_fields(
            bank_reference=new_id(),
            amount="500.00",
            currency="CNY",
            paid_at=utcnow(),
            currencies={"CNY": Decimal(1)},
            payer_name="History Customer 7",
            reference_text=reference,
            skew_seconds=300,
        )
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            async with db.transaction() as session:
                before = await rows_read(session)
                statements.clear()
                inserted = await insert_payments(session, [fields.to_row(recorded_by="finance")])
                await reconciler.lock(session, groups=[fields.group])
                figures = await reconciler.reconcile(
                    session, Touched(payment_ids=frozenset(inserted)), utcnow()
                )
                issued = list(statements)
                used = spent(await rows_read(session), before)
                state = await session.scalar(
                    text("SELECT payment_state FROM orders WHERE id = :id"), {"id": order.id}
                )
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        assert state == "RECONCILED", (reference, figures)
        assert sum(figures.matched.values()) == 1 and figures.classified == 1
        # No table read whole; a handful of rows fetched by index, with 21 000 rows present.
        for table, (scans, scanned, fetched) in used.items():
            assert (scans, scanned) == (0, 0), (reference, table, used)
            assert fetched <= 20, (reference, table, used)
        # A fixed number of statements: the insert, the run's, the group's and the order's
        # locks, three matching steps, the classification, the payer check.
        assert len(issued) == 9, issued

    # The full run, for contrast, reads every order and payment.
    async with db.transaction() as session:
        before = await rows_read(session)
        await reconciler.run_all(session, date.today(), FakeDealThresholds(), utcnow())
        used = spent(await rows_read(session), before)
    assert used["orders"][1] + used["orders"][2] >= 10_000
    assert used["payments"][1] + used["payments"][2] >= 10_000


# -- the embedded profile: the same on SQLite ------------------------------------------------------


async def test_payments_and_jobs_on_the_embedded_profile(embedded_suite: Suite) -> None:
    suite = embedded_suite
    org = await make_org(suite)
    customer = (await register(suite, org.junior))["id"]
    overdue = await approved_order(
        suite,
        org,
        customer,
        "700.00",
        orderDate=(today() - timedelta(days=40)).isoformat(),
        expectedPaymentDate=(today() - timedelta(days=10)).isoformat(),
    )
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
