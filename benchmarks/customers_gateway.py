"""customers(first: 50) through the gateway against the same page by direct gRPC, and registerCustomer throughput.

Full profile, as deployed: PostgreSQL holding 100 000 customers, an OPA server,
and attendance, customers and the gateway each in its own process (started
with ``salesguard serve``). The benchmark client measures both paths in
alternation, so drift on the machine affects both alike, and prints p50/p99,
the gateway/direct ratio against issue 16's limit (≤ 1.3× at p50, c = 1), and how
many policy decisions each request cost. Then both paths at saturation (c = 32 and
64 concurrent requests for ``--seconds`` each, in alternation): requests per second,
the gateway/direct throughput ratio against issue 16's limit (≥ 0.9), and CPU per
request of the customers and gateway processes (their CPU seconds over the run divided
by the requests served; the direct runs give the cost of one ListCustomers(50) with
contact fields, against issue 16's limit of 1.5 ms), and of this benchmark itself.
The gateway path is driven by :class:`benchmarks.support.KeepAliveHttp`, which costs
about what the direct path's gRPC stub does (0.15-0.2 ms a request against 0.5): with
httpx, 2-3 ms more a request on the same two cores, the comparison measured the
clients as much as the gateway. Then ``{ me { id } }`` against
``{ __typename }`` (the gateway's floor: authentication and an empty execution), in
alternation, and their p50 ratio against issue 16's limit (≤ 2×). With
``--profile-gateway FILE`` the gateway runs under cProfile and its stats are written
to FILE when it stops (read them with ``python -m pstats FILE``); ``--profile-customers
FILE`` does the same for the customers service.

    uv run python -m benchmarks.customers_gateway [--customers 100000] [--rounds 300]
        [--seconds 8] [--registrations 500] [--profile-gateway FILE] [--profile-customers FILE]
        [--direct-only [--py-spy FILE]]

Where it stands (issue 16, 2-core machine shared with other work, 20 000 customers):
ListCustomers(50) costs the customers process 1.2-1.5 ms of CPU (4.7 before its rows were
written as wire bytes). The gateway's own CPU per page went from 2.5-2.75 ms (1.7x the
customers process's in the same run) to 1.7-2.1 (1.0-1.3x), then to 1.2-1.7 (1.03-1.09x;
main just before, same conditions: 1.7-2.05, 1.2-1.3x): the collector had ~0.27 ms of it
(the served heap is frozen after startup, serving.settle_heap), customers are read off
their message only for the fields selected (conversions.read_on_demand), and by a page's
rows directly off the message, a page's tree is answered in one pass by rows kept per
operation and written out as one function per row (execution.py), what a field selects
is kept per operation (common.selects), the extensions' hooks are wrapped once per
extension type; the request's server span costs ~0.035 ms instead of ~0.09
(observability.ServerSpans), and a process exporting no spans builds none: the request
and its gRPC calls only carry the trace (as the services do), and its unary calls skip
grpc.aio's interceptor machinery (salesguard.grpc_client). Against main in the run just
before: gateway/direct throughput 0.56/0.48 -> 0.66/0.53 (c = 32/64; 0.68/0.63 in another
pair of runs), p50 at c = 1 1.98x -> 1.76x, ``{ __typename }`` 0.62 -> 0.40 ms.

Then (issue 16, 2026-12-07) the gateway path was made cheaper where it differs from the
direct one: the gateway writes answers with orjson (a page's JSON ~0.1 -> ~0.014 ms); it
asks ListCustomers for the optional fields its query shows only (``read_mask``: the page
above shows registeredAt, so the customers process writes 1 of each customer's 3 times)
and for the page's end cursors only when the query shows no edge cursor
(``end_cursors_only``: 2 cursors written instead of 50); and this client reads the
gateway's answers with orjson (its CPU per request 0.11 -> 0.07 ms: it shares the two
cores with the path it measures). The customers process's CPU for the gateway's page went
1.08-1.13 -> 1.00-1.02 ms (the direct call's stays 1.10).

What bounds them now (the benchmark prints it): a path serves at most what its busiest
one-threaded process allows, and what the cores allow over the CPU all its processes
spend per request. Direct, the customers process's thread bounds it (1.10 ms a page:
~910 requests/s); through the gateway, the two cores (customers 1.00-1.02, gateway
1.06-1.08, client 0.07, PostgreSQL ~0.1: 2.26 ms, ~886 requests/s). So this machine
allows ~0.97 at best; measured on a quiet machine (06:57 UTC, the defaults) 0.93 at
c = 32 and 0.95 at c = 64 (0.90 and 1.08 in the next run, the machine's speed drifting),
where it was 0.84-0.87 and 0.91-0.93 before. Of the gateway's CPU, about a fifth is the
gRPC call in grpc's core and the socket writes (kernel loopback work charged to the
sender); of the Python rest, the rows (550 field values) ~0.22 ms (of which each
customer's registeredAt, converted and written, ~0.06), graphql-core's and strawberry's
per-request work (the extensions' hooks, execution context, resolver) ~0.3, the HTTP
stack and the access metrics ~0.1. At c = 1 the gateway adds about its own CPU to the
latency (2.85 against 1.78 ms, 1.6x), so 1.3x would take a gateway at ~0.5 ms a page.

What the p50 limit leaves (issue 16, 2026-12-07; the benchmark prints it): after the
page rounds, the floors run in the same alternation: ``{ __typename }`` through the
gateway, and through a bare strawberry app served the same way (:mod:`benchmarks.bare_graphql`);
then the page written by hand from ListCustomers' wire bytes (:func:`page_by_hand`, its
answer checked equal to the gateway's). On a quiet machine: direct 1.45-1.48 ms, the
gateway path 0.73 ms over it, which the limit allows 0.43-0.44; the gateway's floor 0.36-
0.38 (a bare strawberry app's 0.21-0.25 alone, 0.59-0.69 against 0.47-0.59 when
interleaved with the pages on a slower minute); so the limit leaves a page's own work 0.07
ms over the gateway's floor, where it takes 0.35-0.42, and written by hand, with no HTTP
and no GraphQL at all, 0.15. Inside the gateway at c = 1 (timestamps, not committed): HTTP
in and the middleware 0.08 ms, authentication 0.01, the request read and strawberry's view
0.06, strawberry's and graphql-core's execution to the resolver 0.14, the resolver to the
call 0.02, the call 1.34 (the direct client's whole call: 1.48), the page's connection 0.03,
its rows 0.23, the rest of the execution 0.05, the JSON, response and what follows it 0.09.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import insert

from benchmarks.deployment import Person, deployment, seed_directory, timed
from benchmarks.support import (
    REPO,
    KeepAliveHttp,
    arguments,
    cpu_seconds,
    percentile,
    postgres_backends,
    report_target,
    start_process,
    started_process,
    stop_all,
)
from salesguard.crypto import BlindIndex, FieldCipher
from salesguard.db import Database, new_id
from salesguard.principal import Principal, acting_as
from salesguard.settings import Settings
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2, customers_pb2_grpc
from salesguard_customers.contacts import ContactVault, identity_key
from salesguard_customers.models import Customer
from salesguard_gateway.schema.conversions import from_timestamp, optional
from salesguard_gateway.schema.enums import source_of
from salesguard_gateway.schema.nodes import global_id
from tests.support.servers import OpaServer, free_port

PAGE_QUERY = """
query Page($after: String) {
  customers(first: 50, after: $after) {
    edges { node { id code name company phone email address source sourceDetail registeredAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
ME = {"query": "{ me { id } }"}
TYPENAME = {"query": "{ __typename }"}
# Issue 16's limits, as ratios at p50 (c = 1).
GATEWAY_DIRECT_LIMIT = 1.3
ME_TYPENAME_LIMIT = 2.0
# At saturation: gateway/direct throughput (at least), and the customers process's CPU per
# ListCustomers(50) with contact fields (at most, ms).
THROUGHPUT_LIMIT = 0.9
CPU_PER_LIST_LIMIT_MS = 1.5
CONCURRENCY = (32, 64)
REGISTER = """
mutation Register($input: RegisterCustomerInput!) {
  registerCustomer(input: $input) { customer { id code } warnings }
}
"""


def opa_decisions(opa: OpaServer) -> int:
    """Policy queries OPA has answered so far (its Prometheus counter of POST /v1/data)."""
    with urllib.request.urlopen(f"{opa.url}/metrics", timeout=5) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith("http_request_duration_seconds_count") and 'handler="v1/data"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def postgres_cpu_since(database: str, before: Mapping[int, float]) -> float:
    """CPU seconds the backends serving ``database`` spent since ``before``: a backend seen
    then counts what it added, a new one all it used (one that ended meanwhile is missed)."""
    return sum(
        used - before.get(pid, 0.0) for pid, used in postgres_backends([database]).items() if used
    )


async def saturate(
    call: Callable[[], Awaitable[None]],
    concurrency: int,
    seconds: float,
    pids: dict[str, int],
    database: str | None = None,
) -> tuple[float, dict[str, float]]:
    """Requests per second with ``concurrency`` callers for ``seconds``, and each process's
    CPU milliseconds per request served (``client``: this benchmark's own; ``postgres``:
    the backends serving ``database``, when given)."""
    deadline = time.perf_counter() + seconds
    served = 0

    async def caller() -> None:
        nonlocal served
        while time.perf_counter() < deadline:
            await call()
            served += 1

    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    postgres_before = postgres_backends([database]) if database else {}
    client_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = {name: (cpu_seconds(pid) - before[name]) * 1000 / served for name, pid in pids.items()}
    cpu["client"] = (time.process_time() - client_before) * 1000 / served
    if database:
        cpu["postgres"] = postgres_cpu_since(database, postgres_before) * 1000 / served
    return served / elapsed, cpu


async def seed_customers(url: str, count: int, owners: list[tuple[str, str, str]]) -> None:
    """Set-based inserts with the service's own encryption (dev keys), 5 000 rows per statement."""
    settings = Settings()
    vault = ContactVault(
        FieldCipher(settings.field_key_bytes), BlindIndex(settings.blind_index_key_bytes)
    )
    db = Database(url)
    start = datetime.now(UTC) - timedelta(days=365)
    async with db.transaction() as session:
        for offset in range(0, count, 5000):
            rows: list[dict[str, Any]] = []
            for number in range(offset, min(count, offset + 5000)):
                owner, team, branch = owners[number % len(owners)]
                customer = Customer(
                    id=new_id(), name=f"Customer {number}", company=f"Company {number % 9973}"
                )
                vault.store(customer, "phone", f"+86139{number:08d}")
                vault.store(customer, "email", f"c{number}@example.com")
                vault.store(customer, "address", f"{number} Nanjing Road, Shanghai")
                at = start + timedelta(seconds=300 * number)
                rows.append(
                    {
                        "id": customer.id,
                        "name": customer.name,
                        "company": customer.company,
                        "identity_key": identity_key(customer.name, customer.company),
                        "phone_cipher": customer.phone_cipher,
                        "phone_index": customer.phone_index,
                        "email_cipher": customer.email_cipher,
                        "email_index": customer.email_index,
                        "address_cipher": customer.address_cipher,
                        "source": "WEBSITE" if number % 3 else "PERSONAL",
                        "source_detail": "",
                        "owner_id": owner,
                        "team_id": team,
                        "branch_id": branch,
                        "status": "ACTIVE",
                        "first_contact_at": at,
                        "registered_at": at,
                        "registered_by": owner,
                        "updated_at": at,
                    }
                )
            await session.execute(insert(Customer), rows)
    await db.dispose()


async def run(
    customer_count: int,
    rounds: int,
    seconds: float,
    registrations: int,
    profile_gateway: Path | None,
    profile_customers: Path | None = None,
    direct_only: bool = False,
    py_spy: Path | None = None,
) -> None:
    async with deployment(
        ("attendance", "customers"),
        grpc_timeout=30,
        profile_gateway=profile_gateway,
        profile_services={"customers": profile_customers} if profile_customers else None,
    ) as deployed:
        channels = deployed.channels
        await seed_directory(
            channels,
            "hq",
            [
                Person("hr1", directory_pb2.ROLE_HR, "t1"),
                Person("mgr1", directory_pb2.ROLE_MANAGER, "t1"),
                *(Person(f"rep{i}", directory_pb2.ROLE_SALES_SENIOR, "t1") for i in range(20)),
            ],
            teams=["t1"],
        )
        directory = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
        started = time.perf_counter()
        await seed_customers(
            deployed.database_urls["customers"],
            customer_count,
            [(f"rep{i}", "t1", "hq") for i in range(20)],
        )
        print(f"seeded {customer_count} customers in {time.perf_counter() - started:.1f} s")

        with acting_as(Principal.system("benchmark")):
            resolved = await directory.ResolvePrincipal(
                directory_pb2.ResolvePrincipalRequest(employee_id="hr1")
            )
        reader = Principal.from_proto(resolved.principal)
        customers = customers_pb2_grpc.CustomersServiceStub(channels.channel("customers"))
        token = deployed.token("hr1")
        http = KeepAliveHttp(deployed.http_url, {"Authorization": f"Bearer {token}"})
        async with (
            httpx.AsyncClient(
                base_url=deployed.http_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as client,
            contextlib.aclosing(http),
        ):

            async def direct() -> None:
                with acting_as(reader):
                    response = await customers.ListCustomers(
                        customers_pb2.ListCustomersRequest(
                            page=common_pb2.PageRequest(page_size=50), include_contact=True
                        )
                    )
                assert len(response.customers) == 50

            page_request = http.request("/graphql", {"query": PAGE_QUERY})

            async def gateway() -> None:
                status, raw = await http.send(page_request)
                # orjson: this client's own CPU shares the two cores with the gateway path's
                # processes (a page: json.loads ~0.07 ms, orjson.loads ~0.03).
                body = orjson.loads(raw)
                assert status == 200, body
                assert "errors" not in body and len(body["data"]["customers"]["edges"]) == 50, body

            for _ in range(20):  # warm-up: connections, caches, JIT-free but page-cache warm
                await direct()
                await gateway()
            if direct_only:
                health = health_pb2_grpc.HealthStub(channels.channel("customers"))

                async def health_check() -> None:
                    with acting_as(reader):
                        await health.Check(health_pb2.HealthCheckRequest(service=""))

                async def one_customer() -> None:
                    with acting_as(reader):
                        await customers.ListCustomers(
                            customers_pb2.ListCustomersRequest(
                                page=common_pb2.PageRequest(page_size=1), include_contact=True
                            )
                        )

                floors = {"Health.Check": health_check, "ListCustomers(1)": one_customer}
                await saturate_direct(direct, seconds, py_spy, floors)
                return
            me_request, typename_request = (
                http.request("/graphql", ME),
                http.request("/graphql", TYPENAME),
            )

            async def query(request: bytes) -> None:
                status, raw = await http.send(request)
                body = orjson.loads(raw)
                assert status == 200 and "errors" not in body, body

            async def floor() -> None:
                await query(typename_request)

            decisions_before = opa_decisions(deployed.opa)
            gateway_pid = started_process("gateway")
            direct_ms, gateway_ms = [], []
            gateway_cpu_before = cpu_seconds(gateway_pid)
            for _ in range(rounds):
                direct_ms.append(await timed(direct))
                gateway_ms.append(await timed(gateway))
            gateway_cpu_ms = (cpu_seconds(gateway_pid) - gateway_cpu_before) * 1000 / rounds
            decisions = opa_decisions(deployed.opa) - decisions_before
            # Then the floors in the same alternation: the gateway's, and strawberry's own.
            floor_ms, bare_ms = [], []
            async with bare_graphql() as bare:
                for _ in range(rounds):
                    direct_ms.append(await timed(direct))
                    gateway_ms.append(await timed(gateway))
                    floor_ms.append(await timed(floor))
                    bare_ms.append(await timed(bare))

            print(
                f"\ncustomers(first: 50), 10 fields, {customer_count} customers, HR caller,"
                f" {2 * rounds} rounds each (the floors: the second {rounds})"
            )
            print_latencies(
                "path",
                22,
                {
                    "direct": direct_ms,
                    "gateway": gateway_ms,
                    "__typename": floor_ms,
                    "__typename, bare app": bare_ms,
                },
            )
            ratio = percentile(gateway_ms, 0.5) / percentile(direct_ms, 0.5)
            print(f"  gateway/direct at p50: {ratio:.2f}x (limit {GATEWAY_DIRECT_LIMIT}x)")
            with acting_as(reader):
                wire = (
                    await customers.ListCustomers(
                        customers_pb2.ListCustomersRequest(
                            page=common_pb2.PageRequest(page_size=50), include_contact=True
                        )
                    )
                ).SerializeToString()
            hand_ms = by_hand_ms(wire, (await http.send(page_request))[1])
            print_gateway_budget(
                GatewayBudget(direct_ms, gateway_ms, floor_ms, bare_ms, gateway_cpu_ms, hand_ms)
            )
            print(
                f"  policy decisions per request: {decisions / (2 * rounds):.2f} (OPA answered {decisions})"
            )
            report_target(
                "gateway/direct at p50, c = 1", ratio, limit=GATEWAY_DIRECT_LIMIT, unit="x"
            )

            if seconds > 0:
                pids = {name: started_process(name) for name in ("customers", "gateway")}
                print(
                    f"\nat saturation, {seconds:g} s per run, direct and gateway in alternation (twice)"
                )
                database = deployed.database_urls["customers"].rsplit("/", 1)[1]
                print(
                    f"  {'path':<10}{'c':>4}{'req/s':>9}{'customers CPU ms/req':>22}{'gateway CPU ms/req':>20}"
                    f"{'client CPU ms/req':>19}{'postgres CPU ms/req':>21}"
                )
                rates: dict[tuple[str, int], list[float]] = {}
                list_cpu: list[float] = []
                spent: dict[str, list[dict[str, float]]] = {}
                for _ in range(2):
                    for concurrency in CONCURRENCY:
                        for name, call in (("direct", direct), ("gateway", gateway)):
                            rate, cpu = await saturate(call, concurrency, seconds, pids, database)
                            rates.setdefault((name, concurrency), []).append(rate)
                            spent.setdefault(name, []).append(cpu)
                            if name == "direct":
                                list_cpu.append(cpu["customers"])
                            print(
                                f"  {name:<10}{concurrency:>4}{rate:>9.0f}{cpu['customers']:>22.2f}{cpu['gateway']:>20.2f}"
                                f"{cpu['client']:>19.2f}{cpu['postgres']:>21.2f}"
                            )
                print_cpu_bound(spent)
                for concurrency in CONCURRENCY:
                    throughput = statistics.mean(rates["gateway", concurrency]) / statistics.mean(
                        rates["direct", concurrency]
                    )
                    report_target(
                        f"gateway/direct throughput at saturation, c = {concurrency}",
                        throughput,
                        limit=THROUGHPUT_LIMIT,
                        unit="x",
                        at_most=False,
                    )
                cpu_ms = statistics.median(list_cpu)
                report_target(
                    "CPU per ListCustomers(50) with contacts",
                    cpu_ms,
                    limit=CPU_PER_LIST_LIMIT_MS,
                    unit="ms",
                )

            for _ in range(20):
                await query(me_request)
                await query(typename_request)
            me_ms, typename_ms = [], []
            for _ in range(rounds):
                me_ms.append(await timed(lambda: query(me_request)))
                typename_ms.append(await timed(lambda: query(typename_request)))
            print(f"\n{{ me {{ id }} }} against {{ __typename }}, HR caller, {rounds} rounds each")
            print_latencies("query", 16, {"me { id }": me_ms, "__typename": typename_ms})
            ratio = percentile(me_ms, 0.5) / percentile(typename_ms, 0.5)
            print(f"  me/__typename at p50: {ratio:.2f}x (limit {ME_TYPENAME_LIMIT}x)")
            report_target(
                "{ me { id } } p50 / { __typename }", ratio, limit=ME_TYPENAME_LIMIT, unit="x"
            )
            if registrations == 0:
                return

            async def register_through_gateway(index: int) -> None:
                variables = {
                    "input": {
                        "name": f"New customer {index}",
                        "company": "Bench Ltd",
                        "phone": f"+86137{index:08d}",
                        "source": "WEBSITE",
                        "firstContactAt": datetime.now(UTC).isoformat(),
                        "idempotencyKey": f"bench-{index}",
                    }
                }
                rep_token = deployed.token(f"rep{index % 20}")
                response = await client.post(
                    "/graphql",
                    json={"query": REGISTER, "variables": variables},
                    headers={"Authorization": f"Bearer {rep_token}"},
                )
                assert "errors" not in response.json(), response.json()

            semaphore = asyncio.Semaphore(16)

            async def bounded(index: int) -> None:
                async with semaphore:
                    await register_through_gateway(index)

            started = time.perf_counter()
            await asyncio.gather(*(bounded(i) for i in range(registrations)))
            elapsed = time.perf_counter() - started
            print(
                f"\nregisterCustomer through the gateway: {registrations} in {elapsed:.2f} s = {registrations / elapsed:.0f}/s (16 concurrent)"
            )


def print_cpu_bound(spent: Mapping[str, list[dict[str, float]]]) -> None:
    """What bounds the throughput ratio, from the CPU each path costs per request (medians
    of the saturating runs). A path serves at most as many requests per second as its
    busiest single-threaded process allows (1 / its CPU per request: the customers
    process, the gateway, the client; each runs one event loop), and as the machine's
    cores allow over the CPU all its processes spend per request (PostgreSQL included);
    the ratio of the two paths' bounds is the best ratio this machine allows."""
    per_path = {
        path: {part: statistics.median(run[part] for run in runs) for part in runs[0]}
        for path, runs in spent.items()
    }
    gateway = per_path["gateway"]
    print(
        f"  gateway CPU / customers CPU per page (gateway path): "
        f"{gateway['gateway'] / gateway['customers']:.2f}"
    )
    cores = os.cpu_count() or 1
    bounds: dict[str, tuple[float, str]] = {}
    for path, parts in per_path.items():
        limits = {
            f"{part} (one thread)": 1000 / ms
            for part, ms in parts.items()
            if part != "postgres" and ms > 0
        }
        limits[f"{cores} cores"] = cores * 1000 / sum(parts.values())
        bounding = min(limits, key=limits.__getitem__)
        bounds[path] = (limits[bounding], bounding)
    print(
        "  CPU per request, all processes: "
        + ", ".join(f"{path} {sum(parts.values()):.2f} ms" for path, parts in per_path.items())
    )
    print(
        "  requests/s the CPU allows: "
        + ", ".join(f"{path} {rate:.0f} ({by})" for path, (rate, by) in bounds.items())
        + f"; gateway/direct at best: {bounds['gateway'][0] / bounds['direct'][0]:.2f}"
    )


def user_system_seconds(pid: int) -> tuple[float, float]:
    """A process's user and system CPU seconds so far (what :func:`cpu_seconds` adds up)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


async def saturate_direct(
    direct: Callable[[], Awaitable[None]],
    seconds: float,
    py_spy: Path | None,
    floors: Mapping[str, Callable[[], Awaitable[None]]],
) -> None:
    """``--direct-only``: ListCustomers(50) with contacts alone at saturation (c = 32 and
    64, twice), the customers process's CPU per request; with ``--py-spy FILE`` the
    customers process is sampled on-CPU by py-spy (speedscope JSON; Python frames only:
    with ``--native`` py-spy pauses the process per sample, which skews the samples
    towards system calls) during the runs."""
    pid = started_process("customers")
    recorder = None
    if py_spy is not None:
        recorder = await asyncio.create_subprocess_exec(
            "py-spy", "record", "--pid", str(pid), "--nonblocking", "-r", "200",
            "-f", "speedscope", "-o", str(py_spy),
            "-d", str(int(seconds * 2 * len(CONCURRENCY)) + 1),
        )  # fmt: skip
    print(f"\ndirect only at saturation, {seconds:g} s per run")
    print(f"  {'c':>4}{'req/s':>9}{'customers CPU ms/req':>22}{'user':>8}{'system':>8}")
    list_cpu: list[float] = []
    for _ in range(2):
        for concurrency in CONCURRENCY:
            before = user_system_seconds(pid)
            rate, cpu = await saturate(direct, concurrency, seconds, {"customers": pid})
            used = [
                after - then for after, then in zip(user_system_seconds(pid), before, strict=True)
            ]
            user, system = (cpu["customers"] * part / (sum(used) or 1) for part in used)
            list_cpu.append(cpu["customers"])
            print(
                f"  {concurrency:>4}{rate:>9.0f}{cpu['customers']:>22.2f}{user:>8.2f}{system:>8.2f}"
            )
    if recorder is not None:
        await recorder.wait()
    # What the figure is bounded by: the same process's CPU for calls that do less.
    for name, call in floors.items():
        rate, cpu = await saturate(call, CONCURRENCY[0], seconds, {"customers": pid})
        print(
            f"  {name}: {rate:.0f} req/s, {cpu['customers']:.2f} ms CPU/req (c = {CONCURRENCY[0]})"
        )
    report_target(
        "CPU per ListCustomers(50) with contacts",
        statistics.median(list_cpu),
        limit=CPU_PER_LIST_LIMIT_MS,
        unit="ms",
    )


LIST_CUSTOMERS_PATH = "/salesguard.customers.v1.CustomersService/ListCustomers"


def page_by_hand(raw: bytes) -> bytes:
    """PAGE_QUERY's answer from ListCustomers' wire bytes, written by hand: the message
    parsed, each customer's 10 fields converted as the gateway converts them, the JSON
    written (with the count of gRPC calls the gateway adds); no HTTP, no GraphQL. The
    least a Python gateway could do for the page."""
    response = customers_pb2.ListCustomersResponse.FromString(raw)
    edges = []
    for customer in response.customers:
        source = source_of(customer.source)
        registered_at = from_timestamp(customer.registered_at)
        edges.append(
            {
                "node": {
                    "id": global_id("Customer", customer.id),
                    "code": customer.code,
                    "name": customer.name,
                    "company": optional(customer.company),
                    "phone": optional(customer.phone),
                    "email": optional(customer.email),
                    "address": optional(customer.address),
                    "source": source.name if source is not None else None,
                    "sourceDetail": optional(customer.source_detail),
                    "registeredAt": registered_at.isoformat() if registered_at else None,
                }
            }
        )
    page_info = {
        "hasNextPage": response.page_info.has_next_page,
        "endCursor": response.cursors[-1] if response.cursors else None,
    }
    return orjson.dumps(
        {
            "data": {"customers": {"edges": edges, "pageInfo": page_info}},
            "extensions": {"rpcCalls": {LIST_CUSTOMERS_PATH: 1}},
        }
    )


def by_hand_ms(raw: bytes, answered: bytes, repeats: int = 2000) -> float:
    """:func:`page_by_hand`'s time per page, once its answer is the gateway's own."""
    assert orjson.loads(page_by_hand(raw)) == orjson.loads(answered), "not the gateway's answer"
    started = time.perf_counter()
    for _ in range(repeats):
        page_by_hand(raw)
    return (time.perf_counter() - started) * 1000 / repeats


@dataclass(frozen=True)
class GatewayBudget:
    """The c = 1 figures that say what the p50 limit leaves the gateway (ms)."""

    direct_ms: list[float]
    gateway_ms: list[float]
    floor_ms: list[float]
    bare_ms: list[float]
    gateway_cpu_ms: float
    hand_ms: float


def print_gateway_budget(figures: GatewayBudget) -> None:
    """What the p50 limit leaves the gateway path over the direct one, and what takes it.

    The gateway path is the direct one (its gRPC call made by the gateway instead of this
    client) plus one HTTP exchange and the gateway's work. ``{ __typename }`` is that
    exchange with the least work a GraphQL request can take: the gateway's floor
    (authentication, its middleware and extensions, an empty execution), and the floor of
    strawberry as it comes (:mod:`benchmarks.bare_graphql`). What the limit leaves over the
    direct p50, less the gateway's floor, is what a page's own work (its resolver and call,
    its 550 values, its JSON) may take; :func:`page_by_hand` is the least it can take."""
    direct, gateway, floor, bare = (
        percentile(ms, 0.5)
        for ms in (figures.direct_ms, figures.gateway_ms, figures.floor_ms, figures.bare_ms)
    )
    allowed = (GATEWAY_DIRECT_LIMIT - 1) * direct
    print(
        f"  the gateway path over the direct one at p50: {gateway - direct:.2f} ms (the"
        f" gateway's CPU per page at c = 1: {figures.gateway_cpu_ms:.2f} ms); the limit"
        f" allows {allowed:.2f}"
    )
    print(
        f"  floors at p50 ({{ __typename }}): the gateway's {floor:.2f} ms, a bare strawberry"
        f" app's {bare:.2f}"
    )
    print(
        f"  the page's own work (the path over the direct one, less the gateway's floor):"
        f" {gateway - direct - floor:.2f} ms; by hand (no HTTP, no GraphQL):"
        f" {figures.hand_ms:.2f}; the limit leaves it {allowed - floor:.2f}"
    )


@asynccontextmanager
async def bare_graphql() -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """:mod:`benchmarks.bare_graphql` in a process of its own, and a call answering its
    ``{ __typename }`` (through the same kind of client as the gateway's)."""
    port = free_port()
    process = start_process(
        "bare_graphql",
        [sys.executable, "-m", "benchmarks.bare_graphql", str(port)],
        port,
        cwd=REPO,
    )
    http = KeepAliveHttp(f"http://127.0.0.1:{port}", {})
    request = http.request("/graphql", TYPENAME)

    async def typename() -> None:
        status, raw = await http.send(request)
        assert status == 200 and orjson.loads(raw) == {"data": {"__typename": "Query"}}, raw

    try:
        for _ in range(20):
            await typename()
        yield typename
    finally:
        await http.aclose()
        stop_all([process])


def print_latencies(label: str, width: int, runs: dict[str, list[float]]) -> None:
    """A table of the runs' p50, p99 and mean in ms, the runs' names ``width`` wide under
    ``label``."""
    print(f"  {label:<{width}}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, samples in runs.items():
        print(
            f"  {name:<{width}}{percentile(samples, 0.5):>10.2f}"
            f"{percentile(samples, 0.99):>10.2f}{statistics.mean(samples):>10.2f}"
        )


def main() -> None:
    parser = arguments(__doc__, customers=100_000, rounds=300)
    parser.add_argument(
        "--seconds", type=float, default=8, help="each saturating run; 0 skips them"
    )
    parser.add_argument("--registrations", type=int, default=500)
    parser.add_argument("--profile-gateway", type=Path, default=None)
    parser.add_argument("--profile-customers", type=Path, default=None)
    parser.add_argument(
        "--direct-only",
        action="store_true",
        help="only ListCustomers(50) by direct gRPC at saturation (the customers CPU figure)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        help="with --direct-only: py-spy's on-CPU samples of the customers process to FILE",
    )
    args = parser.parse_args()
    asyncio.run(
        run(
            args.customers,
            args.rounds,
            args.seconds,
            args.registrations,
            args.profile_gateway,
            args.profile_customers,
            args.direct_only,
            args.py_spy,
        )
    )


if __name__ == "__main__":
    main()
