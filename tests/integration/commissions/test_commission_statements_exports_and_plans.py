"""Commissions (M1, M4, M5) end to end: deterministic exports, exact totals, scoped
statements, a leaver's frozen lines, the embedded profile and plan versions (last in this
folder: a plan applies to every branch from its date on).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from salesguard.csvsafe import read_rows
from salesguard.errors import ErrorCode
from salesguard.principal import Principal
from salesguard_api.commissions.v1 import commissions_pb2 as pb
from tests.harness import Suite, unique
from tests.integration.commissions.support import (
    COMPANY_CLAIM,
    PAYABLE,
    PENDING,
    PERIOD,
    PERSONAL_CLAIM,
    Client,
    by_code,
    cents,
    customer,
    half_up,
    last_month,
    make_people,
)
from tests.support.exports import download as download_once
from tests.support.orders_service import People, refused

# -- M5: determinism -----------------------------------------------------------------------------


async def download(suite: Suite, url: str, employee: Principal) -> bytes:
    """A payroll export's one-time download, fetched by the employee who exported it."""
    response = await download_once(suite, url, as_=employee.id)
    assert response.status_code == 200, response.text
    return response.content


async def test_two_runs_give_byte_identical_exports(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior, "WEBSITE")
    personal = await customer(suite, people.junior_b, "PERSONAL")
    await client.paid_orders(
        people,
        [
            (people.junior, company, "123.45", COMPANY_CLAIM),
            (people.junior, company, "99.99", PERSONAL_CLAIM),
            (people.junior_b, personal, "2500.00", COMPANY_CLAIM),
        ],
    )
    branch = people.org.branch
    await refused(client.export(people.finance, branch), ErrorCode.FAILED_PRECONDITION)
    await client.run(people.finance, branch)
    first = await client.export(people.finance, branch)
    first_bytes = await download(suite, first.download_url, people.finance)
    first_statement = await client.statement(people.finance, people.junior.id)

    (summary,) = await client.run(people.finance, branch)
    second = await client.export(people.finance, branch)
    second_bytes = await download(suite, second.download_url, people.finance)
    assert second_bytes == first_bytes
    assert second.sha256 == first.sha256 == hashlib.sha256(first_bytes).hexdigest()
    assert second.row_count == first.row_count == 3 == summary.lines
    assert await client.statement(people.finance, people.junior.id) == first_statement

    text = first_bytes.decode()
    header, *rows = text.splitlines()
    assert header.startswith("line_id,period,branch_id,employee_id,team_id,order_code")
    assert len(rows) == 3
    assert all(row.split(",")[1:3] == [PERIOD, branch] for row in rows)
    # Sorted by employee, then payment time and order code: the file is the same every time.
    employees = [row.split(",")[3] for row in rows]
    assert employees == sorted(employees)
    assert {row.split(",")[4] for row in rows} == {people.org.team_a, people.org.team_b}
    # Each line's row carries the amounts its statement shows.
    columns = header.split(",")
    by_id = {row[0]: dict(zip(columns, row, strict=True)) for row in read_rows(rows)}
    assert first_statement.lines
    for line in first_statement.lines:
        row = by_id[line.id]
        assert (row["order_code"], row["amount"], row["status"]) == (
            line.order_code,
            line.amount.value,
            pb.LineStatus.Name(line.status).removeprefix("LINE_STATUS_"),
        )


# -- money ---------------------------------------------------------------------------------------


async def test_totals_are_the_sums_of_the_lines_to_the_cent(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior, "WEBSITE")
    personal = await customer(suite, people.junior, "PERSONAL")
    specs = [
        (people.junior, company, "33.33", COMPANY_CLAIM),  # 1.6665 -> 1.67
        (people.junior, company, "66.67", COMPANY_CLAIM),  # 3.3335 -> 3.33
        (people.junior, company, "0.10", COMPANY_CLAIM),  # 0.005 -> 0.01 (half-up)
        (people.junior, personal, "33.33", COMPANY_CLAIM),  # 2.6664 -> 2.67
        (people.junior, personal, "66.67", COMPANY_CLAIM),  # 5.3336 -> 5.33
        (people.junior, company, "10.10", PERSONAL_CLAIM),  # 0.505 -> 0.51, pending review
    ]
    orders = await client.paid_orders(people, specs)
    (summary,) = await client.run(people.finance, people.org.branch)
    statement = await client.statement(people.junior, people.junior.id)
    lines = by_code(statement)
    expected = {
        order.code: half_up(total, "8" if customer_id == personal else "5")
        for order, (_, customer_id, total, _) in zip(orders, specs, strict=True)
    }
    assert {code: cents(line.amount.value) for code, line in lines.items()} == expected
    assert [str(amount) for amount in expected.values()] == [
        "1.67",
        "3.33",
        "0.01",
        "2.67",
        "5.33",
        "0.51",
    ]
    (total,) = statement.totals
    payable = sum(
        (cents(line.amount.value) for line in statement.lines if line.status == PAYABLE),
        Decimal(0),
    )
    pending = sum(
        (cents(line.amount.value) for line in statement.lines if line.status == PENDING),
        Decimal(0),
    )
    assert cents(total.payable.value) == payable == Decimal("13.01")
    assert cents(total.pending_review.value) == pending == Decimal("0.51")
    assert summary.payable.value == "13.01"
    # Lines come in a fixed order: by payment time, then order code.
    codes = [line.order_code for line in statement.lines]
    assert codes == sorted(codes)


