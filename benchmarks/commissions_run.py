"""A commission run over 1 000 000 valid orders of 2 000 reps, end to end.

Full profile as deployed: PostgreSQL, an OPA server, and the four services in
processes of their own (``salesguard serve NAME``). The seed is set-based
(INSERT … SELECT over generate_series), straight into each service's database:

- attendance: 20 branches (Asia/Shanghai), 200 teams, 2 000 reps;
- customers: 200 000 customers, one in five registered as PERSONAL, the rest
  through the company channels, owned by the reps;
- orders: 1 000 000 orders, approved and RECONCILED, fully paid at instants
  spread over last month (in Shanghai), each submitted by its customer's
  owner; one in fifty (n % 50 = 1, so its customer n % 200 000 is never one of the
  PERSONAL multiples of 5) claims PERSONAL for a company-channel customer (M3: a
  SOURCE_CONFLICT line each, counted and asserted);
  FAKE_DEAL_SUSPECTED alerts on 1 % of the orders and DIVERSION_RISK on 0.5 %
  of the customers, a few of them resolved as cleared.

Measured over gRPC as FINANCE: RunCommissions of the month for every branch
(stream from orders, registered sources from customers, alert targets,
set-based writes), then a second run over the same inputs (which writes back only the
lines that changed: none), then the payroll export of one branch.

Then the limit (issue 16): the same COMMISSION lines from one INSERT … SELECT into a
table with the lines' key and indexes, its inputs staged locally first (not counted),
checked identical to the run's, and each run's ratio to it (target ≤ 1.5×).

    uv run python -m benchmarks.commissions_run [--orders 1000000] [--reps 2000]
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import make_url, text

from benchmarks.deployment import deployment, vacuum_analyze
from benchmarks.support import REPO, CpuMeter, arguments, cpu_seconds, report_target
from salesguard.db import Database
from salesguard.principal import Principal, acting_as
from salesguard_api.commissions.v1 import commissions_pb2, commissions_pb2_grpc
from salesguard_commissions.rules.locking import LINE_NAMESPACE
from salesguard_commissions.rules.rates import (
    DEFAULT_COMPANY_RATE_PERCENT,
    DEFAULT_PERSONAL_RATE_PERCENT,
)
from tests.support.orders_history import insert_orders

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
SEED_ORDERS = insert_orders("""
SELECT n, md5('order' || n), md5('customer' || c), 'C-' || lpad((c + 1)::text, 6, '0'),
       'rep-' || (c % :reps), 'rep-' || (c % :reps), 'team-' || (c % :reps / 10),
       'branch-' || ((c % :reps / 100) % :branches),
       'CNY', (10000 + (n * 7919) % 9990000), paid::date - 20, paid::date + 10,
       CASE WHEN c % 5 = 0 THEN 'PERSONAL' WHEN n % 50 = 1 THEN 'PERSONAL' ELSE 'WEBSITE' END,
       CASE WHEN c % 5 = 0 THEN 'PERSONAL' ELSE 'WEBSITE' END,
       (ARRAY['APPROVED', 'FULFILLED', 'CLOSED'])[n % 3 + 1], '[]',
       'customer ' || c, 'company ' || c, '', paid - interval '20 days', paid,
       'RECONCILED', (10000 + (n * 7919) % 9990000), paid, n % 3 > 0
FROM (
    SELECT n, n % :customers AS c,
           CAST(:start AS timestamptz) + (n - 1) * (CAST(:end AS timestamptz) - CAST(:start AS timestamptz)) / :orders AS paid
    FROM generate_series(1::bigint, :orders) AS n
) numbered
""")

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


# The limit (issue 16): the same COMMISSION lines from one INSERT … SELECT. Its inputs are
# first made local to the commissions database (dblink from the other services' databases,
# timed apart): the valid orders of the month, the registered sources, the withholding
# alert targets and the reps' teams, each keyed as in its source.
STAGE = """
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
DROP TABLE IF EXISTS limit_orders, limit_sources, limit_alerts, limit_teams, limit_lines;
CREATE TABLE limit_orders AS SELECT * FROM dblink(:orders_db, $q$
    SELECT id, number, customer_id, submitted_by, team_id, orders.branch_id, total_minor,
           currency, fully_paid_at, source_claim
    FROM orders JOIN order_payment_states ON order_number = number
    WHERE status IN ('APPROVED', 'FULFILLED', 'CLOSED')
      AND payment_state IN ('RECONCILED', 'OVERPAID')
      AND fully_paid_at >= '$q$ || :start || $q$' AND fully_paid_at < '$q$ || :end || $q$'
$q$) AS t(id varchar(32), number bigint, customer_id varchar(32), submitted_by varchar(64),
          team_id varchar(64), branch_id varchar(64), total_minor bigint, currency varchar(3),
          fully_paid_at timestamptz, source_claim varchar(32));
