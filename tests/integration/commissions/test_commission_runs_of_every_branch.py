"""A run of every branch (M2) handles a few branches at once, each in its own transaction
(``branch_concurrency``): it stores for each branch exactly what a run of that branch
alone stores, leaves a locked period as it is, and answers the branches in order.
"""

from __future__ import annotations

from salesguard_api.commissions.v1 import commissions_pb2 as pb
from tests.harness import Suite
from tests.integration.commissions.support import (
    COMPANY_CLAIM,
    PENDING,
    PERIOD,
    PERSONAL_CLAIM,
    Client,
    by_code,
    contents,
    customer,
    first_run_again,
    make_people,
    paid_in_period,
    stored_lines,
)
from tests.support.orders_service import People


async def test_a_run_of_every_branch_stores_what_each_branch_alone_would(
    suite: Suite, client: Client, people: People
) -> None:
    assert suite.running["commissions"].runtime.settings.branch_concurrency > 1
    # Two companies with paid orders, a leaver in one, the other's second branch locked.
    other = await make_people(suite)
    company = await customer(suite, people.junior, "WEBSITE")
    personal = await customer(suite, people.senior, "PERSONAL")
    await client.paid_orders(
        people,
        [
            (people.junior, company, "1000.00", COMPANY_CLAIM),
            (people.senior, personal, "2000.00", COMPANY_CLAIM),
            (people.junior, company, "200.00", PERSONAL_CLAIM),  # SOURCE_CONFLICT
        ],
    )
    theirs = await customer(suite, other.junior_mate, "REFERRAL")
    await client.paid_orders(
        other,
        [
            (other.junior_mate, theirs, "700.00", COMPANY_CLAIM),
            (other.junior_mate, theirs, "300.00", COMPANY_CLAIM),
        ],
        paid_in_period(day=12),
    )
    await client.freeze(other.hr, other.junior_mate.id, "left")
    await client.run(people.finance, people.org.other_branch)
    locked = await client.lock(people.finance, people.org.other_branch)

    periods = await client.run(people.finance, "")

    ids = [period.branch_id for period in periods]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    by_branch = {period.branch_id: period for period in periods}
    assert by_branch[people.org.other_branch] == locked
    assert (by_branch[people.org.branch].lines, by_branch[other.org.branch].lines) == (3, 2)
    ours = by_code(await client.statement(people.finance, people.junior.id))
    assert sorted(line.reason for line in ours.values()) == ["COMPANY_CHANNEL", "SOURCE_CONFLICT"]
    (mates,) = {
        line.status
        for line in by_code(await client.statement(other.finance, other.junior_mate.id)).values()
    }
    assert mates == PENDING  # the leaver's lines, read in their branch's own transaction

    for company_people in (people, other):
        branch = company_people.org.branch
        together = contents(await stored_lines(suite, branch))
        assert together == await first_run_again(suite, client, company_people, branch)
    assert by_branch[people.org.other_branch].status == pb.PERIOD_STATUS_LOCKED
    assert (await client.run(people.finance, people.org.branch, PERIOD))[0].lines == 3
