"""Reconciliation and the valid-order stream, with 1 000 000 orders and 1 000 000 payments.

Full profile as deployed: PostgreSQL, an OPA server, the orders service in its
own process. The seed is set-based (INSERT … SELECT over generate_series) and
realistic in its mix:

- most payments quote their order's code ("Zahlung O-000123"), a few of them
  from another payer (PAYER_MISMATCH), a few paying half first and the rest
  later (the running sum decides when the order was fully paid), a few paying
  too much;
- some quote nothing and are matched by customer + amount, some state their
  order, some match nothing at all;
- orders without any payment, past due and not shipped, become
  FAKE_DEAL_SUSPECTED; fulfilled and closed orders have shipments.

Measured over gRPC: RunReconciliation on the unmatched data (the first,
heaviest run), a second run (nothing to change), and StreamValidOrders over
the whole period. Reconciliation leaves about 83 % of the orders valid; before
streaming, already reconciled orders are added until ``--stream`` orders are
valid, so the stream carries exactly that many.

    uv run python -m benchmarks.reconciliation [--orders 1000000] [--payments 1000000]
                                              [--stream 1000000]
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

from sqlalchemy import text

from benchmarks.deployment import deployment, vacuum_analyze
from benchmarks.support import arguments
from salesguard.db import Database
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.orders.v1 import payments_pb2, payments_pb2_grpc

CUSTOMERS = 100_000
BRANCHES = 20
REPS = 2_000
# Days of history the orders spread over, ending 30 days ago.
HISTORY_DAYS = 730

# A deterministic total per order number, 100.00 to 100 000.00, the same in every statement.
TOTAL = "(10000 + (n * 7919) % 9990000)"

# The columns of an order and the first ones derived from its number n: the order's
# customer, owner, team and branch.
INSERT_ORDERS = f"""INSERT INTO orders (
    number, id, customer_id, customer_code, owner_id, submitted_by, team_id, branch_id,
    currency, total_minor, order_date, expected_payment_date, source_claim, registered_source,
    status, flags, customer_name_key, customer_company_key, note, submitted_at, updated_at,
    payment_state, paid_minor, fully_paid_at, shipped
)
SELECT n, md5('order' || n), md5('customer' || (n % {CUSTOMERS})),
       'C-' || lpad((n % {CUSTOMERS})::text, 6, '0'),
       'rep-' || (n % {REPS}), 'rep-' || (n % {REPS}), 'team-' || (n % {REPS} / 10),
       'branch-' || (n % {BRANCHES}),"""

SEED_ORDERS = f"""
{INSERT_ORDERS}
       'CNY', {TOTAL}, day, day + 30,
       CASE WHEN n % 4 = 0 THEN 'PERSONAL' ELSE 'WEBSITE' END,
       CASE WHEN n % 8 = 0 THEN 'PERSONAL' ELSE 'WEBSITE' END,
       CASE WHEN n % 100 < 40 THEN 'APPROVED' WHEN n % 100 < 70 THEN 'FULFILLED'
            WHEN n % 100 < 90 THEN 'CLOSED' WHEN n % 100 < 95 THEN 'SUBMITTED'
            WHEN n % 100 < 98 THEN 'CANCELLED' ELSE 'REJECTED' END,
       '[]', 'customer ' || (n % {CUSTOMERS}), 'company ' || (n % {CUSTOMERS} / 5), '',
       day::timestamp AT TIME ZONE 'UTC', day::timestamp AT TIME ZONE 'UTC',
       'UNPAID', 0, NULL, n % 100 BETWEEN 40 AND 89
FROM (
    SELECT n, (current_date - 30 - {HISTORY_DAYS} + (n * {HISTORY_DAYS} / :orders)::int) AS day
    FROM generate_series(1::bigint, :orders) AS n
) numbered
"""  # noqa: S608 (constants)

SEED_SHIPMENTS = """
INSERT INTO shipments (id, order_id, carrier, tracking_number, shipped_at, delivered_at,
                       recorded_at, recorded_by)
SELECT md5('shipment' || number), id, 'SF Express', 'SF' || number,
       submitted_at + interval '3 days', submitted_at + interval '5 days',
       submitted_at + interval '3 days', 'bench'
