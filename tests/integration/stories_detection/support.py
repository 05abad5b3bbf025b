"""What the detection stories share: the GraphQL operations, running a job in-process or as
the ``salesguard job`` command, and reading orders, payments and alerts back.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from salesguard.jobs import Job, JobOutcome, JobStatus, run_job
from salesguard.service import Runtime
from tests.harness import POLICIES, Suite
from tests.integration.test_stories_deals import ALERTS, SHANGHAI, approve, submit, today
from tests.org import Org
from tests.support.jobs import run_job_command
from tests.support.payments import bank_line

SITE = (31.2304, 121.4737)
HEADER = "bank_reference,paid_at,amount,currency,payer_name,payer_account,reference_text"

RECORD_PAYMENT = """mutation($input: RecordPaymentInput!) {
  recordPayment(input: $input) { duplicate payment { id amount { amount currency } matchedBy order { id } } } }"""
REVERSE_PAYMENT = """mutation($input: ReversePaymentInput!) {
  reversePayment(input: $input) { payment { id reversed } } }"""
IMPORT_PAYMENTS = """mutation($input: ImportPaymentsInput!) {
  importPayments(input: $input) { applied accepted duplicates rows rejected { line field } } }"""
RECORD_SHIPMENT = """mutation($input: RecordShipmentInput!) {
  recordShipment(input: $input) { shipment { id } } }"""
RECORD_BACK_ORDER = """mutation($input: RecordBackOrderInput!) {
  recordBackOrder(input: $input) { backOrder { promisedShipDate } } }"""
DECIDE = """mutation($input: DecideOrderInput!) {
  decideOrder(input: $input) { order { id status paymentState paidAmount { amount currency } } } }"""
ORDER_STATE = """query($id: ID!) {
  order(id: $id) { id status paymentState paidAmount { amount currency } fullyPaidAt } }"""
UNMATCHED = """query { reconciliation(first: 1) { unmatchedPayments { id bankReference } } }"""


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
    return run_job_command(env, *args, timeout=120)


async def order_state(suite: Suite, org: Org, order_id: str) -> dict[str, Any]:
    return dict((await suite.gql(ORDER_STATE, {"id": order_id}, as_=org.finance)).ok()["order"])


async def record_payment(
    suite: Suite, org: Org, amount: str, paid_at: datetime, **extra: Any
) -> dict[str, Any]:
    values = bank_line(amount, paid_at.isoformat(), **extra)
    recorded = (await suite.gql(RECORD_PAYMENT, {"input": values}, as_=org.finance)).ok()
    assert recorded["recordPayment"]["duplicate"] is False
    return dict(recorded["recordPayment"]["payment"])


async def approved_order(
    suite: Suite, org: Org, customer_id: str, total: str, **extra: Any
) -> dict[str, Any]:
    order = await submit(suite, org.junior, customer_id, total, **extra)
    await approve(suite, org, order)
    return order


async def overdue_order(suite: Suite, org: Org, customer_id: str, total: str) -> dict[str, Any]:
    """An approved order ordered 40 days ago and due 10 days ago: a fake deal in waiting."""
    return await approved_order(
        suite,
        org,
        customer_id,
        total,
        orderDate=(today() - timedelta(days=40)).isoformat(),
        expectedPaymentDate=(today() - timedelta(days=10)).isoformat(),
    )


async def alerts_of(suite: Suite, as_: str, **filter_: Any) -> list[dict[str, Any]]:
    result = await suite.gql(ALERTS, {"filter": filter_}, as_=as_)
    return [edge["node"] for edge in result.ok()["alerts"]["edges"]]


def paid_moment(days: float = 0) -> datetime:
    """A whole second in the past, in Shanghai (where the org's branches are)."""
    return datetime.now(SHANGHAI).replace(microsecond=0) - timedelta(days=days, minutes=1)


def moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
