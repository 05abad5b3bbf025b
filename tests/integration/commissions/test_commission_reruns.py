"""A re-run of an open period (M5) writes back only the lines that changed, and leaves the
period exactly as a first run over the same inputs would: every column of every line.

On PostgreSQL, where a re-run stages its lines and merges them (``salesguard_commissions.lines``).
A line's ``xmin`` (the transaction that last wrote its row) tells whether a run rewrote it.
"""

from __future__ import annotations

from tests.harness import Suite
from tests.integration.commissions.support import (
    COMPANY_CLAIM,
    PENDING,
    PERSONAL_CLAIM,
    Client,
    by_code,
    contents,
    customer,
    first_run_again,
    last_month,
    paid_in_period,
    stored_lines,
)
from tests.support.orders_service import People


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
