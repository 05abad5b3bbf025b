"""System lookups of the customers service (A3, A6): nearby customers, phone matches, follow-up marks.

Other services call these as themselves (SYSTEM) over gRPC; a person never may,
and the answers carry IDs, owners and distances, never names or contact data.
Every test works around its own random point, so tests sharing the suite's
database never see each other's customers.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor
from sqlalchemy import Float, String, column, event, insert, select, table, update

from salesguard import geo, migrations
from salesguard.crypto import BlindIndex
from salesguard.db import UtcDateTime, new_id
from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.phones import PHONE_INDEX_KIND, normalise_phone
from salesguard.principal import Principal, acting_as
from salesguard.timeutil import to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import customers_pb2, lookups_pb2_grpc
from salesguard_api.customers.v1 import lookups_pb2 as pb
from salesguard_customers.models import Customer
from salesguard_customers.rules.duplicates import company_key
from salesguard_customers.server import service as customers_app
from tests.harness import Suite, service_id, unique
from tests.org import Org, make_org, new_phone, register
from tests.support.databases import empty_database
from tests.support.servers import PostgresDatabases

SYSTEM = Principal.system("attendance")
FOLLOW_UP = """
mutation($input: RecordFollowUpInput!) { recordFollowUp(input: $input) { followUp { id } } }
"""
CONTACT_AND_NAME_FIELDS = {"name", "company", "phone", "email", "address"}


class Lookups:
    """The lookup stub on a channel signed with the customers service's internal secret."""

    def __init__(self, suite: Suite) -> None:
        running = suite.running["customers"]
        self.channels = ServiceChannels(
            {"customers": running.address}, running.runtime.internal_secret, 10
        )
        self.stub = lookups_pb2_grpc.CustomerLookupServiceStub(self.channels.channel("customers"))

    async def nearby(
        self,
        lat: float,
        lng: float,
        radius_m: float = 300,
        *,
        limit: int = 0,
        customer_ids: list[str] | None = None,
        as_: Principal = SYSTEM,
    ) -> pb.FindNearbyCustomersResponse:
        with acting_as(as_):
            return await self.stub.FindNearbyCustomers(
                pb.FindNearbyCustomersRequest(
                    location=common_pb2.GeoPoint(lat=lat, lng=lng),
                    radius_m=radius_m,
                    limit=limit,
                    customer_ids=customer_ids or [],
                )
            )

    async def match(
        self, indexes: list[str], *, as_: Principal = SYSTEM
    ) -> pb.MatchPhoneIndexesResponse:
        with acting_as(as_):
            return await self.stub.MatchPhoneIndexes(
                pb.MatchPhoneIndexesRequest(phone_indexes=indexes)
            )

    async def marks(
        self, employee_ids: list[str], start: datetime, end: datetime, *, as_: Principal = SYSTEM
    ) -> pb.ListFollowUpMarksResponse:
        request = pb.ListFollowUpMarksRequest(employee_ids=employee_ids, to=to_timestamp(end))
        getattr(request, "from").CopyFrom(to_timestamp(start))
        with acting_as(as_):
            return await self.stub.ListFollowUpMarks(request)

    async def similar(
        self, customer_ids: list[str], *, as_: Principal = SYSTEM
    ) -> pb.FindSimilarCustomersResponse:
        with acting_as(as_):
            return await self.stub.FindSimilarCustomers(
                pb.FindSimilarCustomersRequest(customer_ids=customer_ids)
            )

    async def sources(self, customer_ids: list[str], *, as_: Principal = SYSTEM) -> dict[str, str]:
        """GetRegisteredSources as {customer ID: source name}, in the order answered."""
        with acting_as(as_):
            response = await self.stub.GetRegisteredSources(
                pb.GetRegisteredSourcesRequest(customer_ids=customer_ids)
            )
        names = [customers_pb2.SourceChannel.Name(source) for source in response.sources]
        return dict(zip(response.customer_ids, names, strict=True))


@pytest.fixture
async def lookups(suite: Suite) -> AsyncIterator[Lookups]:
    client = Lookups(suite)
    yield client
    await client.channels.close()


def somewhere() -> tuple[float, float]:
    """A random point in eastern China, away from every other test's points."""
    return random.uniform(22.0, 40.0), random.uniform(102.0, 121.0)


