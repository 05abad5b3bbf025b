"""riskRanking for a branch of 500 employees with 400 000 alerts, and what one request costs.

Full profile as deployed (benchmarks/deployment.py): PostgreSQL, an OPA server,
attendance, customers, orders and the gateway each in its own process. The alerts
are seeded set-based into the three services' own tables, each service its own
kinds, over the past year (the risk model looks back 90 days): about 5 % dismissed
and 5 % resolved as cleared (they do not count), as many again in nine other
branches. HR ranks the branch through the gateway, with and without the evidence
(each shown employee's heaviest alerts); next to it, the three SummarizeAlerts calls
made directly, at once, as the gateway makes them (the groups as columns; with
evidence: then three more for the first employees, their heaviest alerts only, of the
groups that can hold their evidence, as of the first answers). Printed: p50/p95/p99,
the gateway's gRPC calls per request (its ``extensions.rpcCalls``: one SummarizeAlerts
per source), the policy decisions per request (OPA's counter) and each process's CPU
per request (the services', their databases' backends', the gateway's: on a busy
machine the CPU spent says more than the wall time). Issue 16's target: with evidence,
500 employees and 400 000 alerts, p50 <= 200 ms through the gateway.

    uv run python -m benchmarks.risk_ranking [--employees 500] [--alerts 400000] [--rounds 200]
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from google.protobuf.timestamp_pb2 import Timestamp

from benchmarks.customers_gateway import opa_decisions
from benchmarks.deployment import (
    OTHER_BRANCHES,
    Person,
    deployment,
    execute_seed,
    per_request,
    seed_alerts_sql,
    seed_directory,
    timed,
)
from benchmarks.support import HEADER, CpuMeter, arguments, percentile, report_target, summary
from salesguard import risk
from salesguard.principal import Principal, acting_as
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from tests.harness import global_id

BRANCH = "bench-branch"
HR = "bench-hr"
SOURCES = ("customers", "attendance", "orders")
RANKING = """
query($branch: ID, $first: Int) {
  riskRanking(branchId: $branch, first: $first) {
    employee { id name } score level
    signals { kind count openCount contribution }
  }
}
"""
RANKING_WITH_EVIDENCE = """
query($branch: ID, $first: Int) {
  riskRanking(branchId: $branch, first: $first) {
    employee { id name } score level
    signals { kind count openCount contribution }
    evidence { id kind title detectedAt }
  }
}
"""
SUMMARIZE = "/salesguard.common.v1.AlertsService/SummarizeAlerts"


def cpu_per_request(spent: dict[str, float], rounds: int) -> str:
    """Each process's CPU milliseconds per request, busiest first, and their sum."""
    ordered = sorted(spent.items(), key=lambda item: -item[1])
    parts = ", ".join(f"{name} {seconds * 1000 / rounds:.1f}" for name, seconds in ordered)
    return f"{sum(spent.values()) * 1000 / rounds:.1f} in all ({parts})"


def rpc_calls(body: dict[str, Any]) -> Counter[str]:
    return Counter(body.get("extensions", {}).get("rpcCalls", {}))