# -- statements are scoped; only finance runs and locks -----------------------------------------


async def test_statements_are_scoped_and_only_finance_runs_and_locks(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior, "WEBSITE")
    mates = await customer(suite, people.junior_mate, "WEBSITE")
    await client.paid_orders(
        people,
        [
            (people.junior, company, "1000.00", COMPANY_CLAIM),
            (people.junior_mate, mates, "2000.00", COMPANY_CLAIM),
        ],
    )
    branch = people.org.branch
    for outsider in (people.junior, people.manager, people.hr):
        await refused(client.run(outsider, branch), ErrorCode.FORBIDDEN)
    await client.run(people.finance, branch)

    own = await client.statement(people.junior, people.junior.id)
    assert [line.amount.value for line in own.lines] == ["50.00"]
    await refused(client.statement(people.junior, people.junior_mate.id), ErrorCode.FORBIDDEN)
    await refused(client.statement(people.junior_b, people.junior.id), ErrorCode.FORBIDDEN)
    for reader in (people.manager, people.hr, people.finance):
        mate = await client.statement(reader, people.junior_mate.id)
        assert [line.amount.value for line in mate.lines] == ["100.00"]
    await refused(client.statement(people.other_manager, people.junior.id), ErrorCode.FORBIDDEN)
    # A rep's own empty month is no secret; someone else's is.
    assert not (await client.statement(people.junior_b, people.junior_b.id)).lines

    for outsider in (people.junior, people.manager, people.hr):
        await refused(client.lock(outsider, branch), ErrorCode.FORBIDDEN)
        await refused(client.export(outsider, branch), ErrorCode.FORBIDDEN)
    assert (await client.lock(people.finance, branch)).status == pb.PERIOD_STATUS_LOCKED
    assert (await client.export(people.finance, branch)).row_count == 2

    await refused(client.run(people.finance, branch, "2026-13"), ErrorCode.VALIDATION)
    await refused(client.run(people.finance, unique("no-branch")), ErrorCode.NOT_FOUND)
    await refused(client.statement(people.junior, people.junior.id, "26-01"), ErrorCode.VALIDATION)


# -- C6: a leaving employee's open lines wait for review -----------------------------------------


async def test_freezing_a_leaving_employee_holds_their_open_lines(
    suite: Suite, client: Client, people: People
) -> None:
    company = await customer(suite, people.junior_mate, "WEBSITE")
    await client.paid_orders(
        people,
        [
            (people.junior_mate, company, "100.00", COMPANY_CLAIM),
            (people.junior_mate, company, "300.00", COMPANY_CLAIM),
        ],
    )
    branch = people.org.branch
    await client.run(people.finance, branch)
    await refused(client.freeze(people.finance, people.junior_mate.id, "left"), ErrorCode.FORBIDDEN)
    assert await client.freeze(people.hr, people.junior_mate.id, "resigned 2026-03-31") == 2
    assert await client.freeze(people.hr, people.junior_mate.id, "resigned 2026-03-31") == 0

    for _ in range(2):  # a re-run keeps them frozen, with the same reason
        statement = await client.statement(people.hr, people.junior_mate.id)
        assert {line.status for line in statement.lines} == {PENDING}
        assert all(
            line.reason == "COMPANY_CHANNEL; employee left: resigned 2026-03-31"
            for line in statement.lines
        )
        (total,) = statement.totals
        assert (total.payable.value, total.pending_review.value) == ("0.00", "20.00")
        await client.run(people.finance, branch)


# -- the embedded profile: SQLite, in-process policies, local objects ----------------------------


async def test_the_embedded_profile_runs_locks_and_exports(embedded_suite: Suite) -> None:
    people = await make_people(embedded_suite)
    client = Client(embedded_suite)
    try:
        company = await customer(embedded_suite, people.junior, "WEBSITE")
        personal = await customer(embedded_suite, people.junior, "PERSONAL")
        orders = await client.paid_orders(
            people,
            [
                (people.junior, company, "33.33", COMPANY_CLAIM),
                (people.junior, personal, "66.67", COMPANY_CLAIM),
                (people.junior, company, "10.10", PERSONAL_CLAIM),
            ],
        )
        branch = people.org.branch
        for _ in range(2):
            (summary,) = await client.run(people.finance, branch)
        assert (summary.lines, summary.payable.value, summary.pending_review.value) == (
            3,
            "7.00",
            "0.51",
        )
        statement = await client.statement(people.junior, people.junior.id)
        assert [line.order_code for line in statement.lines] == [order.code for order in orders]
        assert [line.amount.value for line in statement.lines] == ["1.67", "5.33", "0.51"]
        await client.lock(people.finance, branch)
        await refused(client.run(people.finance, branch), ErrorCode.FAILED_PRECONDITION)
        assert await client.freeze(people.hr, people.junior.id, "left") == 0  # locked: unchanged
        assert (await client.statement(people.junior, people.junior.id)).lines == statement.lines
        exported = await client.export(people.finance, branch)
        again = await client.export(people.finance, branch)
        assert exported.sha256 == again.sha256 and exported.row_count == 3
        content = await download(embedded_suite, exported.download_url, people.finance)
        assert hashlib.sha256(content).hexdigest() == exported.sha256
    finally:
        await client.channels.close()