def north(lat: float, lng: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` due north (south when negative): along a meridian, exactly that far."""
    return lat + math.degrees(metres / geo.EARTH_RADIUS_M), lng


def east(lat: float, lng: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` away along the great circle heading due east."""
    delta = metres / geo.EARTH_RADIUS_M
    phi, lam = math.radians(lat), math.radians(lng)
    phi2 = math.asin(math.sin(phi) * math.cos(delta))
    lam2 = lam + math.atan2(math.sin(delta) * math.cos(phi), math.cos(delta) - math.sin(phi) ** 2)
    return math.degrees(phi2), math.degrees(lam2)


async def located(suite: Suite, owner: str, point: tuple[float, float]) -> dict[str, Any]:
    return await register(suite, owner, location={"lat": point[0], "lng": point[1]})


def manager(org: Org) -> Principal:
    return Principal(org.manager, ("MANAGER",), branch_id=org.branch)


async def test_only_customers_within_the_radius_are_found(suite: Suite, lookups: Lookups) -> None:
    org = await make_org(suite)
    lat, lng = somewhere()
    inside = await located(suite, org.junior, north(lat, lng, 299))
    outside = await located(suite, org.junior, north(lat, lng, -301))
    found = await lookups.nearby(lat, lng, 300)
    assert [c.customer_id for c in found.nearby] == [service_id(inside["id"])]
    [hit] = found.nearby
    assert hit.owner_id == org.junior
    assert hit.branch_id == org.branch
    assert hit.distance_m == pytest.approx(299, abs=0.01)
    wider = await lookups.nearby(lat, lng, 302)
    assert [c.customer_id for c in wider.nearby] == [
        service_id(inside["id"]),
        service_id(outside["id"]),
    ]
    assert wider.nearby[1].distance_m == pytest.approx(301, abs=0.01)


async def test_the_nearest_come_first_up_to_the_limit(suite: Suite, lookups: Lookups) -> None:
    org = await make_org(suite)
    lat, lng = somewhere()
    # Registered out of order, in four directions.
    far = await located(suite, org.junior, east(lat, lng, -250))
    nearest = await located(suite, org.junior_mate, east(lat, lng, 40))
    middle = await located(suite, org.junior, north(lat, lng, -120))
    second = await located(suite, org.junior_b, north(lat, lng, 80))
    everyone = await lookups.nearby(lat, lng, 300)
    assert [c.customer_id for c in everyone.nearby] == [
        service_id(nearest["id"]),
        service_id(second["id"]),
        service_id(middle["id"]),
        service_id(far["id"]),
    ]
    distances = [c.distance_m for c in everyone.nearby]
    assert distances == pytest.approx([40, 80, 120, 250], abs=0.01)
    limited = await lookups.nearby(lat, lng, 300, limit=2)
    assert [c.customer_id for c in limited.nearby] == [
        service_id(nearest["id"]),
        service_id(second["id"]),
    ]


async def test_a_customer_across_a_cell_edge_is_found(suite: Suite, lookups: Lookups) -> None:
    org = await make_org(suite)
    lat, lng = somewhere()

    async def found_across(
        here: tuple[float, float], there: tuple[float, float], radius: float
    ) -> pb.FindNearbyCustomersResponse:
        """A customer at ``there``, in no cell of ``here``'s, is found from ``here``."""
        assert geo.encode(*here)[:3] != geo.encode(*there)[:3]
        across = await located(suite, org.junior, there)
        found = await lookups.nearby(*here, radius)
        assert [c.customer_id for c in found.nearby] == [service_id(across["id"])]
        return found

    # The north edge of the point's precision-3 cell (about 156 km high) is also an
    # edge of every finer cell along it: the two points below share no cell from
    # precision 3 on, so their stored hashes differ from the third character.
    _, _, edge, _ = geo.bounds(geo.encode(lat, lng, 3))
    found = await found_across(north(edge, lng, -60), north(edge, lng, 60), 300)
    assert found.nearby[0].distance_m == pytest.approx(120, abs=0.01)
    # And from the other side, east-west as well as north-south.
    _, _, _, east_edge = geo.bounds(geo.encode(lat, lng, 3))
    await found_across(east(lat, east_edge, -30), east(lat, east_edge, 30), 100)


async def test_requested_customers_get_their_distance_however_far(
    suite: Suite, lookups: Lookups
) -> None:
    org = await make_org(suite)
    lat, lng = somewhere()
    near = await located(suite, org.junior, north(lat, lng, 100))
    linked = await located(suite, org.junior, north(lat, lng, 20_000))
    no_location = await register(suite, org.junior)
    found = await lookups.nearby(
        lat,
        lng,
        300,
        customer_ids=[
            service_id(linked["id"]),
            service_id(no_location["id"]),
            "no-such-customer",
            service_id(near["id"]),
        ],
    )
    assert [c.customer_id for c in found.nearby] == [service_id(near["id"])]
    # Every existing customer asked for, in the order asked; -1 for one without a location.
    assert [c.customer_id for c in found.requested] == [
        service_id(linked["id"]),
        service_id(no_location["id"]),
        service_id(near["id"]),
    ]
    assert found.requested[0].distance_m == pytest.approx(20_000, abs=0.1)
    assert found.requested[0].owner_id == org.junior
    assert found.requested[0].branch_id == org.branch
    assert found.requested[1].distance_m == -1
    assert found.requested[2].distance_m == pytest.approx(100, abs=0.01)


async def test_a_moved_customer_is_found_at_the_new_location(
    suite: Suite, lookups: Lookups
) -> None:
    org = await make_org(suite)
    lat, lng = somewhere()
    customer = await located(suite, org.junior, north(lat, lng, 5_000))
    assert (await lookups.nearby(lat, lng, 300)).nearby == []
    moved = await suite.gql(
        "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { id } } }",
        {"input": {"id": customer["id"], "location": {"lat": lat, "lng": lng}}},
        as_=org.junior,
    )
    moved.ok()
    [found] = (await lookups.nearby(lat, lng, 300)).nearby
    assert found.customer_id == service_id(customer["id"])
    assert found.distance_m == pytest.approx(0, abs=0.01)


async def test_people_may_not_use_the_lookups(suite: Suite, lookups: Lookups) -> None:
    org = await make_org(suite)
    lat, lng = somewhere()
    await located(suite, org.manager, north(lat, lng, 10))
    now = datetime.now(UTC)

    def every_lookup(person: Principal) -> dict[str, Callable[[], Awaitable[Any]]]:
        return {
            "FindNearbyCustomers": lambda: lookups.nearby(lat, lng, 300, as_=person),
            "MatchPhoneIndexes": lambda: lookups.match(["0" * 64], as_=person),
            "ListFollowUpMarks": lambda: lookups.marks(
                [org.junior], now - timedelta(days=1), now, as_=person
            ),
            "GetRegisteredSources": lambda: lookups.sources(["c-1"], as_=person),
            "FindSimilarCustomers": lambda: lookups.similar(["c-1"], as_=person),
        }

    for person in (
        manager(org),
        Principal(org.hr, ("HR",), branch_id=org.hq),
        Principal(org.manager, ("FINANCE",), branch_id=org.hq, hq=True),
        Principal(org.junior, ("SALES_JUNIOR",), team_id=org.team_a, branch_id=org.branch),
    ):
        for rpc, call in every_lookup(person).items():
            with pytest.raises(ServiceError) as refused:
                await call()
            assert refused.value.code is ErrorCode.FORBIDDEN, (rpc, person)
    # The same calls as a service are answered.
    for call in every_lookup(SYSTEM).values():
        await call()


def _field_names(descriptor: Descriptor) -> set[str]:
    """Every field name of a message and of the messages it holds, recursively."""
    names = set()
    for field in descriptor.fields:
        names.add(field.name)
        if field.message_type is not None and field.message_type.full_name.startswith(
            "salesguard."
        ):
            names |= _field_names(field.message_type)
    return names


def test_the_answers_carry_no_name_or_contact_field() -> None:
    assert {f.name for f in pb.NearbyCustomer.DESCRIPTOR.fields} == {
        "customer_id",
        "owner_id",
        "branch_id",
        "distance_m",
    }
    assert {f.name for f in pb.PhoneMatch.DESCRIPTOR.fields} == {
        "phone_index",
        "customer_id",
        "owner_id",
    }
    assert {f.name for f in pb.FollowUpMark.DESCRIPTOR.fields} == {
        "employee_id",
        "customer_id",
        "at",
    }
    assert {f.name for f in pb.GetRegisteredSourcesResponse.DESCRIPTOR.fields} == {
        "customer_ids",
        "sources",
    }
    for response in (
        pb.FindNearbyCustomersResponse,
        pb.MatchPhoneIndexesResponse,
        pb.ListFollowUpMarksResponse,
        pb.GetRegisteredSourcesResponse,
        pb.FindSimilarCustomersResponse,
    ):
        assert not _field_names(response.DESCRIPTOR) & CONTACT_AND_NAME_FIELDS, response


async def test_similar_customers_are_the_records_similar_customer_would_match(
    suite: Suite, lookups: Lookups
) -> None:
    """What the diversion job asks (O6 with C3): each customer's owner now and since when,
    and other owners' active records of the same company within the radius, nearest first."""
    org = await make_org(suite)
    point = somewhere()
    company = unique("Ningbo Haitian Trading")
    shop = await register(suite, org.junior, company=f"{company} Co., Ltd.", location=at(point))
    near = await register(
        suite, org.junior_b, company=company.upper(), location=at(east(*point, 30))
    )
    nearer = await register(suite, org.junior_mate, company=company, location=at(north(*point, 10)))
    # Not similar: the owner's own second record, another company, too far.
    await register(suite, org.junior, company=company, location=at(north(*point, 20)))
    await register(suite, org.senior, company=unique("Other"), location=at(east(*point, 5)))
    await register(suite, org.senior, company=company, location=at(east(*point, 400)))
    unknown = new_id()

    answered = await lookups.similar([service_id(shop["id"]), unknown])
    assert [entry.customer_id for entry in answered.customers] == [service_id(shop["id"])]
    entry = answered.customers[0]
    assert entry.owner_id == org.junior
    since = entry.owned_since.ToDatetime(tzinfo=UTC)
    assert datetime.now(UTC) - timedelta(minutes=5) < since <= datetime.now(UTC)
    assert [(other.customer_id, other.code, other.owner_id) for other in entry.similar] == [
        (service_id(nearer["id"]), nearer["code"], org.junior_mate),
        (service_id(near["id"]), near["code"], org.junior_b),
    ]
    assert 25 <= entry.similar[1].distance_m <= 35
    assert (await lookups.similar([])).customers == []


def at(point: tuple[float, float]) -> dict[str, float]:
    return {"lat": point[0], "lng": point[1]}


async def test_registered_sources_answer_each_known_customer_in_the_order_asked(
    suite: Suite, lookups: Lookups
) -> None:
    """What a commission run asks (M3): the registered source of many customers at once,
    the same as the registry's record; unknown IDs are left out, repeated ones answered once."""
    org = await make_org(suite)
    personal = service_id((await register(suite, org.manager, source="PERSONAL"))["id"])
    website = service_id((await register(suite, org.manager, source="WEBSITE"))["id"])
    unknown = new_id()
    answered = await lookups.sources([website, unknown, personal, website])
    assert list(answered.items()) == [
        (website, "SOURCE_CHANNEL_WEBSITE"),
        (personal, "SOURCE_CHANNEL_PERSONAL"),
    ]
    with acting_as(SYSTEM):
        facts = await lookups.stub.GetCustomerFacts(
            pb.GetCustomerFactsRequest(customer_ids=[website, personal])
        )
    assert {f.customer_id: customers_pb2.SourceChannel.Name(f.source) for f in facts.customers} == (
        answered
    )
    assert await lookups.sources([]) == {}
    assert await lookups.sources([unknown]) == {}


async def test_a_number_typed_differently_matches_its_customers(
    suite: Suite, lookups: Lookups
) -> None:
    org = await make_org(suite)
    typed_at_registration = new_phone()  # "+86 138 1234 5678"
    customer = await register(suite, org.junior, phone=typed_at_registration)
    national = typed_at_registration.removeprefix("+86 ").replace(" ", "-")  # "138-1234-5678"
    settings = suite.running["customers"].runtime.settings
    index = BlindIndex(settings.blind_index_key_bytes).digest(
        PHONE_INDEX_KIND, normalise_phone(national, "CN")
    )
    unknown = BlindIndex(settings.blind_index_key_bytes).digest(
        PHONE_INDEX_KIND, normalise_phone(new_phone(), "CN")
    )
    found = await lookups.match([index, unknown])
    assert [(m.phone_index, m.customer_id, m.owner_id) for m in found.matches] == [
        (index, service_id(customer["id"]), org.junior)
    ]
    # A shared number (a switchboard, C12) matches every customer that has it.
    other = await register(suite, org.junior_mate)
    async with suite.running["customers"].runtime.db.transaction() as session:
        await session.execute(
            update(Customer).where(Customer.id == service_id(other["id"])).values(phone_index=index)
        )
    shared = await lookups.match([index])
    assert {(m.customer_id, m.owner_id) for m in shared.matches} == {
        (service_id(customer["id"]), org.junior),
        (service_id(other["id"]), org.junior_mate),
    }
    assert {m.phone_index for m in shared.matches} == {index}
    assert (await lookups.match([])).matches == []


async def test_follow_up_marks_tell_who_followed_up_whom_when(
    suite: Suite, lookups: Lookups
) -> None:
    org = await make_org(suite)
    customer = await register(suite, org.junior)
    at = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    values = {"customerId": customer["id"], "kind": "CALL", "at": at.isoformat()}
    (await suite.gql(FOLLOW_UP, {"input": values}, as_=org.junior)).ok()
    now = datetime.now(UTC)
    found = await lookups.marks([org.junior, org.junior_mate], now - timedelta(days=1), now)
    assert [(m.employee_id, m.customer_id, m.at.ToDatetime(tzinfo=UTC)) for m in found.marks] == [
        (org.junior, service_id(customer["id"]), at)
    ]
    # The range is half-open: [from, to).
    assert (await lookups.marks([org.junior], now - timedelta(days=1), at)).marks == []
    assert len((await lookups.marks([org.junior], at, now)).marks) == 1
    assert (await lookups.marks([org.junior_mate], now - timedelta(days=1), now)).marks == []


@pytest.mark.parametrize(
    ("case", "values"),
    [
        ("radius 0", {"radius_m": 0}),
        ("radius 10 km", {"radius_m": 10_000}),
        ("negative radius", {"radius_m": -5}),
        ("lat 91", {"lat": 91.0}),
        ("lng 181", {"lng": 181.0}),
        ("limit 51", {"limit": 51}),
        ("51 customer IDs", {"customer_ids": [unique("c") for _ in range(51)]}),
    ],
)
async def test_bad_nearby_input_is_refused(
    lookups: Lookups, case: str, values: dict[str, Any]
) -> None:
    lat, lng = somewhere()
    arguments: dict[str, Any] = {"lat": lat, "lng": lng, "radius_m": 300, **values}
    with pytest.raises(ServiceError) as refused:
        await lookups.nearby(
            arguments.pop("lat"), arguments.pop("lng"), arguments.pop("radius_m"), **arguments
        )
    assert refused.value.code is ErrorCode.VALIDATION, case


async def test_bad_phone_and_mark_input_is_refused(lookups: Lookups) -> None:
    with acting_as(SYSTEM), pytest.raises(ServiceError) as no_location:
        await lookups.stub.FindNearbyCustomers(pb.FindNearbyCustomersRequest(radius_m=300))
    assert no_location.value.code is ErrorCode.VALIDATION
    assert no_location.value.field == "location"
    now = datetime.now(UTC)
    bad_calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "not an index": lambda: lookups.match(["+8613800138000"]),
        "1001 indexes": lambda: lookups.match([f"{i:064x}" for i in range(1001)]),
        "501 employees": lambda: lookups.marks(
            [f"e-{i}" for i in range(501)], now - timedelta(days=1), now
        ),
        "93 days": lambda: lookups.marks(["e-1"], now - timedelta(days=93), now),
        "to before from": lambda: lookups.marks(["e-1"], now, now - timedelta(hours=1)),
        "5001 customers": lambda: lookups.sources([f"c-{i}" for i in range(5001)]),
        "a blank customer": lambda: lookups.sources(["c-1", ""]),
    }
    for case, call in bad_calls.items():
        with pytest.raises(ServiceError) as refused:
            await call()
        assert refused.value.code is ErrorCode.VALIDATION, case


