"""Following the money (O4, O5): statement imports matched and classified, a customer's
amount paying the order due first, statements refused whole, and the same statements on
the embedded profile (SQLite's SQL) — over the services' gRPC APIs on PostgreSQL, OPA
and S3.
"""

from __future__ import annotations

from datetime import timedelta

from salesguard.principal import acting_as
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_api.orders.v1 import payments_pb2
from tests.harness import Suite, unique
from tests.integration.reconciliation.support import (
    OVERPAID,
    PARTIALLY_PAID,
    RECONCILED,
    SITE,
    UNPAID,
    Client,
    ago,
    customer,
    people_of,
    row,
    today,
)
from tests.org import make_org
from tests.support.orders_service import dec

# -- payments, matched and classified ----------------------------------------------------------------


async def test_statements_match_classify_and_rerun_identically(
    suite: Suite, client: Client
) -> None:
    people = people_of(await make_org(suite))
    name = unique("Hangzhou Lianhua")
    buyer = await customer(suite, people, name)
    recent = today() - timedelta(days=20)

    async def approved(total: str) -> pb.Order:
        return await client.approved_order(people, buyer, total, order_date=recent)

    exact, partial, over, by_amount, other_payer, in_two, later = [
        await approved(total)
        for total in ("100.00", "200.00", "300.00", "412.34", "500.00", "600.00", "700.00")
    ]
    refs = {label: unique("BR") for label in ("exact", "partial", "over", "amount", "other")}
    refs |= {label: unique("BR") for label in ("first", "second", "stray", "later")}
    statement = [
        row(refs["exact"], ago(10), "100.00", name, f"Payment {exact.code}"),
        row(refs["partial"], ago(9), "50.00", name, f"{partial.code} first instalment"),
        row(refs["over"], ago(8), "350.00", name, f"Invoice {over.code}"),
        # Quotes nothing: matched by the customer's name and the amount.
        row(refs["amount"], ago(7), "412.34", f"  {name.upper()} ", "goods received with thanks"),
        row(refs["other"], ago(6), "500.00", "Someone Else Ltd", f"for {other_payer.code}"),
        row(refs["first"], ago(5), "100.00", name, f"{in_two.code} part 1"),
        row(refs["second"], ago(3), "500.00", name, f"{in_two.code} part 2"),
        # Nobody's: no code, an amount no order of this payer has.
        row(refs["stray"], ago(2), "77.77", unique("Unknown Payer"), "misc"),
    ]
    key, imported = await client.import_statement(suite, people.finance, statement, bom=True)
    assert (imported.applied, imported.rows, imported.accepted, imported.duplicates) == (
        True,
        8,
        8,
        0,
    )
    assert list(imported.rejected) == []
    # The same statement key again: the first result, nothing written twice.
    assert await client.import_key(people.finance, key) == imported
    # A second statement repeats a line of the first (a duplicate) and brings a new one.
    _, second = await client.import_statement(
        suite,
        people.finance,
        [statement[0], row(refs["later"], ago(1), "700.00", name, f"{later.code}")],
    )
    assert (second.applied, second.rows, second.accepted, second.duplicates) == (True, 2, 1, 1)

    first = await client.run(people.finance)

    async def state(order: pb.Order) -> pb.Order:
        return await client.order(people.finance, order.id)

    expected = {
        exact.id: (RECONCILED, "100.00", ago(10)),
        partial.id: (PARTIALLY_PAID, "50.00", None),
        over.id: (OVERPAID, "350.00", ago(8)),
        by_amount.id: (RECONCILED, "412.34", ago(7)),
        other_payer.id: (RECONCILED, "500.00", ago(6)),
        # The second payment is the one whose running sum reached the total.
        in_two.id: (RECONCILED, "600.00", ago(3)),
        later.id: (RECONCILED, "700.00", ago(1)),
    }
    for order in (exact, partial, over, by_amount, other_payer, in_two, later):
        stored = await state(order)
        paid_state, paid, fully_paid_at = expected[order.id]
        assert (stored.payment_state, stored.paid_amount.value) == (paid_state, paid), order.code
        assert from_timestamp(stored.fully_paid_at, "fully_paid_at") == fully_paid_at, order.code

    # How each payment was matched: by the quoted code, or by customer + amount.
    matched = {
        payment.bank_reference: payment
        for order in (exact, by_amount, other_payer, in_two)
        for payment in await client.list_payments(people.finance, order_id=order.id)
    }
    assert matched[refs["exact"]].matched_by == "ORDER_CODE"
    assert matched[refs["amount"]].matched_by == "CUSTOMER_AMOUNT"
    assert matched[refs["amount"]].order_id == by_amount.id
    assert matched[refs["amount"]].customer_id == buyer
    assert matched[refs["first"]].order_id == matched[refs["second"]].order_id == in_two.id
    assert all(payment.branch_id == people.org.branch for payment in matched.values())
    # The duplicate line was stored once.
    assert [
        p.bank_reference for p in await client.list_payments(people.finance, order_id=exact.id)
    ] == [refs["exact"]]

    # Another payer paid an order by its code: PAYER_MISMATCH, once, for that payment only.
    mismatches = await client.list_alerts(people.hr, "PAYER_MISMATCH", customer_id=buyer)
    assert len(mismatches) == 1
    assert mismatches[0].order_id == other_payer.id
    assert mismatches[0].employee_id == people.junior.id
    evidence = dict(mismatches[0].evidence)
    assert (evidence["bank_reference"], evidence["payer_name"]) == (
        refs["other"],
        "Someone Else Ltd",
    )
    assert (evidence["amount"], evidence["order_code"]) == ("500.00", other_payer.code)

    # Finance sees the unmatched payment; the branch's manager does not (it has no branch yet).
    items, unmatched = await client.reconciliation_items(people.finance)
    assert refs["stray"] in {payment.bank_reference for payment in unmatched}
    ours = {item.order.id: item for item in items if item.order.customer_id == buyer}
    assert ours[partial.id].state == PARTIALLY_PAID
    assert (ours[partial.id].paid.value, ours[partial.id].due.value) == ("50.00", "150.00")
    assert (ours[over.id].due.value, ours[over.id].state) == ("0.00", OVERPAID)
    _, managers_unmatched = await client.reconciliation_items(people.manager)
    assert managers_unmatched == []
    partial_only, _ = await client.reconciliation_items(people.manager, PARTIALLY_PAID)
    assert [item.order.id for item in partial_only] == [partial.id]
    # Two at a time, the branch's items come in the same order, each page counting them all
    # and resuming after its last cursor.
    branch_items, _ = await client.reconciliation_items(people.manager)
    paged: list[str] = []
    token = ""
    with acting_as(people.manager):
        while True:
            page = await client.reconciliation.GetReconciliation(
                payments_pb2.GetReconciliationRequest(
                    page=common_pb2.PageRequest(
                        page_size=2, page_token=token, include_total_count=True
                    )
                )
            )
            assert 0 < len(page.items) == len(page.cursors) <= 2
            assert page.page_info.total_count == len(branch_items)
            paged += [item.order.id for item in page.items]
            if not page.page_info.has_next_page:
                assert page.page_info.next_page_token == ""
                break
            assert page.page_info.next_page_token == page.cursors[-1]
            token = page.page_info.next_page_token
    assert paged == [item.order.id for item in branch_items]
    assert {exact.id, partial.id, over.id, by_amount.id, in_two.id, later.id} <= set(paged)

    # Re-running changes nothing: same classification, same counts, no new alert.
    before = {order.id: await state(order) for order in (exact, partial, over, in_two)}
    again = await client.run(people.finance)
    assert again.alerts_raised == 0
    assert (again.orders, again.reconciled, again.partially_paid, again.overpaid) == (
        first.orders,
        first.reconciled,
        first.partially_paid,
        first.overpaid,
    )
    assert (again.payments_matched, again.payments_unmatched) == (
        first.payments_matched,
        first.payments_unmatched,
    )
    assert {order_id: await state(order) for order_id, order in before.items()} == before
    assert len(await client.list_alerts(people.hr, "PAYER_MISMATCH", customer_id=buyer)) == 1

    # A reversal after reconciliation makes the order unpaid again at once (O5: nobody
    # presses a button); a run after it agrees.
    await client.reverse(
        people.finance,
        matched[refs["exact"]].id,
        payments_pb2.REVERSAL_KIND_CHARGEBACK,
        "chargeback by the payer's bank",
    )
    for run in (False, True):
        if run:
            await client.run(people.finance)
        reversed_ = await state(exact)
        assert (reversed_.payment_state, reversed_.paid_amount.value) == (UNPAID, "0.00")
        assert not reversed_.HasField("fully_paid_at")
    # Reversing one of two payments leaves the order partly paid, no longer fully.
    await client.reverse(
        people.finance,
        matched[refs["first"]].id,
        payments_pb2.REVERSAL_KIND_REFUND,
        "refunded the first instalment",
    )
    await client.run(people.finance)
    refunded = await state(in_two)
    assert (refunded.payment_state, refunded.paid_amount.value) == (PARTIALLY_PAID, "500.00")
    assert not refunded.HasField("fully_paid_at")


