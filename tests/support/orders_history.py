"""A history of settled orders and payments, seeded set-based on PostgreSQL: what a payment
recorded today must not have to read (the incremental reconciliation's test and benchmark).

Order ``n`` of ``first..last`` is closed, shipped and reconciled by one payment quoting its
code; its customer (one of ``customers``) has the name key ``history customer <k>``. One
payment in ten comes from an unknown payer and matches nothing.
"""

from __future__ import annotations

from sqlalchemy import text

from salesguard.db import Database

# Every column of an order, in the order a set-based seed's SELECT gives them (the history
# below, the benchmarks' seeds), then its payment state (``order_payment_states``).
ORDER_COLUMNS = """number, id, customer_id, customer_code, owner_id, submitted_by, team_id,
    branch_id, currency, total_minor, order_date, expected_payment_date, source_claim,
    registered_source, status, flags, customer_name_key, customer_company_key, note,
    submitted_at, updated_at"""
SEEDED_COLUMNS = f"{ORDER_COLUMNS}, payment_state, paid_minor, fully_paid_at, shipped"


def insert_orders(select: str) -> str:
    """One statement inserting the orders ``select`` gives (every column of
    :data:`SEEDED_COLUMNS`, in that order) and the payment states of those classified (as
    their approval's reconciliation gives them) or paid (a literal's type is the CTE's
    text: ``flags`` and ``fully_paid_at`` are cast)."""
    return f"""
WITH seeded ({SEEDED_COLUMNS}) AS ({select}),
inserted AS (
    INSERT INTO orders ({ORDER_COLUMNS}, shipped)
    SELECT {ORDER_COLUMNS.replace("flags", "CAST(flags AS json)")}, shipped FROM seeded
)
INSERT INTO order_payment_states (order_number, payment_state, paid_minor, fully_paid_at, branch_id)
SELECT number, payment_state, paid_minor, CAST(fully_paid_at AS timestamptz), branch_id
FROM seeded
WHERE status IN ('APPROVED', 'FULFILLED', 'CLOSED') OR payment_state <> 'UNPAID'
   OR paid_minor <> 0 OR fully_paid_at IS NOT NULL
"""


HISTORY_ORDERS = insert_orders("""
SELECT n, md5('history-order' || n), md5('history-customer' || (n % :customers)),
       'C-' || lpad((n % :customers)::text, 6, '0'),
       'rep-' || (n % 50), 'rep-' || (n % 50), 'team-' || (n % 10), 'branch-' || (n % 5),
       'CNY', 10000 + (n * 7919) % 990000, day, day + 30, 'WEBSITE', 'WEBSITE', 'CLOSED', '[]',
       'history customer ' || (n % :customers), 'history company ' || (n % :customers),
       '', day::timestamp AT TIME ZONE 'UTC', day::timestamp AT TIME ZONE 'UTC',
       'RECONCILED', 10000 + (n * 7919) % 990000, (day + 10)::timestamp AT TIME ZONE 'UTC', true
FROM (
    SELECT n, (current_date - 60 - (n % 700)::int) AS day
    FROM generate_series(CAST(:first AS bigint), :last) AS n
) numbered
""")

HISTORY_PAYMENTS = """
INSERT INTO payments (
    id, bank_reference, payer_name, payer_account, payer_key, amount_minor, currency, paid_at,
    reference_text, quoted_order_number, voucher_key, stated_order_id, order_id, customer_id,
    branch_id, matched_by, reversed, reversal_reason, recorded_at, recorded_by, order_submitted_by
)
SELECT md5('history-payment' || o.number), 'HISTORY-' || o.number,
       o.customer_name_key, '', o.customer_name_key, o.total_minor, 'CNY', s.fully_paid_at,
       'payment for O-' || lpad(o.number::text, 6, '0'), o.number, NULL, NULL, o.id,
       o.customer_id, o.branch_id, 'ORDER_CODE', false, '', s.fully_paid_at, 'history',
       o.submitted_by
FROM orders o JOIN order_payment_states s ON s.order_number = o.number
WHERE o.number BETWEEN :first AND :last
UNION ALL
SELECT md5('history-stray' || n), 'HISTORY-STRAY-' || n, 'unknown payer ' || n, '',
       'unknown payer ' || n, 5000 + n % 1000, 'CNY', now() - interval '90 days', 'misc',
       NULL, NULL, NULL, NULL, NULL, NULL, '', false, '', now() - interval '90 days', 'history',
       NULL
FROM generate_series(CAST(:first AS bigint), :last) AS n WHERE n % 10 = 0
"""


async def seed_history(db: Database, orders: int, *, customers: int = 1000) -> None:
    """Orders 1..``orders`` settled as above; the order numbers continue after them."""
    params = {"first": 1, "last": orders, "customers": customers}
    async with db.transaction() as session:
        await session.execute(text(HISTORY_ORDERS), params)
        await session.execute(text(HISTORY_PAYMENTS), params)
        await session.execute(
            text("SELECT setval(pg_get_serial_sequence('orders', 'number'), :last)"), params
        )
    # Statistics as an established database has them (autovacuum would get there too).
    async with db.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE orders"))
        await autocommit.execute(text("VACUUM ANALYZE payments"))
        await autocommit.execute(text("VACUUM ANALYZE order_payment_states"))