ALTER TABLE limit_orders ADD PRIMARY KEY (id);
CREATE TABLE limit_sources AS SELECT * FROM dblink(:customers_db,
    'SELECT id, source FROM customers') AS t(id varchar(32), source varchar(32));
ALTER TABLE limit_sources ADD PRIMARY KEY (id);
CREATE TABLE limit_alerts AS SELECT * FROM dblink(:orders_db, $q$
    SELECT id, kind, order_id, customer_id FROM alerts
    WHERE kind IN ('FAKE_DEAL_SUSPECTED', 'DIVERSION_RISK', 'ATTRIBUTION_MISMATCH')
      AND (status IN ('OPEN', 'ACKNOWLEDGED') OR (status = 'RESOLVED' AND resolution = 'CONFIRMED'))
$q$) AS t(id varchar(32), kind varchar(32), order_id varchar(32), customer_id varchar(32));
CREATE INDEX ON limit_alerts (order_id);
CREATE INDEX ON limit_alerts (customer_id) WHERE order_id IS NULL;
CREATE TABLE limit_teams AS SELECT * FROM dblink(:attendance_db,
    'SELECT id, team_id FROM employees') AS t(id varchar(64), team_id varchar(64));
ALTER TABLE limit_teams ADD PRIMARY KEY (id);
ANALYZE limit_orders, limit_sources, limit_alerts, limit_teams;
CREATE TABLE limit_lines (LIKE lines INCLUDING ALL);
"""
# What commission_lines.commission_rows computes, line for line: the class by the
# registered source (M3), the rate, base × rate half-up (M1), WITHHELD by alert with the
# kinds leading the reason and the IDs sorted (M2), the uuid5 line ID (M5). Nobody is
# frozen and the plan has no caps in this seed (the service's default plan).
LIMIT = """
INSERT INTO limit_lines (
    id, period, branch_id, employee_id, team_id, order_id, order_code, customer_id, kind,
    status, base_minor, rate_bp, amount_minor, currency, reason, alert_ids, source_claim,
    registered_source, plan_version, fully_paid_at
)
SELECT encode(set_byte(set_byte(d, 6, (get_byte(d, 6) & 15) | 80), 8,
                       (get_byte(d, 8) & 63) | 128), 'hex'),
       CAST(:period AS varchar), o.branch_id, o.submitted_by, coalesce(t.team_id, o.team_id), o.id,
       'O-' || CASE WHEN o.number < 1000000 THEN lpad(o.number::text, 6, '0')
                    ELSE o.number::text END,
       o.customer_id, 'COMMISSION',
       CASE WHEN a.ids IS NOT NULL THEN 'WITHHELD'
            WHEN cls.review THEN 'PENDING_REVIEW' ELSE 'PAYABLE' END,
       o.total_minor, cls.rate,
       CASE WHEN o.total_minor * cls.rate >= 0 THEN (o.total_minor * cls.rate + 5000) / 10000
            ELSE -((-o.total_minor * cls.rate + 5000) / 10000) END,
       o.currency,
       CASE WHEN a.ids IS NOT NULL THEN a.kinds || '; ' || cls.reason ELSE cls.reason END,
       coalesce(a.ids, '[]')::json, o.source_claim, coalesce(s.source, ''),
       CAST(:version AS integer),
       o.fully_paid_at
