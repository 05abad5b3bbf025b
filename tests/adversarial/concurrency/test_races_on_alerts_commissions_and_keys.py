"""The attack suite's concurrency part: alert decisions, commission runs and locks, plan versions,
idempotency keys reused by 20 clients, scheduled jobs held across processes and the guard
against a write transaction inside another.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from salesguard.db import Database, NestedTransactionError
from salesguard.jobs import job_lock
from tests.adversarial.concurrency.support import (
    ALERT_HISTORY,
    ALERTS,
    CHECK_IN,
    CHECK_INS,
    CLAIM,
    CLIENTS,
    DECIDE_ORDER,
    FOLLOW_UP,
    LOCK_PERIOD,
    ORDER_CODE,
    PLAN_VISIT,
    RECONCILE,
    RECORD_PAYMENT,
    REGISTER,
    REQUEST_EXPORT,
    RUN_COMMISSIONS,
    SHANGHAI,
    STATEMENT,
    SUBMIT,
    UPDATE_ALERT,
    UPSERT_PLAN,
    chain_intact,
    check_in,
    leaver_to_be,
    payment,
    race,
    refusals,
    registration,
    seed_customers,
    submit_order,
    winners,
)
from tests.harness import GraphQLResult, Suite, employee_id, global_id, unique
from tests.org import UPSERT_EMPLOYEE, Org, register

# -- alerts and commissions -----------------------------------------------------------------------


async def late_registration_alerts(
    racing: Suite, query: str, customer_id: str, as_: str
) -> list[dict[str, Any]]:
    """The LATE_REGISTRATION alerts about the customer that ``as_`` reads with ``query``."""
    variables = {"filter": {"kinds": ["LATE_REGISTRATION"], "customerId": customer_id}}
    found = (await racing.gql(query, variables, as_=as_)).ok()
    return [edge["node"] for edge in found["alerts"]["edges"]]


async def test_an_alert_decided_by_racing_managers_is_decided_once(racing: Suite, org: Org) -> None:
    late = await register(racing, org.junior, hours_since_contact=48)
    (alert,) = await late_registration_alerts(racing, ALERTS, late["id"], org.manager)
    decisions = [
        {"status": "RESOLVED", "resolution": "CONFIRMED"},
        {"status": "DISMISSED"},
        {"status": "RESOLVED", "resolution": "CLEARED"},
        {"status": "DISMISSED"},
    ]
    results = await race(
        [
            racing.gql(
                UPDATE_ALERT,
                {"input": {"id": alert["id"], "source": alert["source"], **decisions[n % 4]}},
                as_=(org.manager, org.manager_2)[n % 2],
            )
            for n in range(CLIENTS)
        ]
    )
    (won,) = winners(results)
    assert refusals(results) == {"FORBIDDEN": CLIENTS - 1}
    (stored,) = await late_registration_alerts(racing, ALERT_HISTORY, late["id"], org.hr)
    assert stored["status"] == won.data["updateAlert"]["alert"]["status"]
    assert len(stored["history"]) == 1


async def test_a_locked_period_stays_locked_while_runs_race_the_lock(
    racing: Suite, org: Org
) -> None:
    period = datetime.now(SHANGHAI).strftime("%Y-%m")
    values = {"period": period, "branchId": global_id("Branch", org.branch)}
    (await racing.gql(RUN_COMMISSIONS, {"input": values}, as_=org.finance)).ok()
    results = await race(
        [
            racing.gql((RUN_COMMISSIONS, LOCK_PERIOD)[n % 2], {"input": values}, as_=org.finance)
            for n in range(CLIENTS)
        ]
    )
    assert set(refusals(results)) <= {"FAILED_PRECONDITION"}
    locks = [result for n, result in enumerate(results) if n % 2]
    assert all(not result.errors for result in locks), refusals(locks)
    assert {r.data["lockCommissionPeriod"]["period"]["status"] for r in locks} == {"LOCKED"}
    after = await racing.gql(RUN_COMMISSIONS, {"input": values}, as_=org.finance)
    assert after.codes == ["FAILED_PRECONDITION"]


async def test_a_leavers_lines_stay_frozen_while_runs_race_the_departure(
    racing: Suite, org: Org
) -> None:
    leaver, departure = await leaver_to_be(racing, org)
    customer = await register(racing, leaver)
    order_id = await submit_order(racing, leaver, customer["id"])
    (
        await racing.gql(
            DECIDE_ORDER, {"input": {"orderId": order_id, "approve": True}}, as_=org.manager
        )
    ).ok()
    code = (await racing.gql(ORDER_CODE, {"id": order_id}, as_=org.manager)).ok()["order"]["code"]
    paid = payment(referenceText=f"payment for {code}")
    (await racing.gql(RECORD_PAYMENT, {"input": paid}, as_=org.finance)).ok()
    (await racing.gql(RECONCILE, {"input": {}}, as_=org.finance)).ok()
    period = datetime.now(SHANGHAI).strftime("%Y-%m")
    values = {"period": period, "branchId": global_id("Branch", org.branch)}
    (await racing.gql(RUN_COMMISSIONS, {"input": values}, as_=org.finance)).ok()
    before = await racing.gql(
        STATEMENT, {"employeeId": employee_id(leaver), "period": period}, as_=org.finance
    )
    assert [line["status"] for line in before.ok()["commissionStatement"]["lines"]] == ["PAYABLE"]

    async def depart() -> GraphQLResult:
        # While the runs are under way: after they looked up who is frozen, before they write.
        await asyncio.sleep(0.3)
        return await racing.gql(UPSERT_EMPLOYEE, {"input": departure}, as_="admin")

    runs = [
        racing.gql(RUN_COMMISSIONS, {"input": values}, as_=org.finance) for _ in range(CLIENTS - 1)
    ]
    results = await race([*runs, depart()])
    assert not [result.body for result in results if result.errors]
    after = await racing.gql(
        STATEMENT, {"employeeId": employee_id(leaver), "period": period}, as_=org.finance
    )
    assert [line["status"] for line in after.ok()["commissionStatement"]["lines"]] == [
        "PENDING_REVIEW"
    ]


async def test_plan_versions_stay_unique_when_stored_at_once(racing: Suite, org: Org) -> None:
    values = {
        # Far ahead, so no other test's period falls under these plans.
        "effectiveFrom": "2199-01-01",
        "companyRatePercent": "5",
        "personalRatePercent": "8",
    }
    results = await race(
        [
            racing.gql(UPSERT_PLAN, {"input": {**values, "note": f"#{n}"}}, as_=org.finance)
            for n in range(CLIENTS)
        ]
    )
    assert set(refusals(results)) <= {"CONFLICT"}
    versions = [r.data["upsertCommissionPlan"]["plan"]["version"] for r in winners(results)]
    assert versions and len(set(versions)) == len(versions)


# -- idempotency keys reused by 20 clients: one effect, one answer ----------------------------------

IdempotentCall = Callable[[Suite, Org, str], Awaitable[tuple[str, dict[str, Any], str]]]


async def _register(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    return REGISTER, registration(idempotencyKey=key), org.junior


async def _follow_up(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    customer = await register(suite, org.junior)
    values = {"customerId": customer["id"], "kind": "CALL", "note": "race", "idempotencyKey": key}
    return FOLLOW_UP, values, org.junior


async def _submit(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    customer = await register(suite, org.junior)
    values = {
        "customerId": customer["id"],
        "currency": "CNY",
        "lines": [{"sku": "SKU-1", "description": "goods", "quantity": "2", "unitPrice": "10.00"}],
        "idempotencyKey": key,
    }
    return SUBMIT, values, org.junior


async def _export_request(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    customer = await register(suite, org.junior)
    values = {"customerIds": [customer["id"]], "reason": "race", "idempotencyKey": key}
    return REQUEST_EXPORT, values, org.manager


async def _check_in(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    return CHECK_IN, check_in(idempotencyKey=key), org.junior


async def _plan_visit(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    customer = await register(suite, org.junior)
    start = datetime.now(UTC) + timedelta(days=1)
    values = {
        "customerId": customer["id"],
        "windowStart": start.isoformat(),
        "windowEnd": (start + timedelta(hours=1)).isoformat(),
        "idempotencyKey": key,
    }
    return PLAN_VISIT, values, org.junior


async def _claim(suite: Suite, org: Org, key: str) -> tuple[str, dict[str, Any], str]:
    (customer_id,) = await seed_customers(suite, org, 1, owner=None)
    return CLAIM, {"customerId": customer_id, "idempotencyKey": key}, org.junior


IDEMPOTENT: dict[str, IdempotentCall] = {
    "registerCustomer": _register,
    "recordFollowUp": _follow_up,
    "submitOrder": _submit,
    "requestCustomerExport": _export_request,
    "checkIn": _check_in,
    "planVisit": _plan_visit,
    "claimCustomer": _claim,
}


async def test_an_idempotency_key_reused_by_many_clients_has_one_effect(
    racing: Suite, org: Org
) -> None:
    """Every create-type mutation at once, each retried by 20 clients with one key."""
    prepared = {
        mutation: await prepare(racing, org, unique("key"))
        for mutation, prepare in IDEMPOTENT.items()
    }
    calls = [
        racing.gql(query, {"input": values}, as_=caller)
        for query, values, caller in prepared.values()
        for _ in range(CLIENTS)
    ]
    results = await race(calls)
    for number, mutation in enumerate(prepared):
        answers = [r.ok()[mutation] for r in results[number * CLIENTS : (number + 1) * CLIENTS]]
        assert all(answer == answers[0] for answer in answers), (mutation, answers)
    stored = await racing.gql(
        CHECK_INS, {"filter": {"employeeId": employee_id(org.junior)}}, as_=org.manager
    )
    assert stored.ok()["checkIns"]["totalCount"] == 1
    await chain_intact(racing, org)


# -- scheduled jobs on SQLite: `make run`'s scheduler and a `salesguard job` beside it ------


async def test_a_job_held_by_one_process_is_skipped_by_another_on_sqlite(
    module_embedded_suite: Suite,
) -> None:
    job = "customers.contact-reads-retention"
    env = {
        **os.environ,
        **{
            f"SALESGUARD_{name.upper()}": str(value)
            for name, value in module_embedded_suite.settings.items()
            if value is not None
        },
    }
    async with job_lock(module_embedded_suite.running["customers"].runtime.db, job) as held:
        assert held
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "salesguard.cli",
            "job",
            job,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert json.loads(out.decode().splitlines()[-1])["status"] == "skipped"


# -- the guard against a write transaction inside another ----------------------------------


async def test_a_write_transaction_inside_another_on_one_database_is_refused(
    tmp_path: Path,
) -> None:
    """On SQLite the inner one would wait for the outer one's write lock, which waits for it."""
    first, second = (Database(f"sqlite+aiosqlite:///{tmp_path}/{n}.db") for n in (1, 2))
    try:
        async with first.transaction():
            with pytest.raises(NestedTransactionError):
                async with first.transaction():
                    pass
            async with second.transaction():  # another database: its own lock
                pass
            # A task started inside may write once the transaction that started it is over.
            later = asyncio.create_task(asyncio.sleep(0.05))
            follow_up = asyncio.create_task(_write_after(first, later))
        await follow_up
    finally:
        await first.dispose()
        await second.dispose()


async def _write_after(db: Database, moment: Awaitable[None]) -> None:
    await moment
    async with db.transaction() as session:
        await session.execute(text("SELECT 1"))
