"""A commission run over 1 000 000 valid orders of 2 000 reps, end to end.

Full profile as deployed: PostgreSQL, an OPA server, and the four services in
processes of their own (``salesguard serve NAME``). The seed is set-based
(INSERT … SELECT over generate_series), straight into each service's database:

- attendance: 20 branches (Asia/Shanghai), 200 teams, 2 000 reps;
- customers: 200 000 customers, one in five registered as PERSONAL, the rest
  through the company channels, owned by the reps;
- orders: 1 000 000 orders, approved and RECONCILED, fully paid at instants
  spread over last month (in Shanghai), each submitted by its customer's
  owner; one in fifty claims PERSONAL for a company-channel customer (M3);
  FAKE_DEAL_SUSPECTED alerts on 1 % of the orders and DIVERSION_RISK on 0.5 %
  of the customers, a few of them resolved as cleared.

Measured over gRPC as FINANCE: RunCommissions of the month for every branch
(stream from orders, registered sources from customers, alert targets,
set-based writes), then a second run (which replaces every line), then the
payroll export of one branch.

    uv run python -m benchmarks.commissions_run [--orders 1000000] [--reps 2000]
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

from benchmarks.deployment import deployment, vacuum_analyze
from benchmarks.support import REPO, arguments
from salesguard.db import Database
from salesguard.principal import Principal, acting_as
from salesguard_api.commissions.v1 import commissions_pb2, commissions_pb2_grpc

SERVICES = ("attendance", "customers", "orders", "commissions")
BRANCHES = 20
CUSTOMERS = 200_000
ZONE = ZoneInfo("Asia/Shanghai")

SEED_BRANCHES = """
INSERT INTO branches (id, name, time_zone, headquarters, updated_at)
SELECT 'branch-' || b, 'Branch ' || b, 'Asia/Shanghai', b = 0, now()
FROM generate_series(0, :branches - 1) AS b
"""
# Rep r sits in team r / 10, of branch (r / 100) % branches.
SEED_TEAMS = """
INSERT INTO teams (id, name, branch_id, updated_at)
SELECT 'team-' || t, 'Team ' || t, 'branch-' || ((t / 10) % :branches), now()
FROM generate_series(0, (:reps - 1) / 10) AS t
"""
SEED_EMPLOYEES = """
INSERT INTO employees (id, name, email, roles, team_id, branch_id, status, updated_at)
SELECT 'rep-' || r, 'Rep ' || r, '', '["SALES_JUNIOR"]', 'team-' || (r / 10),
       'branch-' || ((r / 100) % :branches), 'ACTIVE', now()
FROM generate_series(0, :reps - 1) AS r
"""

SEED_CUSTOMERS = """
INSERT INTO customers (
    number, id, name, company, identity_key, source, source_detail, owner_id, team_id,
    branch_id, status, first_contact_at, registered_at, registered_by, updated_at, owned_since
)
SELECT c + 1, md5('customer' || c), 'Customer ' || c, 'Company ' || c,
       'customer ' || c || '|company ' || c,
       (ARRAY['PERSONAL', 'WEBSITE', 'EXHIBITION', 'REFERRAL', 'COMPANY_ASSIGNED'])[c % 5 + 1],
       '', 'rep-' || (c % :reps), 'team-' || (c % :reps / 10),
       'branch-' || ((c % :reps / 100) % :branches), 'ACTIVE',
       now() - interval '400 days', now() - interval '400 days', 'rep-' || (c % :reps), now(),
       now() - interval '400 days'
FROM generate_series(0, :customers - 1) AS c
"""

# Order n (1-based) of customer c = n % customers, submitted by the customer's owner and
# fully paid at an instant of the month: [start, end) spread evenly. Totals 100.00 to
# 100 000.00, deterministic.
SEED_ORDERS = """
INSERT INTO orders (
    number, id, customer_id, customer_code, owner_id, submitted_by, team_id, branch_id,
    currency, total_minor, order_date, expected_payment_date, source_claim, registered_source,
    status, flags, customer_name_key, customer_company_key, note, submitted_at, updated_at,
    payment_state, paid_minor, fully_paid_at, shipped
)
SELECT n, md5('order' || n), md5('customer' || c), 'C-' || lpad((c + 1)::text, 6, '0'),
       'rep-' || (c % :reps), 'rep-' || (c % :reps), 'team-' || (c % :reps / 10),
       'branch-' || ((c % :reps / 100) % :branches),
       'CNY', (10000 + (n * 7919) % 9990000), paid::date - 20, paid::date + 10,
       CASE WHEN c % 5 = 0 THEN 'PERSONAL' WHEN n % 50 = 0 THEN 'PERSONAL' ELSE 'WEBSITE' END,
       CASE WHEN c % 5 = 0 THEN 'PERSONAL' ELSE 'WEBSITE' END,
       (ARRAY['APPROVED', 'FULFILLED', 'CLOSED'])[n % 3 + 1], '[]',
       'customer ' || c, 'company ' || c, '', paid - interval '20 days', paid,
       'RECONCILED', (10000 + (n * 7919) % 9990000), paid, n % 3 > 0
