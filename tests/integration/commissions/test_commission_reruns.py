"""A re-run of an open period (M5) writes back only the lines that changed, and leaves the
period exactly as a first run over the same inputs would: every column of every line.

On PostgreSQL, where a re-run stages its lines and merges them (``salesguard_commissions.lines``).
A line's ``xmin`` (the transaction that last wrote its row) tells whether a run rewrote it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.harness import Suite
from tests.integration.commissions.support import (
    COMPANY_CLAIM,
    PENDING,
    PERIOD,
    PERSONAL_CLAIM,
    Client,
    by_code,
    customer,
    last_month,
    paid_in_period,
)
from tests.support.orders_service import People

COLUMNS = (
    "id, period, branch_id, employee_id, team_id, order_id, order_code, customer_id, kind,"
    " status, base_minor, rate_bp, amount_minor, currency, reason, alert_ids::text,"
    " source_claim, registered_source, plan_version, fully_paid_at"
)


async def stored_lines(suite: Suite, branch_id: str) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """The period's lines of the branch as stored: by ID, (row version, every column)."""
    async with suite.running["commissions"].runtime.db.read() as session:
        rows = await session.execute(
            text(
                f"SELECT xmin::text, {COLUMNS} FROM lines"
                " WHERE period = :period AND branch_id = :branch_id"
            ),
            {"period": PERIOD, "branch_id": branch_id},
        )
        return {row[1]: (row[0], tuple(row[1:])) for row in rows}


def contents(lines: dict[str, tuple[str, tuple[Any, ...]]]) -> dict[str, tuple[Any, ...]]:
    return {line_id: columns for line_id, (_, columns) in lines.items()}


async def first_run_again(suite: Suite, client: Client, people: People) -> dict[str, Any]:
    """What a first run over today's inputs stores: the period's lines and run count reset
    (as if it never ran), then run."""
    branch_id = people.org.branch
    async with suite.running["commissions"].runtime.db.transaction() as session:
        parameters = {"period": PERIOD, "branch_id": branch_id}
        await session.execute(
            text("DELETE FROM lines WHERE period = :period AND branch_id = :branch_id"),
            parameters,
        )
        await session.execute(
            text(
                "UPDATE periods SET run_count = 0 WHERE period = :period AND branch_id = :branch_id"
            ),
            parameters,
        )
    await client.run(people.finance, branch_id)
    return contents(await stored_lines(suite, branch_id))


async def test_a_rerun_rewrites_only_changed_lines_and_equals_a_first_run(
    suite: Suite, client: Client, people: People
) -> None:
    branch = people.org.branch
    company = await customer(suite, people.junior, "WEBSITE")
    personal = await customer(suite, people.junior, "PERSONAL")
    mates = await customer(suite, people.junior_mate, "WEBSITE")
    await client.paid_orders(
        people,
        [
            (people.junior, company, "1000.00", COMPANY_CLAIM),
            (people.junior, personal, "2000.00", COMPANY_CLAIM),
            (people.junior, company, "200.00", PERSONAL_CLAIM),  # SOURCE_CONFLICT
            (people.junior_mate, mates, "900.00", COMPANY_CLAIM),
        ],
    )
    (first,) = await client.run(people.finance, branch)
    written = await stored_lines(suite, branch)
    assert len(written) == 4

    # Nothing changed: no row is written again, the summary is the same.
    (again,) = await client.run(people.finance, branch)
    assert await stored_lines(suite, branch) == written
    assert (again.lines, again.payable, again.pending_review) == (
        first.lines,
        first.payable,
        first.pending_review,
    )

    # A new paid order, and a leaver's lines frozen between the runs: the new line is
    # inserted, the frozen one stays as the freeze left it, the others are not touched.
    (late,) = await client.paid_orders(
        people, [(people.junior, company, "300.00", COMPANY_CLAIM)], paid_in_period(day=20)
    )
    assert await client.freeze(people.hr, people.junior_mate.id, "left") == 1
    frozen = await stored_lines(suite, branch)
    await client.run(people.finance, branch)
    rerun = await stored_lines(suite, branch)
    assert len(rerun) == len(written) + 1 and set(written) <= set(rerun)
    assert {line_id: rerun[line_id] for line_id in written} == frozen
    lines = by_code(await client.statement(people.finance, people.junior.id))
    assert lines[late.code].amount.value == "15.00"
    (mates_line,) = by_code(await client.statement(people.finance, people.junior_mate.id)).values()
    assert mates_line.status == PENDING
    assert contents(rerun) == await first_run_again(suite, client, people)

    # A plan with caps from the period's first day: every line changes (its plan version),
    # the caps apply to the staged lines as to a first run's.
    try:
        await client.upsert_plan(
            people.finance,
            effective_from=last_month().isoformat(),
            company_rate_percent="5",
            personal_rate_percent="8",
            cap_per_order="100",
            cap_per_period="150",
        )
        await client.run(people.finance, branch)
        capped = await stored_lines(suite, branch)
        reasons = {columns[14] for _, columns in capped.values()}
        assert any("CAPPED_PER_ORDER" in reason for reason in reasons), reasons
        assert any("CAPPED_PER_PERIOD" in reason for reason in reasons), reasons
        assert contents(capped) == await first_run_again(suite, client, people)
    finally:
        await client.restore_default_plan(people.admin)