FROM limit_orders o
LEFT JOIN limit_sources s ON s.id = o.customer_id
LEFT JOIN limit_teams t ON t.id = o.submitted_by
CROSS JOIN LATERAL (
    SELECT CASE WHEN s.id IS NULL THEN 'UNKNOWN_CUSTOMER'
                WHEN s.source = 'PERSONAL' THEN 'PERSONAL_CHANNEL'
                WHEN o.source_claim = 'PERSONAL' THEN 'SOURCE_CONFLICT'
                ELSE 'COMPANY_CHANNEL' END AS reason,
           CASE WHEN s.source = 'PERSONAL' THEN CAST(:personal_bp AS integer) ELSE CAST(:company_bp AS integer) END
               AS rate,
           s.id IS NULL OR (s.source <> 'PERSONAL' AND o.source_claim = 'PERSONAL') AS review
) cls
CROSS JOIN LATERAL (
    SELECT substring(digest(decode(CAST(:namespace AS text), 'hex') || convert_to(
        CAST(:period AS text) || chr(31) || o.branch_id || chr(31) || o.id || chr(31)
        || 'COMMISSION', 'UTF8'), 'sha1') FROM 1 FOR 16) AS d
) h
LEFT JOIN (
    -- The alerts holding each order back: naming the order, or its customer and no order.
    SELECT order_id,
           '[' || string_agg('"' || id || '"', ', ' ORDER BY id, kind) || ']' AS ids,
           string_agg(DISTINCT kind, '; ' ORDER BY kind) AS kinds
    FROM (
        SELECT o.id AS order_id, x.id, x.kind
        FROM limit_orders o JOIN limit_alerts x ON x.order_id = o.id
        UNION
        SELECT o.id, x.id, x.kind
        FROM limit_orders o JOIN limit_alerts x
            ON x.order_id IS NULL AND x.customer_id = o.customer_id
    ) hits
    GROUP BY order_id
) a ON a.order_id = o.id
"""
# Lines of the service's run that the limit does not write identically, and the reverse.
DIFFERENCE = """
SELECT (SELECT count(*) FROM (
            SELECT id, period, branch_id, employee_id, team_id, order_id, order_code,
                   customer_id, kind, status, base_minor, rate_bp, amount_minor, currency,
                   reason, alert_ids::text, source_claim, registered_source, plan_version,
                   fully_paid_at FROM lines WHERE period = :period AND kind = 'COMMISSION'
            EXCEPT
            SELECT id, period, branch_id, employee_id, team_id, order_id, order_code,
                   customer_id, kind, status, base_minor, rate_bp, amount_minor, currency,
                   reason, alert_ids::text, source_claim, registered_source, plan_version,
                   fully_paid_at FROM limit_lines) d),
       (SELECT count(*) FROM limit_lines) - (
            SELECT count(*) FROM lines WHERE period = :period AND kind = 'COMMISSION')
