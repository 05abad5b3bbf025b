"""Check-in verification end to end, with 1 000 000 customers and 1 000 000 stored photo hashes.

Full profile as deployed: PostgreSQL (a database per service), an OPA server,
SeaweedFS as the S3 server, attendance and customers each in its own process.
Every measured check-in names one freshly uploaded photo, so its verification
does all the work: the policy decision, reading and hashing the photo from S3,
the nearest-customer lookup over gRPC, the photo-hash lookup, the writes and
the on-write detectors. Printed next to it: the bare nearest-customer query.

    uv run python -m benchmarks.check_in_verification [--customers 1000000] [--photos 1000000] [--rounds 300]
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert

from benchmarks.deployment import Person, deployment, seed_directory, vacuum_analyze
from benchmarks.nearby_customers import near_city
from benchmarks.nearby_customers import seed as seed_customers
from benchmarks.support import HEADER, arguments, summary
from salesguard import geo
from salesguard.db import Database, new_id
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.attendance.v1 import directory_pb2, visits_pb2, visits_pb2_grpc
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import lookups_pb2, lookups_pb2_grpc
from salesguard_attendance.models import CheckIn, CheckInPhoto
from salesguard_attendance.photos import hash_bands, to_signed_64
from tests.photos import jpeg, scene

BATCH = 10_000
PHOTOS_PER_CHECK_IN = 4


async def seed_photo_hashes(url: str, count: int, rng: random.Random) -> None:
    """Earlier check-ins with random photo hashes, set-based, four photos per check-in."""
    db = Database(url)
    start = datetime.now(UTC) - timedelta(days=365)
    async with db.transaction() as session:
        for offset in range(0, count, BATCH):
            check_ins: list[dict[str, Any]] = []
            photos: list[dict[str, Any]] = []
            for number in range(offset, min(count, offset + BATCH), PHOTOS_PER_CHECK_IN):
                lat, lng = near_city(rng)
                at = start + timedelta(seconds=30 * number)
                check_in_id = new_id()
                check_ins.append(
                    {
                        "id": check_in_id,
                        "employee_id": f"history-{number % 2000}",
                        "team_id": "bench-team",
                        "branch_id": "bench",
                        "at": at,
                        "local_day": at.date(),
                        "lat": lat,
                        "lng": lng,
                        "geohash": geo.encode(lat, lng),
                        "accuracy_m": 10.0,
                        "device_id": "seed",
                        "mock_location": False,
                        "has_photo": True,
                        "verdict": "VERIFIED",
                        "reasons": [],
                        "reason_codes": " ",
                        "note": "",
                        "recorded_at": at,
                    }
                )
                for _ in range(PHOTOS_PER_CHECK_IN):
                    perceptual = rng.getrandbits(64)
                    bands = hash_bands(perceptual)
                    photos.append(
                        {
                            "id": new_id(),
                            "check_in_id": check_in_id,
                            "employee_id": check_ins[-1]["employee_id"],
                            "key": f"photos/seed/{new_id()}.jpg",
                            "version_id": None,
                            "content_type": "image/jpeg",
                            "size_bytes": 150_000,
                            "sha256": hashlib.sha256(rng.randbytes(16)).hexdigest(),
                            "perceptual_hash": to_signed_64(perceptual),
                            "band_0": bands[0],
                            "band_1": bands[1],
                            "band_2": bands[2],
                            "band_3": bands[3],
                            "recorded_at": at,
                        }
                    )
            await session.execute(insert(CheckIn), check_ins)
            await session.execute(insert(CheckInPhoto), photos)
    await vacuum_analyze(db, "check_ins", "check_in_photos")
    await db.dispose()


async def run(customer_count: int, photo_count: int, rounds: int) -> None:
    rng = random.Random(20261126)
    async with deployment(
        ("customers", "attendance"), gateway=False, grpc_timeout=30, object_store=True
    ) as deployed:
        started = time.perf_counter()
        await seed_customers(Database(deployed.database_urls["customers"]), customer_count, rng)
        await seed_photo_hashes(deployed.database_urls["attendance"], photo_count, rng)
        print(
            f"seeded {customer_count} customers and {photo_count} photo hashes in {time.perf_counter() - started:.0f} s"
        )

        channels = deployed.channels
        await seed_directory(
            channels,
            "bench",
            [Person("rep-bench", directory_pb2.ROLE_SALES_JUNIOR, "bench-team")],
            teams=["bench-team"],
            headquarters=False,
        )
        rep = Principal("rep-bench", ("SALES_JUNIOR",), "bench-team", "bench")
        visits = visits_pb2_grpc.VisitsServiceStub(channels.channel("attendance"))
        lookups = lookups_pb2_grpc.CustomerLookupServiceStub(channels.channel("customers"))

        # One fresh photo per measured check-in, uploaded beforehand as the app would.
        now = datetime.now(UTC)
        points = [near_city(rng) for _ in range(rounds + 20)]
        keys = []
        async with httpx.AsyncClient() as http:
            for index, point in enumerate(points):
                data = jpeg(
                    scene(10_000 + index), gps=point, taken_at=now - timedelta(minutes=index)
                )
                with acting_as(rep):
                    upload = await visits.CreatePhotoUpload(
                        visits_pb2.CreatePhotoUploadRequest(
                            content_type="image/jpeg", size_bytes=len(data)
                        )
                    )
                (
                    await http.put(
                        upload.upload_url, content=data, headers=dict(upload.upload_headers)
                    )
                ).raise_for_status()
                keys.append(upload.key)

        async def check_in(index: int) -> float:
            lat, lng = points[index]
            request = visits_pb2.CheckInRequest(
                at=to_timestamp(now - timedelta(minutes=len(points) - index)),
                location=common_pb2.GeoPoint(lat=lat, lng=lng),
                accuracy_m=12,
                device_id="bench-phone",
                photo_keys=[keys[index]],
            )
            started = time.perf_counter()
            with acting_as(rep):
                await visits.CheckIn(request)
            return (time.perf_counter() - started) * 1000

        async def nearby(index: int) -> float:
            lat, lng = points[index]
            started = time.perf_counter()
            with acting_as(Principal.system("benchmark")):
                await lookups.FindNearbyCustomers(
                    lookups_pb2.FindNearbyCustomersRequest(
                        location=common_pb2.GeoPoint(lat=lat, lng=lng), radius_m=300, limit=5
                    )
                )
            return (time.perf_counter() - started) * 1000

        for index in range(20):  # warm-up: connections, caches
            await check_in(index)
        verification, bare = [], []
        for index in range(20, len(points)):
            verification.append(await check_in(index))
            bare.append(await nearby(index))
        print(
            f"\ncheck-in verification over gRPC, {customer_count} customers, {photo_count} photo hashes, {rounds} check-ins"
        )
        print(HEADER)
        print(summary("CheckIn (one photo), end to end", verification))
        print(summary("FindNearbyCustomers alone (300 m)", bare))


def main() -> None:
    parser = arguments(__doc__, customers=1_000_000, photos=1_000_000, rounds=300)
    args = parser.parse_args()
    asyncio.run(run(args.customers, args.photos, args.rounds))


if __name__ == "__main__":
    main()
