"""employeeTimeline: one rep's quarter among a million rows of everybody else's.

Full profile as deployed (benchmarks/deployment.py): PostgreSQL, an OPA server,
attendance, customers, orders and the gateway each in its own process. Seeded
set-based: the rep has ``--items`` of every kind in the 92-day window (check-ins,
calls, follow-ups, audit events, orders with an approval, a payment and a shipment
each, and alerts in all three services); other employees have ``--others``
check-ins, follow-ups and orders (each with its approval, payment and shipment), a
quarter as many calls and audit events, over the past year, so a quarter of theirs
fall in the rep's window too.

Measured as HR: the first page of ``employeeTimeline(first: 50)`` through the
gateway against each source's own call made directly (the gateway asks them all at
once, so the slowest bounds it); paging through the whole window; and EXPLAIN
(ANALYZE) of every kind's page query, as each service builds it, for a page in the
middle of the window, for HR and for the branch's manager. Issue 16's target: the first
page's p95 <= 50 ms through the gateway with about a million rows in the services'
tables (``--others 150000`` seeds ~1.3M: 6.5 rows per other's item, and the alerts).

    uv run python -m benchmarks.employee_timeline [--items 2000] [--others 1000000] [--rounds 200]
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from benchmarks.deployment import (
    Deployment,
    Person,
    deployment,
    execute_seed,
    explain,
    per_request,
    seed_alerts_sql,
    seed_directory,
    timed,
)
from benchmarks.support import (
    HEADER,
    arguments,
    percentile,
    process_cpu,
    report_target,
    summary,
)
from salesguard.db import Database
from salesguard.policy import Decision
from salesguard.principal import Principal, acting_as
from salesguard.timeline import (
    MAX_RANGE,
    TimelineCursor,
    TimelineQuery,
    page_statement,
    timeline_statement,
)
from salesguard.timeutil import to_timestamp
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_api.attendance.v1 import timeline_pb2 as attendance_pb2
from salesguard_api.attendance.v1 import timeline_pb2_grpc as attendance_grpc
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_api.customers.v1 import timeline_pb2 as customers_pb2
from salesguard_api.customers.v1 import timeline_pb2_grpc as customers_grpc
from salesguard_api.orders.v1 import timeline_pb2 as orders_pb2
from salesguard_api.orders.v1 import timeline_pb2_grpc as orders_grpc
from salesguard_attendance import timeline as attendance_timeline
from salesguard_customers import timeline as customers_timeline
from salesguard_orders import timeline as orders_timeline
from tests.harness import employee_id
from tests.support.orders_history import insert_orders
from tests.support.timeline import ITEM_FIELDS

REP = "bench-rep-0"
TEAM = "bench-team"
BRANCH = "bench-branch"
MANAGER = "bench-manager"
HR = "bench-hr"
PAGE = 50
OTHER_EMPLOYEES = 2000
CUSTOMERS = 100_000
# The rep's customers: the first ones.
REP_CUSTOMERS = 1000

TIMELINE = (
    """
query($employeeId: ID!, $from: DateTime!, $to: DateTime!, $first: Int, $after: String) {
  employeeTimeline(employeeId: $employeeId, from: $from, to: $to, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {"""
    + ITEM_FIELDS
    + """
      ... on AlertItem { alert { id kind title } }
    } }
  }
}
"""
)
TOTAL = """
query($employeeId: ID!, $from: DateTime!, $to: DateTime!) {
  employeeTimeline(employeeId: $employeeId, from: $from, to: $to, first: 1) { totalCount }
}
"""


def numbered(others: int) -> str:
    """Rows 1..:items are the rep's, spread evenly over the window's first 89 days (their
    payments and shipments follow within 3 days); the ``others`` after them are other
    employees', spread over the year before :ends."""
    return f"""
FROM (
    SELECT n, n <= items AS mine,
           CASE WHEN n <= items
                THEN ends - interval '3 days' - (n - 1) * (interval '89 days' / items)
                ELSE ends - (n * 7919 % (365 * 86400)) * interval '1 second' END AS at
    FROM (SELECT CAST(:items AS bigint) AS items, CAST(:ends AS timestamptz) AS ends) AS sizes
    CROSS JOIN generate_series(1, items + {others}) AS n
) AS numbered"""  # noqa: S608 (constants)