async def run(employees: int, alerts: int, other_alerts: int, rounds: int, first: int) -> None:
    gateway_env = {"SALESGUARD_REPORT_RPC_CALLS": "true"}
    async with deployment(gateway_env=gateway_env) as deployed:
        reps = [Person(f"bench-rep-{n}", directory_pb2.ROLE_SALES_JUNIOR) for n in range(employees)]
        await seed_directory(deployed.channels, "bench-hq", [Person(HR, directory_pb2.ROLE_HR)])
        await seed_directory(deployed.channels, BRANCH, reps, headquarters=False)
        # Per source: a third of the alerts, numbered so that no two sources share an ID.
        share = {"alerts": alerts // len(SOURCES), "other_alerts": other_alerts // len(SOURCES)}
        await asyncio.gather(
            *(
                execute_seed(
                    deployed.database_urls[source],
                    [seed_alerts_sql(source, BRANCH)],
                    dict(share, employees=employees, days=365),
                )
                for source in SOURCES
            )
        )
        print(
            f"seeded {share['alerts'] * 3:,} alerts of {employees} employees in {BRANCH}"
            f" and {share['other_alerts'] * 3:,} in {OTHER_BRANCHES} other branches"
        )

        directory = directory_pb2_grpc.DirectoryServiceStub(deployed.channels.channel("attendance"))
        with acting_as(Principal.system("benchmark")):
            resolved = await directory.ResolvePrincipal(
                directory_pb2.ResolvePrincipalRequest(employee_id=HR)
            )
        hr = Principal.from_proto(resolved.principal)
        stubs = {
            source: common_pb2_grpc.AlertsServiceStub(deployed.channels.channel(source))
            for source in SOURCES
        }

        async def summarize(
            source: str, include_recent: bool, *, as_columns: bool = False
        ) -> common_pb2.SummarizeAlertsResponse:
            with acting_as(hr):
                response: common_pb2.SummarizeAlertsResponse = await stubs[source].SummarizeAlerts(
                    common_pb2.SummarizeAlertsRequest(
                        branch_id=BRANCH, include_recent=include_recent, as_columns=as_columns
                    )
                )
            return response

        async def heaviest(
            source: str,
            as_of: Timestamp,
            top: list[str],
            groups: list[common_pb2.AlertGroup],
        ) -> None:
            with acting_as(hr):
                await stubs[source].SummarizeAlerts(
                    common_pb2.SummarizeAlertsRequest(
                        employee_ids=top,
                        include_recent=True,
                        heaviest_only=True,
                        heaviest_alerts_only=True,
                        as_of=as_of,
                        evidence_groups=groups,
                    )
                )

        def direct(include_recent: bool) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                scored = await asyncio.gather(
                    *(summarize(source, False, as_columns=True) for source in SOURCES)
                )
                if include_recent:  # as the gateway asks: the ranked employees' evidence next
                    model = risk.RiskModel.from_proto(scored[0].risk_model)
                    top = risk.top_summaries([answer.columns for answer in scored], model, first)
                    groups = risk.evidence_groups(top, model, [answer.as_of for answer in scored])
                    await asyncio.gather(
                        *(
                            heaviest(source, answer.as_of, list(top), groups)
                            for source, answer in zip(SOURCES, scored, strict=True)
                        )
                    )

            return call

        async with httpx.AsyncClient(
            base_url=deployed.http_url,
            headers={"Authorization": f"Bearer {deployed.token(HR)}"},
            timeout=60,
        ) as client:
            calls: Counter[str] = Counter()
            meter = CpuMeter(deployed.database_urls)
            ranked: list[int] = []

            def gateway(query: str) -> Callable[[], Awaitable[None]]:
                async def call() -> None:
                    response = await client.post(
                        "/graphql",
                        json={
                            "query": query,
                            "variables": {"branch": global_id("Branch", BRANCH), "first": first},
                        },
                    )
                    body = response.json()
                    assert "errors" not in body, body["errors"][:3]
                    ranked.append(len(body["data"]["riskRanking"]))
                    calls.update(rpc_calls(body))

                return call

            # What one answer weighs: the gRPC limit is 8 MiB (salesguard.grpc_client).
            for source in SOURCES:
                bare = await summarize(source, False)
                recent = await summarize(source, True)
                columns = await summarize(source, False, as_columns=True)
                print(
                    f"{source}: {len(bare.summaries):,} (employee, kind) groups in the lookback;"
                    f" SummarizeAlerts {bare.ByteSize() / 1024:,.0f} KiB, as columns"
                    f" {columns.ByteSize() / 1024:,.0f} KiB (what the gateway asks), with recent"
                    f" alerts {recent.ByteSize() / 1024:,.0f} KiB"
                )
            print(
                f"\nriskRanking(branchId, first: {first}) as HR, {employees} employees,"
                f" {rounds} rounds each"
            )
            print(HEADER)
            for label, query, include_recent in (
                ("scores and signals", RANKING, False),
                ("with evidence (5 heaviest each)", RANKING_WITH_EVIDENCE, True),
            ):
                for _ in range(10):  # warm-up: connections, caches, the principal
                    await gateway(query)()
                    await direct(include_recent)()
                calls.clear()
                ranked.clear()
                decisions_before = opa_decisions(deployed.opa)
                through_gateway, directly = [], []
                cpu_before = await meter.sample()
                for _ in range(rounds):
                    through_gateway.append(await timed(gateway(query)))
                cpu_gateway = meter.spent(cpu_before, await meter.sample())
                decisions = opa_decisions(deployed.opa) - decisions_before
                cpu_before = await meter.sample()
                for _ in range(rounds):
                    directly.append(await timed(direct(include_recent)))
                cpu_direct = meter.spent(cpu_before, await meter.sample())
                print(summary(f"gateway: {label}", through_gateway))
                asks = "3 × SummarizeAlerts at once" + (
                    ", then 3 for evidence" if include_recent else ""
                )
                print(summary(f"  direct: {asks}", directly))
                print(
                    f"    gateway/direct at p50: "
                    f"{percentile(through_gateway, 0.5) / percentile(directly, 0.5):.2f}x;"
                    f" employees ranked {min(ranked)}; per request:"
                    f" {calls[SUMMARIZE] / rounds:.1f} SummarizeAlerts,"
                    f" {sum(calls.values()) / rounds:.1f} gRPC calls in all"
                    f" ({per_request(calls, rounds)}),"
                    f" {decisions / rounds:.1f} policy decisions"
                )
                for where, spent in (("gateway", cpu_gateway), ("direct", cpu_direct)):
                    print(f"    CPU ms per request, {where}: {cpu_per_request(spent, rounds)}")
            report_target(
                f"riskRanking with evidence, {employees} employees, {share['alerts'] * 3:,} alerts,"
                " p50",
                percentile(through_gateway, 0.5),
                limit=200,
                unit="ms",
                detail=f"the same SummarizeAlerts made directly: p50 {percentile(directly, 0.5):.0f} ms",
            )


def main() -> None:
    parser = arguments(__doc__, employees=500)
    parser.add_argument("--alerts", type=int, default=400_000, help="in the ranked branch")
    parser.add_argument("--other-alerts", type=int, default=200_000, help="in other branches")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--first", type=int, default=50, help="employees ranked per request")
    args = parser.parse_args()
    asyncio.run(run(args.employees, args.alerts, args.other_alerts, args.rounds, args.first))


if __name__ == "__main__":
    main()
