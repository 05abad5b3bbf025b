"""FindNearbyCustomers over 1 000 000 customers: gRPC latency, bare SQL time and the query plan.

Full profile, as deployed: PostgreSQL, an OPA server, and the customers service
in its own process (``salesguard serve customers``). The customers are placed
like a real customer base: clustered around a few Chinese cities, denser in
the centre, plus uniform noise over the country. The benchmark then asks, as
the attendance service does on a check-in (SYSTEM), for the customers within
the radius of random points near the clusters, and prints p50/p95/p99 through
gRPC, the same for the bare SQL query, the rows the cells held, and the
EXPLAIN plan of the query.

    uv run python -m benchmarks.nearby_customers [--customers 1000000] [--points 1000] [--radius 300]
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from benchmarks.deployment import vacuum_analyze
from benchmarks.support import HEADER, REPO, arguments, start_service, summary
from salesguard import geo
from salesguard.db import Database, new_id
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.settings import DEV_INTERNAL_SECRET
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import lookups_pb2, lookups_pb2_grpc
from salesguard_customers.contacts import identity_key
from salesguard_customers.lookups import NearbyQuery, nearby_statement, nearest_customers
from salesguard_customers.models import Customer
from salesguard_customers.server import service as customers_app
from tests.support.servers import OpaServer, PostgresDatabases, free_port

BATCH = 10_000
# Share of customers scattered uniformly over eastern China rather than in a city.
NOISE = 0.05
EAST_CHINA = ((20.0, 45.0), (100.0, 125.0))


@dataclass(frozen=True)
class City:
    name: str
    lat: float
    lng: float
    weight: float
    # Standard deviation of the distance from the centre, in km (a dense core, wide suburbs).
    core_km: float
    suburbs_km: float


CITIES = (
    City("Shanghai", 31.2304, 121.4737, 0.22, 4, 18),
    City("Beijing", 39.9042, 116.4074, 0.18, 4, 18),
    City("Shenzhen", 22.5431, 114.0579, 0.14, 3, 12),
    City("Guangzhou", 23.1291, 113.2644, 0.13, 3, 14),
    City("Hangzhou", 30.2741, 120.1551, 0.10, 3, 10),
    City("Chengdu", 30.5728, 104.0668, 0.09, 3, 12),
    City("Wuhan", 30.5928, 114.3055, 0.09, 3, 12),
)


def near_city(rng: random.Random) -> tuple[float, float]:
    """A point around a city picked by weight: 60 % in the core, the rest in the suburbs."""
    city = rng.choices(CITIES, weights=[c.weight for c in CITIES])[0]
    sigma_km = city.core_km if rng.random() < 0.6 else city.suburbs_km
    north_km, east_km = rng.gauss(0, sigma_km), rng.gauss(0, sigma_km)
    lat = city.lat + north_km / 111.195
    lng = city.lng + east_km / (111.195 * math.cos(math.radians(city.lat)))
    return lat, lng


def customer_location(rng: random.Random) -> tuple[float, float]:
    if rng.random() < NOISE:
        (south, north), (west, east) = EAST_CHINA
        return rng.uniform(south, north), rng.uniform(west, east)
    return near_city(rng)


def customer_rows(count: int, owners: int, rng: random.Random) -> Iterator[list[dict[str, Any]]]:
    """Batches of rows as registration writes them; contact fields stay NULL for speed."""
    start = datetime.now(UTC) - timedelta(days=730)
    for offset in range(0, count, BATCH):
        rows = []
        for number in range(offset, min(count, offset + BATCH)):
            lat, lng = customer_location(rng)
            owner = number % owners
            name, company = f"Customer {number}", f"Company {number % 9973}"
            at = start + timedelta(seconds=60 * number)
            rows.append(
                {
                    "id": new_id(),
                    "name": name,
                    "company": company,
                    "identity_key": identity_key(name, company),
                    "lat": lat,
                    "lng": lng,
                    "geohash": geo.encode(lat, lng),
                    "source": "WEBSITE" if number % 3 else "PERSONAL",
                    "source_detail": "",
                    "owner_id": f"rep{owner}",
                    "team_id": f"team{owner % 40}",
                    "branch_id": f"branch{owner % 8}",
                    "status": "ACTIVE" if number % 50 else "ARCHIVED",
                    "first_contact_at": at,
                    "registered_at": at,
                    "registered_by": f"rep{owner}",
                    "updated_at": at,
                }
            )
        yield rows


async def seed(db: Database, count: int, rng: random.Random) -> None:
    """Set-based inserts, 10 000 rows per statement, one transaction."""
    async with db.transaction() as session:
        for rows in customer_rows(count, owners=400, rng=rng):
            await session.execute(insert(Customer), rows)
    await vacuum_analyze(db, "customers")


async def explain(db: Database, lat: float, lng: float, radius: float) -> list[str]:
    statement = nearby_statement(lat, lng, radius)
    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    async with db.engine.connect() as connection:
        result = await connection.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))
        return [str(line) for (line,) in result]


async def run(customer_count: int, points: int, radius: float, seed_value: int) -> None:
    rng = random.Random(seed_value)
    databases = PostgresDatabases(os.environ.get("SALESGUARD_TEST_POSTGRES_URL"))
    url = await databases.create("bench_nearby")
    opa = OpaServer(REPO / "policies").start()
    process: subprocess.Popen[bytes] | None = None
    db = Database(url)
    try:
        settings = customers_app.load_settings(
            profile="full", database_url=url, opa_url=opa.url, policies_dir=REPO / "policies"
        )
        await customers_app.migrate(settings)
        started = time.perf_counter()
        await seed(db, customer_count, rng)
        print(f"seeded {customer_count} customers in {time.perf_counter() - started:.1f} s")

        port = free_port()
        env = {
            **os.environ,
            "SALESGUARD_PROFILE": "full",
            "SALESGUARD_DATABASE_URL": url,
            "SALESGUARD_OPA_URL": opa.url,
            "SALESGUARD_POLICIES_DIR": str(REPO / "policies"),
            "SALESGUARD_GRPC_PORT": str(port),
            "SALESGUARD_LOG_LEVEL": "WARNING",
            "SALESGUARD_DATA_DIR": str(REPO / ".salesguard" / "bench"),
        }
        process = start_service("customers", env, port)

        channels = ServiceChannels(
            {"customers": f"127.0.0.1:{port}"}, DEV_INTERNAL_SECRET.encode(), 30
        )
        stub = lookups_pb2_grpc.CustomerLookupServiceStub(channels.channel("customers"))
        query_points = [near_city(rng) for _ in range(points)]

        async def lookup(lat: float, lng: float) -> lookups_pb2.FindNearbyCustomersResponse:
            with acting_as(Principal.system("attendance")):
                return await stub.FindNearbyCustomers(
                    lookups_pb2.FindNearbyCustomersRequest(
                        location=common_pb2.GeoPoint(lat=lat, lng=lng), radius_m=radius, limit=10
                    )
                )

        for lat, lng in query_points[:50]:  # warm-up: connections, pools, page cache
            await lookup(lat, lng)
        grpc_ms, found = [], []
        for lat, lng in query_points:
            began = time.perf_counter()
            response = await lookup(lat, lng)
            grpc_ms.append((time.perf_counter() - began) * 1000)
            found.append(len(response.nearby))

        # The same search in-process, without gRPC and the policy decision: the
        # service's queries (a small circle first, wider ones only when it holds
        # fewer than `limit`) plus the distances; then the one query at the full radius.
        search_ms, sql_ms, candidates = [], [], []
        async with db.read() as session:
            for lat, lng in query_points:
                query = NearbyQuery(lat, lng, radius, limit=10, customer_ids=[])
                began = time.perf_counter()
                await nearest_customers(session, query)
                search_ms.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                rows = (await session.execute(nearby_statement(lat, lng, radius))).all()
                sql_ms.append((time.perf_counter() - began) * 1000)
                candidates.append(len(rows))

        print(
            f"\nFindNearbyCustomers(radius {radius:.0f} m, limit 10), {customer_count} customers, "
            f"{points} points near {len(CITIES)} cities"
        )
        print(HEADER)
        print(summary("gRPC, as attendance (SYSTEM)", grpc_ms))
        print(summary("search in-process (SQL + distances)", search_ms))
        print(summary("bare SQL, one query at the radius", sql_ms))
        print(
            f"  rows in the radius' cells and box: mean {statistics.mean(candidates):.0f}, "
            f"max {max(candidates)}; customers found: mean {statistics.mean(found):.1f}, "
            f"max {max(found)}"
        )
        densest = max(range(points), key=lambda i: candidates[i])
        plan = await explain(db, *query_points[densest], radius)
        print(
            "\nEXPLAIN (ANALYZE, BUFFERS) of the query at the full radius, densest point, top line:"
            f"\n  {plan[0]}"
        )
        print("full plan:\n" + "\n".join(f"  {line}" for line in plan))
        if "Seq Scan" in "\n".join(plan) or "ix_customers_geohash" not in "\n".join(plan):
            raise SystemExit("the nearby query does not use ix_customers_geohash")
        await channels.close()
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=20)
        await db.dispose()
        opa.close()
        await databases.drop_all()


def main() -> None:
    parser = arguments(__doc__, customers=1_000_000, points=1_000)
    parser.add_argument("--radius", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(run(args.customers, args.points, args.radius, args.seed))


if __name__ == "__main__":
    main()