async def test_customer_amount_pays_the_order_due_first(suite: Suite, client: Client) -> None:
    people = people_of(await make_org(suite))
    name = unique("Ningbo Harbour")
    buyer = await customer(suite, people, name)

    async def order_of_880(ordered_days_ago: int, due_in_days: int) -> pb.Order:
        return await client.approved_order(
            people,
            buyer,
            "880.00",
            order_date=today() - timedelta(days=ordered_days_ago),
            expected_payment_date=today() + timedelta(days=due_in_days),
        )

    # Two open orders of the same amount: the one due first takes the older payment.
    due_later = await order_of_880(ordered_days_ago=30, due_in_days=20)
    due_first = await order_of_880(ordered_days_ago=10, due_in_days=5)
    # A third order of that amount, paid by a payment that states it: taken first.
    stated = await order_of_880(ordered_days_ago=40, due_in_days=-1)
    with acting_as(people.finance):
        await client.payments.RecordPayment(
            payments_pb2.RecordPaymentRequest(
                bank_reference=unique("BR"),
                payer_name=name,
                amount=dec("880.00"),
                currency="CNY",
                paid_at=to_timestamp(ago(6)),
                order_id=stated.id,
            )
        )
    older, newer = unique("BR"), unique("BR")
    # The company name matches too (the customer's company key).
    payer = f"{name} Trading Co"
    _, imported = await client.import_statement(
        suite,
        people.finance,
        [row(older, ago(4), "880.00", payer, "no code"), row(newer, ago(2), "880.00", payer, "")],
    )
    assert imported.accepted == 2
    await client.run(people.finance)
    (stated_payment,) = await client.list_payments(people.finance, order_id=stated.id)
    assert (stated_payment.matched_by, stated_payment.order_id) == ("ORDER_CODE", stated.id)
    assert (await client.order(people.finance, stated.id)).payment_state == RECONCILED
    first_paid = await client.list_payments(people.finance, order_id=due_first.id)
    later_paid = await client.list_payments(people.finance, order_id=due_later.id)
    assert [p.bank_reference for p in first_paid] == [older]
    assert [p.bank_reference for p in later_paid] == [newer]
    assert {p.matched_by for p in [*first_paid, *later_paid]} == {"CUSTOMER_AMOUNT"}
    # Matched by customer: not a payer mismatch.
    assert not await client.list_alerts(people.hr, "PAYER_MISMATCH", customer_id=buyer)