"""


def conninfo(url: str) -> str:
    """A libpq connection string (what dblink takes) for a SQLAlchemy URL."""
    parsed = make_url(url)
    return (
        f"host={parsed.host} port={parsed.port} dbname={parsed.database} "
        f"user={parsed.username} password={parsed.password}"
    )


def source_conflicts(orders: int) -> int:
    """The SOURCE_CONFLICT lines the seed must give: the orders claiming PERSONAL (n % 50 = 1)
    whose customer is registered through a company channel (not a multiple of 5)."""
    customers = min(CUSTOMERS, orders)
    return sum(1 for n in range(1, orders + 1, 50) if n % customers % 5 != 0)


async def limit(
    urls: dict[str, str], period: str, start: datetime, end: datetime
) -> tuple[float, float, float, int]:
    """Stage the inputs, then time the one-statement limit: (staging s, limit s, the limit's
    CPU s in its backend, lines)."""
    db = Database(urls["commissions"])
    staged = time.perf_counter()
    async with db.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        raw = await connection.get_raw_connection()
        stage = STAGE.replace(":orders_db", _literal(conninfo(urls["orders"])))
        stage = stage.replace(":customers_db", _literal(conninfo(urls["customers"])))
        stage = stage.replace(":attendance_db", _literal(conninfo(urls["attendance"])))
        stage = stage.replace(":start", _literal(start.astimezone(UTC).isoformat()))
        stage = stage.replace(":end", _literal(end.astimezone(UTC).isoformat()))
        await raw.driver_connection.execute(stage)  # type: ignore[union-attr]
    staged = time.perf_counter() - staged
    async with db.transaction() as session:
        backend = int(await session.scalar(text("SELECT pg_backend_pid()")))
        cpu = cpu_seconds(backend)
        started = time.perf_counter()
        result = await session.execute(
            text(LIMIT),
            {
                "period": period,
                "namespace": LINE_NAMESPACE.bytes.hex(),
                "company_bp": _bp(DEFAULT_COMPANY_RATE_PERCENT),
                "personal_bp": _bp(DEFAULT_PERSONAL_RATE_PERCENT),
                "version": 0,
            },
        )
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(backend) - cpu
        written = result.rowcount  # type: ignore[attr-defined]
    await db.dispose()
    await same_as_limit(urls["commissions"], period)
    return staged, seconds, cpu, int(written)


async def same_as_limit(url: str, period: str) -> None:
    """Fails unless the run's COMMISSION lines are the limit's, column for column."""
    db = Database(url)
    async with db.read() as session:
        different, extra = (await session.execute(text(DIFFERENCE), {"period": period})).one()
    await db.dispose()
    assert different == 0 and extra == 0, (
        f"the limit's lines differ from the run's: {different} differ, {extra} more"
    )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _bp(percent: str) -> int:
    return int(Decimal(percent) * 100)


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
        "orders": ("orders", "order_payment_states", "alerts"),
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
        timings: dict[str, float] = {}
        cpus: dict[str, float] = {}
        meter = CpuMeter(deployed.database_urls)
        for label in ("first run", "second run (no input changed)"):
            before = await meter.sample()
            started = time.perf_counter()
            with acting_as(finance):
                response = await stub.RunCommissions(
                    commissions_pb2.RunCommissionsRequest(period=period)
                )
            seconds = timings[label] = time.perf_counter() - started
            lines = sum(summary.lines for summary in response.periods)
            counted = sum(summary.orders for summary in response.periods)
            payable = sum(float(summary.payable.value) for summary in response.periods)
            print(
                f"  {label:<34}{seconds:>8.2f} s{counted / seconds:>12,.0f} orders/s"
                f"   {counted:,} orders, {lines:,} lines in {len(response.periods)} branches,"
                f" payable {payable:,.2f}"
            )
            spent = meter.spent(before, await meter.sample())
            cpus[label] = sum(spent.values())
            shown = ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(spent.items()))
            print(f"  {'':<34}CPU s: {shown}")
            if label == "first run":
                # Between the two runs, so that the machine's drift hits both alike.
                staged, limit_seconds, limit_cpu, written = await limit(
                    deployed.database_urls, period, start, end
                )

        # The second run's lines too (it wrote back only what changed).
        await same_as_limit(deployed.database_urls["commissions"], period)
        db = deployed.database("commissions")
        async with db.read() as session:
            conflicts = await session.scalar(
                text(
                    "SELECT count(*) FROM lines WHERE period = :period"
                    " AND reason LIKE '%SOURCE_CONFLICT%'"
                ),
                {"period": period},
            )
        await db.dispose()
        expected = source_conflicts(orders)
        print(f"\n  SOURCE_CONFLICT lines: {conflicts:,} (the seed gives {expected:,})")
        assert conflicts == expected > 0, "the seed's M3 conflicts are not all lines"

        print(
            f"\nLimit: one INSERT … SELECT of the same {written:,} lines into a table with the"
            f" lines' key and indexes, inputs local (staged by dblink in {staged:.1f} s,"
            f" not counted); identical to each run's lines"
        )
        print(f"  {'INSERT … SELECT':<34}{limit_seconds:>8.2f} s   CPU {limit_cpu:.1f} s")
        for label, seconds in timings.items():
            print(
                f"  {label:<34}{seconds / limit_seconds:>8.2f}× the limit"
                f"   CPU of every process {cpus[label]:.1f} s, {cpus[label] / limit_cpu:.1f}×"
                " the limit's"
            )
        for label, seconds in timings.items():
            report_target(
                f"commission {label} / the INSERT … SELECT limit",
                seconds / limit_seconds,
                limit=1.5,
                unit="x",
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
    parser = arguments(__doc__, orders=1_000_000, reps=2_000)
    parser.add_argument(
        "--policies", type=Path, default=REPO / "policies", help="the Rego policies OPA serves"
    )
    args = parser.parse_args()
    asyncio.run(run(args.orders, args.reps, args.policies))


if __name__ == "__main__":
    main()