# -- M1: plans (last: they apply to every branch from their date on) -----------------------------


async def test_plans_are_versioned_and_a_locked_period_keeps_its_lines(
    suite: Suite, client: Client, people: People
) -> None:
    await refused(
        client.upsert_plan(
            people.junior,
            effective_from="2090-01-01",
            company_rate_percent="6",
            personal_rate_percent="9",
        ),
        ErrorCode.FORBIDDEN,
    )
    for bad in (
        {"company_rate_percent": "100.01"},
        {"company_rate_percent": "5.555"},
        {"company_rate_percent": ""},
        {"effective_from": "2090-02-30"},
        {"cap_per_order": "-1"},
    ):
        values: dict[str, Any] = {
            "effective_from": "2090-01-01",
            "company_rate_percent": "6",
            "personal_rate_percent": "9",
            **bad,
        }
        error = await refused(client.upsert_plan(people.admin, **values), ErrorCode.VALIDATION)
        assert error.field == next(iter(bad)), error  # the refusal names the bad field

    company = await customer(suite, people.junior, "WEBSITE")
    personal = await customer(suite, people.junior, "PERSONAL")
    branch = people.org.branch
    start = last_month().isoformat()
    try:
        capped = await client.upsert_plan(
            people.finance,
            effective_from=start,
            company_rate_percent="10",
            personal_rate_percent="12.5",
            cap_per_order="150",
            cap_per_period="300",
            note="spring campaign",
        )
        assert capped.version >= 1
        orders = await client.paid_orders(
            people,
            [
                (people.junior, company, "1000.00", COMPANY_CLAIM),  # 100.00
                (people.junior, personal, "2000.00", COMPANY_CLAIM),  # 250.00 -> 150.00 per order
                (people.junior, company, "900.00", COMPANY_CLAIM),  # 90.00 -> 50.00 left in period
                (people.junior, company, "500.00", COMPANY_CLAIM),  # 50.00 -> 0.00
            ],
        )
        # Paid in that order: the period cap takes what the earlier ones leave.
        (summary,) = await client.run(people.finance, branch)
        assert summary.plan_version == capped.version
        statement = await client.statement(people.junior, people.junior.id)
        amounts = [by_code(statement)[order.code].amount.value for order in orders]
        assert amounts == ["100.00", "150.00", "50.00", "0.00"]
        assert "CAPPED_PER_ORDER" in by_code(statement)[orders[1].code].reason
        assert "CAPPED_PER_PERIOD" in by_code(statement)[orders[2].code].reason
        assert statement.totals[0].payable.value == "300.00"
        assert [line.plan_version for line in statement.lines] == [capped.version] * 4
        await client.lock(people.finance, branch)
        statement = await client.statement(people.junior, people.junior.id)
        assert statement.period_status == pb.PERIOD_STATUS_LOCKED

        lower = {
            "effective_from": start,
            "company_rate_percent": "1",
            "personal_rate_percent": "2",
            "idempotency_key": unique("plan"),
        }
        later = await client.upsert_plan(people.finance, **lower)
        assert later.version == capped.version + 1
        # A retried upsert stores no second version; the key cannot carry other rates.
        assert await client.upsert_plan(people.finance, **lower) == later
        await refused(
            client.upsert_plan(people.finance, **{**lower, "company_rate_percent": "3"}),
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
        )
        assert await client.statement(people.junior, people.junior.id) == statement
        listed = await client.plans(people.hr)
        assert [plan.version for plan in listed] == sorted(plan.version for plan in listed)
        assert listed[0].version == 0 and listed[0].company_rate_percent.value == "5.00"
        assert {plan.version for plan in listed} >= {capped.version, later.version}
        assert max(plan.version for plan in listed) == later.version  # the retry stored none
        mine = next(plan for plan in listed if plan.version == capped.version)
        assert (mine.personal_rate_percent.value, mine.cap_per_order.value) == ("12.50", "150.00")
        assert mine.created_by == people.finance.id and mine.note == "spring campaign"
        await refused(client.plans(people.junior), ErrorCode.FORBIDDEN)
    finally:
        await client.restore_default_plan(people.admin)