EMPLOYEE = f"CASE WHEN mine THEN '{REP}' ELSE 'other-rep-' || (n % {OTHER_EMPLOYEES}) END"
TEAM_OF = f"CASE WHEN mine THEN '{TEAM}' ELSE 'other-team-' || (n % 200) END"
BRANCH_OF = f"CASE WHEN mine THEN '{BRANCH}' ELSE 'other-' || (n % 20) END"
# The rep's rows name the rep's customers; the others' any customer.
CUSTOMER_OF = (
    f"md5('customer' || CASE WHEN mine THEN 1 + n % {REP_CUSTOMERS} ELSE 1 + n % {CUSTOMERS} END)"
)


def attendance_seed(others: int) -> list[str]:
    return [
        f"""INSERT INTO check_ins (id, employee_id, team_id, branch_id, at, local_day, lat, lng,
                       geohash, accuracy_m, device_id, mock_location, has_photo, verdict,
                       reasons, reason_codes, note, recorded_at)
SELECT md5('check-in' || n), {EMPLOYEE}, {TEAM_OF}, {BRANCH_OF}, at,
       (at AT TIME ZONE 'Asia/Shanghai')::date, 31.2 + n % 1000 / 10000.0,
       121.4 + n % 997 / 10000.0, 'wtw3s', 10, 'seed', false, false, 'VERIFIED', '[]', ' ', '',
       at
{numbered(others)}""",
        f"""INSERT INTO call_logs (id, employee_id, team_id, branch_id, number_index, number_masked,
                       direction, started_at, duration_seconds, imported_at)
SELECT md5('call' || n), {EMPLOYEE}, {TEAM_OF}, {BRANCH_OF}, md5('number' || n),
       '139****' || lpad((n % 10000)::text, 4, '0'),
       CASE WHEN n % 2 = 0 THEN 'OUTGOING' ELSE 'INCOMING' END, at, 30 + n % 600, at
{numbered(others // 4)}""",
    ]


def customers_seed(others: int) -> list[str]:
    return [
        f"""INSERT INTO customers (number, id, name, company, identity_key, source, source_detail,
                       owner_id, team_id, branch_id, status, first_contact_at, registered_at,
                       registered_by, updated_at, owned_since)
SELECT n, md5('customer' || n), 'Customer ' || n, 'Company ' || n % 9973,
       'customer ' || n || '|company ' || n % 9973, 'WEBSITE', '', owner, team, branch, 'ACTIVE',
       since, since, owner, since, since
FROM (SELECT n, CAST(:ends AS timestamptz) - interval '400 days' AS since,
             CASE WHEN n <= {REP_CUSTOMERS} THEN '{REP}' ELSE 'other-rep-' || n % {OTHER_EMPLOYEES} END
                 AS owner,
             CASE WHEN n <= {REP_CUSTOMERS} THEN '{TEAM}' ELSE 'other-team-' || n % 200 END AS team,
             CASE WHEN n <= {REP_CUSTOMERS} THEN '{BRANCH}' ELSE 'other-' || n % 20 END AS branch
      FROM generate_series(1, {CUSTOMERS}) AS n) AS numbered""",  # noqa: S608 (constants)
        f"SELECT setval(pg_get_serial_sequence('customers', 'number'), {CUSTOMERS})",
        f"""INSERT INTO follow_ups (id, customer_id, employee_id, kind, at, note, recorded_at)
SELECT md5('follow-up' || n), {CUSTOMER_OF}, {EMPLOYEE},
       (ARRAY['VISIT', 'CALL', 'MESSAGE', 'MEETING'])[1 + n % 4], at, 'Follow-up ' || n, at
{numbered(others)}""",
        f"""INSERT INTO audit_events (seq, id, at, actor_id, action, customer_ids, fields, before,
                          after, reason, trace_id, branch_id, prev_hash, hash)
SELECT n, md5('audit' || n), at, {EMPLOYEE}, 'customer.contact.read',
       json_build_array({CUSTOMER_OF}), '["phone"]', '{{}}', '{{}}', '', '', {BRANCH_OF},
       md5('previous' || n), md5('hash' || n)
{numbered(others // 4)}""",
    ]