# -- statements refused whole --------------------------------------------------------------------


async def test_a_malformed_row_rejects_the_whole_statement(suite: Suite, client: Client) -> None:
    people = people_of(await make_org(suite))
    name = unique("Suzhou Silk")
    good = [unique("BR") for _ in range(3)]
    lines = [
        row(good[0], ago(3), "120.00", name, "fine"),
        row(unique("BR"), ago(3), "10.12345", name, "five decimals"),  # line 3
        row(good[1], ago(2), "80.00", name, "fine"),
    ]
    _, refused = await client.import_statement(suite, people.finance, lines)
    assert (refused.applied, refused.rows, refused.accepted, refused.duplicates) == (
        False,
        3,
        0,
        0,
    )
    assert [(r.line, r.field) for r in refused.rejected] == [(3, "amount")]
    assert "decimal" in refused.rejected[0].reason

    # Every kind of malformed row is named, each with its line.
    repeated = unique("BR")
    _, many = await client.import_statement(
        suite,
        people.finance,
        [
            row(repeated, ago(3), "1.00", name, "ok"),  # 2
            f"{unique('BR')},{ago(3).isoformat()},1.00,CNY,{name},6222",  # 3: six columns
            row(unique("BR"), ago(3), "1.00", name, "ok").replace(",CNY,", ",XYZ,"),  # 4
            row(unique("BR"), ago(3), "1.00", name, "ok").replace(
                ago(3).isoformat(), "2026-13-45"
            ),  # 5
            row(repeated, ago(2), "2.00", name, "again"),  # 6: the same bank line twice
            "",  # a blank line is no row
            row(good[2], ago(1), "3.00", name, "ok"),  # 8
        ],
    )
    assert not many.applied
    assert many.rows == 6
    assert [(r.line, r.field) for r in many.rejected] == [
        (3, ""),
        (4, "currency"),
        (5, "paid_at"),
        (6, "bank_reference"),
    ]
    assert "line 2" in many.rejected[-1].reason

    # Nothing of either file was applied: the good lines import as new, not as duplicates.
    _, fixed = await client.import_statement(
        suite,
        people.finance,
        [row(reference, ago(1), "9.00", name, "fixed") for reference in [*good, repeated]],
    )
    assert (fixed.applied, fixed.accepted, fixed.duplicates) == (True, 4, 0)

    # A file without the expected header is refused at line 1.
    key = await client.upload_statement(suite, people.finance, b"reference,amount\r\nX,1.00\r\n")
    headless = await client.import_key(people.finance, key)
    assert not headless.applied
    assert [(r.line, r.field) for r in headless.rejected] == [(1, "header")]