FROM orders WHERE shipped
"""

# Payment g of :payments (fractions of the total, so any size keeps the mix):
#   g ≤ 80 %      quotes order g: exact (5 % pay half, 2 % pay 10.00 too much,
#                 1 % come from another payer, 1 in 7 from the customer's company)
#   80 % – 82 %   the rest for half of the half-paid orders, quoted, later
#   82 % – 94 %   order g by customer + amount, quoting nothing
#   94 % – 96 %   order g stated when recorded
#   96 % – 100 %  nobody's: unmatched
SEED_PAYMENTS = f"""
INSERT INTO payments (
    id, bank_reference, payer_name, payer_account, payer_key, amount_minor, currency, paid_at,
    reference_text, quoted_order_number, voucher_key, stated_order_id, order_id, customer_id,
    branch_id, matched_by, reversed, reversal_kind, reversal_reason, reversed_at, reversed_by,
    recorded_at, recorded_by, statement_id
)
SELECT md5('payment' || g), 'BANK-' || g, payer, '6222' || lpad(g::text, 12, '0'), payer,
       amount, 'CNY', paid_at, reference, quoted, NULL, stated, NULL, NULL, NULL, '', false,
       NULL, '', NULL, NULL, paid_at, 'bench', NULL
FROM (
    SELECT g, n,
           CASE WHEN kind = 'unmatched' THEN 'unknown payer ' || g
                WHEN kind = 'quoted' AND n % 100 = 3 THEN 'someone else ' || g
                WHEN kind = 'quoted' AND n % 7 = 0 THEN 'company ' || (n % {CUSTOMERS} / 5)
                ELSE 'customer ' || (n % {CUSTOMERS}) END AS payer,
           CASE WHEN kind = 'unmatched' THEN 5000 + g % 100000
                WHEN kind = 'rest' THEN {TOTAL} - {TOTAL} / 2
                WHEN kind = 'quoted' AND n % 20 = 0 THEN {TOTAL} / 2
                WHEN kind = 'quoted' AND n % 50 = 1 THEN {TOTAL} + 1000
                ELSE {TOTAL} END AS amount,
           CASE WHEN kind IN ('quoted', 'rest') THEN 'Payment for O-' || lpad(n::text, 6, '0')
                ELSE 'Invoice ' || g END AS reference,
           CASE WHEN kind IN ('quoted', 'rest') THEN n END AS quoted,
           CASE WHEN kind = 'stated' THEN md5('order' || n) END AS stated,
           (current_date - 30 - {HISTORY_DAYS} + (n * {HISTORY_DAYS} / :orders)::int
            + CASE WHEN kind = 'rest' THEN 25 ELSE 10 END)::timestamp AT TIME ZONE 'UTC'
           + (g % 86400) * interval '1 second' AS paid_at
    FROM (
        SELECT g,
               CASE WHEN g <= :payments * 0.80 THEN 'quoted'
                    WHEN g <= :payments * 0.82 THEN 'rest'
                    WHEN g <= :payments * 0.94 THEN 'customer'
                    WHEN g <= :payments * 0.96 THEN 'stated'
                    ELSE 'unmatched' END AS kind,
               CASE WHEN g <= :payments * 0.80 THEN g
                    -- the k-th "rest" payment completes the k-th half-paid order
                    WHEN g <= :payments * 0.82 THEN (g - floor(:payments * 0.80)::bigint) * 40
                    ELSE g END AS n
        FROM generate_series(1::bigint, :payments) AS g
    ) kinds
) planned
WHERE n <= :orders
"""  # noqa: S608 (constants)


# Orders as reconciliation leaves a fully paid, closed one: numbered after the seeded ones.
SEED_VALID_ORDERS = f"""
{INSERT_ORDERS}
       'CNY', {TOTAL}, day, day + 30, 'WEBSITE', 'WEBSITE', 'CLOSED',
       '[]', 'customer ' || (n % {CUSTOMERS}), 'company ' || (n % {CUSTOMERS} / 5), '',
       day::timestamp AT TIME ZONE 'UTC', day::timestamp AT TIME ZONE 'UTC',
       'RECONCILED', {TOTAL}, (day + 10)::timestamp AT TIME ZONE 'UTC'
                              + (n % 86400) * interval '1 second', true