# Every order has an approval, a payment and a shipment, as a closed deal does. One payment
# in ten is not matched yet and belongs to its order by the order it states.
def orders_seed(others: int) -> list[str]:
    followed = "FROM orders"
    return [
        insert_orders(f"""
SELECT n, md5('order' || n), {CUSTOMER_OF}, 'C-' || lpad((n % {CUSTOMERS})::text, 6, '0'),
       {EMPLOYEE}, {EMPLOYEE}, {TEAM_OF}, {BRANCH_OF}, 'CNY', 100000 + n % 50000, at::date,
       at::date + 30, 'WEBSITE', 'WEBSITE', 'APPROVED', '[]', 'customer ' || n,
       'company ' || n, '', at, at, 'RECONCILED', 100000 + n % 50000, at + interval '1 day',
       true
{numbered(others)}"""),
        "SELECT setval(pg_get_serial_sequence('orders', 'number'), (SELECT max(number) FROM orders))",
        """INSERT INTO order_lines (order_id, line_no, sku, description, quantity_milli,
                         unit_price_minor, discount_basis_points, line_total_minor)
SELECT id, 1, 'SKU-1', 'Widget', 1000, total_minor, 0, total_minor
FROM orders WHERE number <= :items""",
        f"""INSERT INTO approval_steps (order_id, sequence, role, status, reason, approver_id,
                            comment, decided_at, order_submitted_by)
SELECT id, 1, 'MANAGER', 'APPROVED', 'DISCOUNT',
       CASE WHEN number <= :items THEN '{MANAGER}' ELSE 'other-manager-' || number % 20 END, '',
       submitted_at + interval '1 hour', submitted_by
{followed}""",
        f"""INSERT INTO payments (id, bank_reference, payer_name, payer_account, payer_key,
                      amount_minor, currency, paid_at, reference_text, quoted_order_number,
                      stated_order_id, order_id, customer_id, branch_id, matched_by, reversed,
                      reversal_reason, recorded_at, recorded_by, order_submitted_by)
SELECT md5('payment' || number), 'BANK-' || number, customer_name_key,
       '6222' || lpad(number::text, 12, '0'), customer_name_key, total_minor, 'CNY',
       submitted_at + interval '1 day', 'Payment for O-' || number, number,
       CASE WHEN number % 10 = 0 THEN id END, CASE WHEN number % 10 <> 0 THEN id END,
       customer_id, branch_id, CASE WHEN number % 10 <> 0 THEN 'ORDER_CODE' ELSE '' END, false,
       '', submitted_at + interval '1 day', 'bench', submitted_by
{followed}""",
        f"""INSERT INTO shipments (id, order_id, carrier, tracking_number, shipped_at, delivered_at,
                       recorded_at, recorded_by, order_submitted_by)
SELECT md5('shipment' || number), id, 'SF Express', 'SF' || number,
       submitted_at + interval '2 days', submitted_at + interval '4 days',
       submitted_at + interval '2 days', 'bench', submitted_by
{followed}""",
    ]


async def seed(deployed: Deployment, items: int, others: int, ends: datetime) -> None:
    params = {"items": items, "ends": ends}
    # Alerts about the rep over the year, about ``items`` of them in the window in all.
    alert_params = {
        "alerts": items * 365 // MAX_RANGE.days // 3,
        "other_alerts": 100_000,
        "employees": 1,
        "days": 365,
    }
    urls = deployed.database_urls
    await asyncio.gather(
        execute_seed(urls["attendance"], attendance_seed(others), params),
        execute_seed(urls["customers"], customers_seed(others), params),
        execute_seed(urls["orders"], orders_seed(others), params),
    )
    for source in ("attendance", "customers", "orders"):
        await execute_seed(urls[source], [seed_alerts_sql(source, BRANCH)], alert_params)