# The required columns of the customers table as revision 0001 created it.
TEXT_COLUMNS_0001 = (
    "id",
    "name",
    "company",
    "identity_key",
    "source",
    "source_detail",
    "status",
    "registered_by",
)
TIME_COLUMNS_0001 = ("first_contact_at", "registered_at", "updated_at")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_migration_gives_existing_customers_their_geohash(
    backend: str, tmp_path: Path, postgres: PostgresDatabases
) -> None:
    async with empty_database(backend, tmp_path, postgres, "customers") as db:
        await migrations.upgrade(db.engine, customers_app.migrations_dir, "0001")
        # The customers table as revision 0001 left it: no geohash column yet.
        customers = table(
            "customers",
            *(column(name, String()) for name in TEXT_COLUMNS_0001),
            column("lat", Float()),
            column("lng", Float()),
            *(column(name, UtcDateTime()) for name in TIME_COLUMNS_0001),
        )
        now = datetime.now(UTC)
        # More rows than one backfill batch; every seventh has no location.
        points = [None if n % 7 == 0 else somewhere() for n in range(5_500)]
        async with db.transaction() as session:
            await session.execute(
                insert(customers),
                [
                    {
                        "id": new_id(),
                        "name": f"Customer {n}",
                        "company": "",
                        "identity_key": f"customer {n}|",
                        "lat": point[0] if point else None,
                        "lng": point[1] if point else None,
                        "source": "WEBSITE",
                        "source_detail": "",
                        "status": "ACTIVE",
                        "first_contact_at": now,
                        "registered_at": now,
                        "registered_by": "e-1",
                        "updated_at": now,
                    }
                    for n, point in enumerate(points)
                ],
            )
        await migrations.upgrade(db.engine, customers_app.migrations_dir)
        async with db.read() as session:
            rows = (
                await session.execute(select(Customer.lat, Customer.lng, Customer.geohash))
            ).all()
        assert len(rows) == len(points)
        for lat, lng, geohash in rows:
            if lat is None:
                assert geohash is None
            else:
                assert geohash == geo.encode(lat, lng, geo.STORED_PRECISION)