FROM (
    SELECT n, (current_date - 30 - {HISTORY_DAYS} + (n % {HISTORY_DAYS})::int) AS day
    FROM generate_series(CAST(:first AS bigint), :last) AS n
) numbered
"""  # noqa: S608 (constants)


async def top_up_valid_orders(url: str, wanted: int) -> int:
    """Add reconciled orders until ``wanted`` are valid; how many were added."""
    db = Database(url)
    async with db.transaction() as session:
        valid = await session.scalar(
            text(
                "SELECT count(*) FROM orders WHERE payment_state IN ('RECONCILED', 'OVERPAID')"
                " AND status IN ('APPROVED', 'FULFILLED', 'CLOSED')"
            )
        )
        last = await session.scalar(text("SELECT max(number) FROM orders"))
        missing = max(0, wanted - int(valid or 0))
        if missing:
            first = int(last or 0) + 1
            await session.execute(
                text(SEED_VALID_ORDERS), {"first": first, "last": first + missing - 1}
            )
    await vacuum_analyze(db, "orders")
    await db.dispose()
    return missing


async def seed(url: str, orders: int, payments: int) -> None:
    db = Database(url)
    async with db.transaction() as session:
        params = {"orders": orders, "payments": payments}
        await session.execute(text(SEED_ORDERS), params)
        await session.execute(text(SEED_SHIPMENTS))
        await session.execute(text(SEED_PAYMENTS), params)
        # The identity continues after the seeded numbers.
        await session.execute(
            text("SELECT setval(pg_get_serial_sequence('orders', 'number'), :orders)"), params
        )
    await vacuum_analyze(db, "orders", "payments", "shipments")
    await db.dispose()


async def print_steps(url: str) -> None:
    """Seconds per statement of each run, as the runs recorded them."""
    db = Database(url)
    async with db.read() as session:
        summaries = (
            await session.scalars(
                text("SELECT summary FROM reconciliation_runs ORDER BY started_at")
            )
        ).all()
    await db.dispose()
    for number, summary in enumerate(summaries, start=1):
        steps = summary if isinstance(summary, dict) else json.loads(summary)
        shown = ", ".join(f"{name} {seconds:.1f}" for name, seconds in steps["seconds"].items())
        print(f"    run {number}, seconds per statement: {shown}")


async def run(orders: int, payments: int, valid_orders: int) -> None:
    async with deployment(("orders",), gateway=False, grpc_timeout=600) as deployed:
        url = deployed.database_urls["orders"]
        started = time.perf_counter()
        await seed(url, orders, payments)
        print(
            f"seeded {orders} orders and {payments} payments in {time.perf_counter() - started:.0f} s"
        )
        stub = payments_pb2_grpc.ReconciliationServiceStub(deployed.channels.channel("orders"))
        finance = Principal("bench-finance", ("FINANCE",), None, "bench-hq", hq=True)

        print(f"\nreconciliation over gRPC, {orders} orders, {payments} payments")
        for label in ("first run (matches everything)", "second run (changes nothing)"):
            started = time.perf_counter()
            with acting_as(finance):
                result = await stub.RunReconciliation(
                    payments_pb2.RunReconciliationRequest(
                        as_of=datetime.now(UTC).date().isoformat()
                    )
                )
            seconds = time.perf_counter() - started
            rows = orders + payments
            print(
                f"  {label:<34}{seconds:>8.2f} s{rows / seconds:>12,.0f} rows/s"
                f"   matched {result.payments_matched:,}, unmatched {result.payments_unmatched:,},"
                f" reconciled {result.reconciled:,}, partially paid {result.partially_paid:,},"
                f" unpaid {result.unpaid:,}, overpaid {result.overpaid:,},"
                f" alerts {result.alerts_raised:,}"
            )
        await print_steps(url)

        added = await top_up_valid_orders(url, valid_orders)
        request = payments_pb2.StreamValidOrdersRequest(
            paid_from=to_timestamp(datetime(2000, 1, 1, tzinfo=UTC)),
            paid_to=to_timestamp(datetime.now(UTC)),
        )
        print(
            f"\nStreamValidOrders over gRPC, the whole period"
            f" ({added:,} reconciled orders added to reach {valid_orders:,} valid)"
        )
        for label in ("warm-up", "measured"):
            started = time.perf_counter()
            streamed = batches = 0
            with acting_as(Principal.system("commissions")):
                stream = stub.StreamValidOrders(request)
            async for batch in stream:
                streamed += len(batch.orders)
                batches += 1
            seconds = time.perf_counter() - started
            print(
                f"  {label:<34}{seconds:>8.2f} s{streamed / seconds:>12,.0f} orders/s"
                f"   {streamed:,} orders in {batches:,} batches"
            )


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--stream", type=int, default=1_000_000, help="valid orders streamed")
    args = parser.parse_args()
    asyncio.run(run(args.orders, args.payments, args.stream))


if __name__ == "__main__":
    main()