FROM (
    SELECT n, n % :customers AS c,
           CAST(:start AS timestamptz) + (n - 1) * (CAST(:end AS timestamptz) - CAST(:start AS timestamptz)) / :orders AS paid
    FROM generate_series(1::bigint, :orders) AS n
) numbered
"""

SEED_ALERTS = """
INSERT INTO alerts (id, kind, rule, severity, status, resolution, employee_id, customer_id,
                    order_id, branch_id, detected_at, evidence, dedupe_key)
SELECT md5('fake' || number), 'FAKE_DEAL_SUSPECTED', 'O5', 'HIGH',
       CASE WHEN number % 500 = 7 THEN 'RESOLVED' ELSE 'OPEN' END,
       CASE WHEN number % 500 = 7 THEN 'CLEARED' END,
       submitted_by, customer_id, id, branch_id, now(), '{}'::json, 'FAKE_DEAL_SUSPECTED:' || id
FROM orders WHERE number % 100 = 7
UNION ALL
SELECT md5('diversion' || c), 'DIVERSION_RISK', 'O6', 'MEDIUM', 'OPEN', NULL,
       'rep-' || (c % :reps), md5('customer' || c), NULL, NULL, now(), '{}'::json,
       'DIVERSION_RISK:' || md5('customer' || c)
FROM generate_series(0, :customers - 1, 200) AS c
"""


def last_month() -> tuple[str, datetime, datetime]:
    first = datetime.now(ZONE).date().replace(day=1)
    previous = (first - timedelta(days=1)).replace(day=1)
    start = datetime(previous.year, previous.month, 1, tzinfo=ZONE)
    end = datetime(first.year, first.month, 1, tzinfo=ZONE)
    return f"{previous.year:04d}-{previous.month:02d}", start, end


async def seed(
    urls: dict[str, str], orders: int, reps: int, start: datetime, end: datetime
) -> None:
    params = {
        "orders": orders,
        "reps": reps,
        "customers": min(CUSTOMERS, orders),
        "branches": BRANCHES,
        "start": start.astimezone(UTC),
        "end": end.astimezone(UTC),
    }
    plan = {
        "attendance": (SEED_BRANCHES, SEED_TEAMS, SEED_EMPLOYEES),
        "customers": (SEED_CUSTOMERS,),
        "orders": (SEED_ORDERS, SEED_ALERTS),
    }
    tables = {
        "attendance": ("branches", "teams", "employees"),
        "customers": ("customers",),
        "orders": ("orders", "alerts"),
    }
    for service, statements in plan.items():
        db = Database(urls[service])
        async with db.transaction() as session:
            for statement in statements:
                used = {k: v for k, v in params.items() if f":{k}" in statement}
                await session.execute(text(statement), used)
            if service in ("customers", "orders"):
                table = "customers" if service == "customers" else "orders"
                await session.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'number'), :n)"),
                    {"n": params["customers"] if service == "customers" else orders},
                )
        await vacuum_analyze(db, *tables[service])
        await db.dispose()


async def run(orders: int, reps: int, policies: Path) -> None:
    period, start, end = last_month()
    async with deployment(
        SERVICES, gateway=False, grpc_timeout=1800, policies=policies
    ) as deployed:
        started = time.perf_counter()
        await seed(deployed.database_urls, orders, reps, start, end)
        print(
            f"seeded {orders:,} orders of {reps:,} reps in {BRANCHES} branches, "
            f"{min(CUSTOMERS, orders):,} customers in {time.perf_counter() - started:.0f} s"
        )

        stub = commissions_pb2_grpc.CommissionsServiceStub(deployed.channels.channel("commissions"))
        finance = Principal("bench-finance", ("FINANCE",), None, "branch-0", hq=True)

        print(f"\nRunCommissions over gRPC, period {period}, every branch")
        for label in ("first run", "second run (replaces every line)"):
            started = time.perf_counter()
            with acting_as(finance):
                response = await stub.RunCommissions(
                    commissions_pb2.RunCommissionsRequest(period=period)
                )
            seconds = time.perf_counter() - started
            lines = sum(summary.lines for summary in response.periods)
            counted = sum(summary.orders for summary in response.periods)
            payable = sum(float(summary.payable.value) for summary in response.periods)
            print(
                f"  {label:<34}{seconds:>8.2f} s{counted / seconds:>12,.0f} orders/s"
                f"   {counted:,} orders, {lines:,} lines in {len(response.periods)} branches,"
                f" payable {payable:,.2f}"
            )

        started = time.perf_counter()
        with acting_as(finance):
            exported = await stub.ExportCommissionPeriod(
                commissions_pb2.ExportCommissionPeriodRequest(period=period, branch_id="branch-1")
            )
        seconds = time.perf_counter() - started
        print(
            f"\nExportCommissionPeriod of one branch: {exported.row_count:,} rows in "
            f"{seconds:.2f} s ({exported.row_count / seconds:,.0f} rows/s)"
        )


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=2_000)
    parser.add_argument(
        "--policies", type=Path, default=REPO / "policies", help="the Rego policies OPA serves"
    )
    args = parser.parse_args()
    asyncio.run(run(args.orders, args.reps, args.policies))


if __name__ == "__main__":
    main()