async def test_similar_customers_of_many_records_are_what_the_rule_says_of_each(
    suite: Suite, lookups: Lookups
) -> None:
    """The diversion job asks for up to 1,000 customers at once; they are read one query
    per 100, not one each, and each answer is C3 applied to every customer there is:
    another owner's active record of the same company key within 100 m (the policy's
    radius), nearest first. Checked against that rule computed here over all the records
    registered, in clusters where companies, owners and distances mix."""
    org = await make_org(suite)
    reps = [org.junior, org.junior_b, org.junior_mate, org.senior]
    registered: list[tuple[dict[str, Any], str, str, tuple[float, float]]] = []
    for _ in range(5):
        centre = somewhere()
        companies = [unique("Changzhou Cluster Hardware"), unique("Changzhou Cluster Foods")]
        for index in range(9):
            owner = reps[index % len(reps)]
            company = companies[index % 2]
            spelled = random.choice([company, f"{company} Co., Ltd.", company.upper()])
            point = east(*north(*centre, random.uniform(-90, 90)), random.uniform(-90, 90))
            customer = await register(suite, owner, company=spelled, location=at(point))
            registered.append((customer, owner, spelled, point))

    def expected(index: int) -> list[tuple[str, str]]:
        _, owner, company, point = registered[index]
        key = company_key(company)
        matches = []
        for other, other_owner, other_company, other_point in registered:
            distance = geo.haversine_m(*point, *other_point)
            if other_owner != owner and company_key(other_company) == key and distance <= 100:
                matches.append((distance, other["code"], service_id(other["id"])))
        return [(code, customer_id) for _, code, customer_id in sorted(matches)]

    ids = [service_id(customer["id"]) for customer, *_ in registered]
    statements: list[str] = []

    def count(*arguments: Any) -> None:
        statements.append(arguments[2])

    engine = suite.running["customers"].runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        answered = await lookups.similar([*ids, new_id()])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [entry.customer_id for entry in answered.customers] == ids
    for index, entry in enumerate(answered.customers):
        assert [(other.code, other.customer_id) for other in entry.similar] == expected(index)
    assert sum(len(entry.similar) for entry in answered.customers) > 10  # the clusters mix
    # The facts, then the neighbourhoods of all 45 in one statement: not one per customer.
    assert len([s for s in statements if "FROM customers" in s]) == 2, statements