async def table_rows(url: str) -> int:
    """The rows in a database's tables, as ANALYZE counted them after the seed."""
    db = Database(url)
    try:
        async with db.read() as session:
            counted = await session.scalar(
                text(
                    "SELECT sum(reltuples)::bigint FROM pg_class"
                    " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
                )
            )
            return int(counted or 0)
    finally:
        await db.dispose()


def decision(grant: dict[str, Any]) -> Decision:
    return Decision.from_result({"allow": True, "grants": [grant], "max_rows": 0})


SERVICE_SOURCES = {
    "attendance": (attendance_timeline.sources, attendance_timeline.KINDS),
    "customers": (customers_timeline.sources, customers_timeline.KINDS),
    "orders": (orders_timeline.sources, orders_timeline.KINDS),
}
KIND_NAMES: dict[str, Callable[[Any], str]] = {
    "attendance": attendance_pb2.AttendanceTimelineKind.Name,
    "customers": customers_pb2.CustomerTimelineKind.Name,
    "orders": orders_pb2.OrdersTimelineKind.Name,
}


async def explain_page_queries(deployed: Deployment, begins: datetime, ends: datetime) -> None:
    """EXPLAIN ANALYZE each kind's page query for a page in the middle of the window, and
    each service's one page statement (every kind's, as fetch_timeline runs them)."""
    callers = {
        "HR": decision({"scope": {"kind": "all"}}),
        "manager": decision({"scope": {"kind": "branch", "branch_id": BRANCH}}),
    }
    middle = TimelineCursor(begins + (ends - begins) / 2, 0, "")
    print("\nEXPLAIN ANALYZE of each kind's page query (page in the middle of the window)")
    print(f"  {'caller':<8}{'kind':<40}{'ms':>8}  access paths")
    for caller, grants in callers.items():
        for service, (sources, kinds) in SERVICE_SOURCES.items():
            query = TimelineQuery(
                decision=grants,
                employee_id=REP,
                begins=begins,
                ends=ends,
                kinds=frozenset(kinds),
                cursor=middle,
                size=PAGE,
                page=common_pb2.PageRequest(page_size=PAGE),
            )
            # Each kind's page query, then the one statement a page runs (all of them).
            statements = [
                (KIND_NAMES[service](source.kind).split("_TIMELINE_KIND_")[1], statement)
                for source in sources(query)
                for statement in [page_statement(query, source)]
            ]
            statements.append(("(page: every kind)", timeline_statement(query, sources(query))))
            for name, statement in statements:
                plan = await explain(deployed.database_urls[service], statement)
                took = re.search(r"Execution Time: ([\d.]+) ms", plan)
                paths = sorted(
                    set(
                        re.findall(
                            r"((?:Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)"
                            r"(?: Backward)?(?: using \w+)? on \w+)",
                            plan,
                        )
                    )
                )
                print(
                    f"  {caller:<8}{f'{service} {name}':<40}"
                    f"{float(took.group(1)) if took else float('nan'):>8.2f}  {'; '.join(paths)}"
                )
                if any(path.startswith("Seq Scan") for path in paths):
                    print("\n".join(f"      {line}" for line in plan.splitlines()))