# -- the embedded profile: the same statements on SQLite ---------------------------------------------


async def test_reconciliation_on_the_embedded_profile(embedded_suite: Suite) -> None:
    suite = embedded_suite
    client = Client(suite)
    try:
        people = people_of(await make_org(suite))
        name = unique("Embedded Buyer")
        buyer = await customer(suite, people, name)
        paid = await client.approved_order(
            people, buyer, "250.50", order_date=today() - timedelta(days=3)
        )
        by_amount = await client.approved_order(
            people, buyer, "99.99", order_date=today() - timedelta(days=3)
        )
        overdue = await client.approved_order(
            people,
            buyer,
            "75.00",
            order_date=today() - timedelta(days=40),
            expected_payment_date=today() - timedelta(days=10),
        )
        part_1, no_code = unique("BR"), unique("BR")
        key, imported = await client.import_statement(
            suite,
            people.finance,
            [
                row(part_1, ago(2), "100.00", name, f"{paid.code} part 1"),
                row(no_code, ago(1), "99.99", name, "no code"),
            ],
        )
        assert (imported.applied, imported.accepted) == (True, 2)
        assert await client.import_key(people.finance, key) == imported
        _, again_imported = await client.import_statement(
            suite, people.finance, [row(no_code, ago(1), "99.99", name, "no code")]
        )
        assert (again_imported.accepted, again_imported.duplicates) == (0, 1)
        # Finance states the order when recording; the payer is someone else.
        with acting_as(people.finance):
            await client.payments.RecordPayment(
                payments_pb2.RecordPaymentRequest(
                    bank_reference=unique("BR"),
                    payer_name="Other Payer",
                    amount=dec("150.50"),
                    currency="CNY",
                    paid_at=to_timestamp(ago(1)),
                    order_id=paid.id,
                )
            )
        # Recorded, matched and classified at once; the other payer is flagged at once too.
        assert (await client.order(people.finance, paid.id)).payment_state == RECONCILED
        assert await client.list_alerts(people.hr, "PAYER_MISMATCH", order_id=paid.id)
        first = await client.run(people.finance)
        assert first.alerts_raised == 1  # the overdue order: the fake-deal check is the run's
        stored = await client.order(people.finance, paid.id)
        assert (stored.payment_state, stored.paid_amount.value) == (RECONCILED, "250.50")
        assert from_timestamp(stored.fully_paid_at, "fully_paid_at") == ago(1)
        assert (await client.order(people.finance, by_amount.id)).payment_state == RECONCILED
        assert (await client.order(people.finance, overdue.id)).payment_state == UNPAID
        assert await client.list_alerts(people.hr, "FAKE_DEAL_SUSPECTED", order_id=overdue.id)
        assert await client.list_alerts(people.hr, "PAYER_MISMATCH", order_id=paid.id)
        again = await client.run(people.finance)
        assert again.alerts_raised == 0
        assert (again.reconciled, again.unpaid) == (first.reconciled, first.unpaid)
        streamed = [
            valid.order_id
            async for batch in client.stream_valid_orders(
                people.system,
                payments_pb2.StreamValidOrdersRequest(
                    paid_from=to_timestamp(ago(10)), paid_to=to_timestamp(ago(0, hour=23))
                ),
            )
            for valid in batch.orders
        ]
        # Both fully paid at the same moment: by number then.
        assert streamed == [paid.id, by_amount.id]

        # Diversion risk: a monthly rhythm, 90 days of silence, a visit yesterday.
        regular = await customer(
            suite, people, unique("Embedded Regular"), location={"lat": SITE[0], "lng": SITE[1]}
        )
        for days in (150, 120, 90):
            await client.approved_order(
                people, regular, "10.00", order_date=today() - timedelta(days=days)
            )
        await client.visit(people.junior, regular, days_ago=1)
        detected = await client.detect_diversion_risk(people.hr, as_of=today().isoformat())
        # The first buyer has a rhythm too (three orders), but ordered three days ago.
        assert (detected.customers_checked, detected.alerts_raised) == (2, 1)
        (alert,) = await client.list_alerts(people.hr, "DIVERSION_RISK", customer_id=regular)
        evidence = dict(alert.evidence)
        assert (evidence["usual_interval_days"], evidence["days_silent"]) == (30, 90)
        assert evidence["visits_since_last_order"] == 1
    finally:
        await client.channels.close()