async def run(
    items: int, others: int, rounds: int, profile: Path | None = None, *, paging: bool = True
) -> None:
    ends = datetime.now(UTC).replace(microsecond=0)
    begins = ends - MAX_RANGE
    gateway_env = {"SALESGUARD_REPORT_RPC_CALLS": "true"}
    async with deployment(
        gateway_env=gateway_env,
        profile_gateway=profile / "gateway.prof" if profile else None,
        profile_services={name: profile / f"{name}.prof" for name in SERVICE_SOURCES}
        if profile
        else None,
    ) as deployed:
        await seed_directory(deployed.channels, "bench-hq", [Person(HR, directory_pb2.ROLE_HR)])
        await seed_directory(
            deployed.channels,
            BRANCH,
            [
                Person(MANAGER, directory_pb2.ROLE_MANAGER, TEAM),
                Person(REP, directory_pb2.ROLE_SALES_JUNIOR, TEAM),
            ],
            teams=[TEAM],
            headquarters=False,
        )
        started = time.perf_counter()
        await seed(deployed, items, others, ends)
        print(
            f"seeded {items:,} items of each kind for {REP} in a {MAX_RANGE.days}-day window"
            f" among {others:,} check-ins, follow-ups and orders of {OTHER_EMPLOYEES:,} others"
            f" in {time.perf_counter() - started:.0f} s"
        )
        rows = sum([await table_rows(deployed.database_urls[source]) for source in SERVICE_SOURCES])
        print(f"rows in the three services' tables: {rows:,}")

        directory = directory_pb2_grpc.DirectoryServiceStub(deployed.channels.channel("attendance"))
        with acting_as(Principal.system("benchmark")):
            resolved = await directory.ResolvePrincipal(
                directory_pb2.ResolvePrincipalRequest(employee_id=HR)
            )
        hr = Principal.from_proto(resolved.principal)
        channels = deployed.channels
        first_page = common_pb2.PageRequest(page_size=PAGE)

        def service_call(stub: Any, request: Any) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                with acting_as(hr):
                    response = await stub.ListEmployeeTimeline(request)
                assert len(response.items) == PAGE

            return call

        def alerts_call(source: str) -> Callable[[], Awaitable[None]]:
            stub = common_pb2_grpc.AlertsServiceStub(channels.channel(source))
            request = common_pb2.ListAlertsRequest(
                filter=common_pb2.AlertFilter(
                    employee_id=REP,
                    detected_from=to_timestamp(begins),
                    detected_to=to_timestamp(ends),
                ),
                page=first_page,
            )

            async def call() -> None:
                with acting_as(hr):
                    await stub.ListAlerts(request)

            return call

        def timeline_request(message: Any) -> Any:
            message.employee_id = REP
            getattr(message, "from").CopyFrom(to_timestamp(begins))
            message.to.CopyFrom(to_timestamp(ends))
            message.page.CopyFrom(first_page)
            return message

        direct = {
            "attendance ListEmployeeTimeline": service_call(
                attendance_grpc.AttendanceTimelineServiceStub(channels.channel("attendance")),
                timeline_request(attendance_pb2.ListEmployeeTimelineRequest()),
            ),
            "customers ListEmployeeTimeline": service_call(
                customers_grpc.CustomerTimelineServiceStub(channels.channel("customers")),
                timeline_request(customers_pb2.ListEmployeeTimelineRequest()),
            ),
            "orders ListEmployeeTimeline": service_call(
                orders_grpc.OrdersTimelineServiceStub(channels.channel("orders")),
                timeline_request(orders_pb2.ListEmployeeTimelineRequest()),
            ),
            **{f"{source} ListAlerts": alerts_call(source) for source in SERVICE_SOURCES},
        }
        variables = {
            "employeeId": employee_id(REP),
            "from": begins.isoformat(),
            "to": ends.isoformat(),
        }

        async with httpx.AsyncClient(
            base_url=deployed.http_url,
            headers={"Authorization": f"Bearer {deployed.token(HR)}"},
            timeout=120,
        ) as client:

            async def graphql(query: str, values: dict[str, Any]) -> dict[str, Any]:
                response = await client.post("/graphql", json={"query": query, "variables": values})
                body: dict[str, Any] = response.json()
                assert "errors" not in body, body["errors"][:3]
                return body

            async def gateway_first_page() -> None:
                body = await graphql(TIMELINE, {**variables, "first": PAGE})
                assert len(body["data"]["employeeTimeline"]["edges"]) == PAGE

            for _ in range(10):  # warm-up: connections, caches, the principal
                await gateway_first_page()
                for call in direct.values():
                    await call()
            through_gateway: list[float] = []
            directly: dict[str, list[float]] = {name: [] for name in direct}
            for _ in range(rounds):  # in alternation: drift on the machine affects all alike
                through_gateway.append(await timed(gateway_first_page))
                for name, call in direct.items():
                    directly[name].append(await timed(call))
            body = await graphql(TIMELINE, {**variables, "first": PAGE})
            calls = body.get("extensions", {}).get("rpcCalls", {})
            # What a page costs each process, one request at a time: CPU is what the load
            # on the machine does not change.
            databases = [url.rsplit("/", 1)[1] for url in deployed.database_urls.values()]
            cpu_before = process_cpu(databases)
            for _ in range(rounds):
                await gateway_first_page()
            cpu_after = process_cpu(databases)
            cpu = {
                name: (used - cpu_before.get(name, 0.0)) * 1000 / rounds
                for name, used in cpu_after.items()
            }

            print(f"\nemployeeTimeline(first: {PAGE}), first page, as HR, {rounds} rounds")
            print(HEADER)
            print(summary("gateway: employeeTimeline", through_gateway))
            for name, samples in directly.items():
                print(summary(f"  direct: {name}", samples))
            slowest = max(directly, key=lambda name: percentile(directly[name], 0.5))
            print(
                f"    gateway / slowest direct ({slowest}) at p50:"
                f" {percentile(through_gateway, 0.5) / percentile(directly[slowest], 0.5):.2f}x;"
                f" at p95: {percentile(through_gateway, 0.95) / percentile(directly[slowest], 0.95):.2f}x"
            )
            print(f"    gRPC calls per page: {per_request(calls, 1)}")
            print(
                f"    CPU ms per page through the gateway ({sum(cpu.values()):.1f} in all): "
                + ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(cpu.items()))
            )
            report_target(
                f"employeeTimeline(first: {PAGE}) at {rows / 1e6:.2g}M rows, p95",
                percentile(through_gateway, 0.95),
                limit=50,
                unit="ms",
                detail=f"slowest direct call p95 {percentile(directly[slowest], 0.95):.0f} ms",
            )

            if not paging:
                await explain_page_queries(deployed, begins, ends)
                return
            total = (await graphql(TOTAL, variables))["data"]["employeeTimeline"]["totalCount"]
            started = time.perf_counter()
            seen: set[tuple[str, str]] = set()
            pages = 0
            after: str | None = None
            while True:
                connection = (
                    await graphql(TIMELINE, {**variables, "first": PAGE, "after": after})
                )["data"]["employeeTimeline"]
                pages += 1
                for edge in connection["edges"]:
                    seen.add((edge["node"]["__typename"], item_key(edge["node"])))
                if not connection["pageInfo"]["hasNextPage"]:
                    break
                after = connection["pageInfo"]["endCursor"]
            seconds = time.perf_counter() - started
            print(
                f"\npaging through the window, first: {PAGE}: {len(seen):,} items"
                f" (totalCount {total:,}) in {pages} pages, {seconds:.1f} s ="
                f" {len(seen) / seconds:,.0f} items/s, {seconds / pages * 1000:.0f} ms/page"
            )
        await explain_page_queries(deployed, begins, ends)


def item_key(node: dict[str, Any]) -> str:
    """What identifies an item: its evidence's ID (an approval: its order and approver)."""
    for key in ("checkIn", "followUp", "call", "order", "payment", "shipment", "event", "alert"):
        if node.get(key) is not None:
            return str(node[key]["id"])
    return f"{node['orderCode']}:{node['step']['approverId']}"


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--items", type=int, default=2000, help="of each kind, the rep's")
    parser.add_argument("--others", type=int, default=1_000_000, help="other employees' rows")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="a directory: the gateway and services run under cProfile, stats written there",
    )
    parser.add_argument(
        "--no-paging", action="store_true", help="skip paging through the whole window"
    )
    args = parser.parse_args()
    asyncio.run(run(args.items, args.others, args.rounds, args.profile, paging=not args.no_paging))


if __name__ == "__main__":
    main()
