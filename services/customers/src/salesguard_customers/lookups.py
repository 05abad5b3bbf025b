"""Lookups other services make as themselves (SYSTEM): customers near a point, phone
matches, follow-up marks, customer facts and registered sources.

They answer with IDs, owners, branches, distances and times, never with names or
contact data, and only to a SYSTEM principal: every call asks the policy engine
once and is refused for anyone else. Every query is an index lookup, never a scan:

- near a point: the geohash cells covering the circle become index range scans
  on ``ix_customers_geohash (geohash, lat, lng)``, which also checks the
  latitude/longitude box around the circle; the exact haversine distance then
  keeps the customers within the radius, nearest first. A small circle is
  searched first and a wider one only while it holds fewer than ``limit``;
- phone matches: one ``IN`` on the blind index of the E.164 number;
- follow-up marks: one range on ``follow_ups (employee_id, at)``;
- facts and registered sources: one ``IN`` on the primary key (sources read two
  columns only: a commission run asks them for every customer of a month);
- similar customers (what ``SIMILAR_CUSTOMER`` matches, for the diversion job): one ``IN`` on the
  primary key, then one query per 100 of them: the geohash cells and box around each
  one's location, OR-ed (:func:`similar_nearby_many`, the registrar's own query).

One lookup is asked as the person acting instead: ``GetOrderableCustomer`` (SPEC §2,
a rep submits orders only for customers they may read) answers with the facts of a
customer inside the caller's ``customers.order`` scope and NOT_FOUND otherwise.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, String, and_, any_, bindparam, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import geo, validation
from salesguard.batching import chunks
from salesguard.db import Database
from salesguard.errors import InvalidInput
from salesguard.policy import Decision, PolicyClient, scope_filter
from salesguard.principal import current_principal
from salesguard.reads import one_by_id
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard.validation import name_key
from salesguard_api.customers.v1 import customers_pb2
from salesguard_api.customers.v1 import lookups_pb2 as pb
from salesguard_customers.models import Customer, FollowUp, format_code
from salesguard_customers.registry import SCOPE
from salesguard_customers.rules import duplicates as duplicate_rules
from salesguard_customers.settings import CustomersSettings

NEARBY_ACTION = "customers.nearby"
MATCH_PHONES_ACTION = "customers.match_phones"
FOLLOW_UP_MARKS_ACTION = "customers.follow_ups.marks"
FACTS_ACTION = "customers.facts"
# Whom a person may submit an order for: never wider than customers.read (policy tests).
ORDER_ACTION = "customers.order"
MAX_FACTS_IDS = 1000
MAX_SOURCES_IDS = 5000
MAX_SIMILAR_IDS = 1000

# Limits of the contract (lookups.proto).
MAX_RADIUS_M = 5000.0
DEFAULT_NEARBY_LIMIT = 10
MAX_NEARBY_LIMIT = 50
MAX_REQUESTED_IDS = 50
MAX_PHONE_INDEXES = 1000
MAX_MARK_EMPLOYEES = 500
MAX_MARK_RANGE = timedelta(days=92)
# The longest ID the suite has (an employee's); a lookup names customers and employees.
MAX_ID_LENGTH = validation.DIRECTORY_ID_LENGTH

# A blind index is the hex HMAC-SHA256 of the number (salesguard.crypto.BlindIndex).
_PHONE_INDEX = re.compile(r"^[0-9a-f]{64}$")
# Widens the latitude/longitude box around the circle, so rounding never drops
# a customer the haversine distance would keep.
_BOX_MARGIN = 1.01


@dataclass(frozen=True)
class NearbyQuery:
    """A FindNearbyCustomers request, validated."""

    lat: float
    lng: float
    radius_m: float
    limit: int
    customer_ids: list[str]


@dataclass(frozen=True)
class Located:
    """A customer as the lookups see it: no name, no contact field."""

    customer_id: str
    owner_id: str | None
    branch_id: str | None
    lat: float | None
    lng: float | None

    def distance_from(self, lat: float, lng: float) -> pb.NearbyCustomer:
        """With its distance from the point, or -1 when it has no registered location."""
        if self.lat is None or self.lng is None:
            return self.at_distance(-1.0)
        return self.at_distance(geo.haversine_m(lat, lng, self.lat, self.lng))

    def at_distance(self, distance_m: float) -> pb.NearbyCustomer:
        return pb.NearbyCustomer(
            customer_id=self.customer_id,
            owner_id=self.owner_id or "",
            branch_id=self.branch_id or "",
            distance_m=distance_m,
        )


LocatedRow = tuple[str, str | None, str | None, float | None, float | None]
# The only columns a lookup reads from a customer row.
_LOCATED_COLUMNS = (
    Customer.id,
    Customer.owner_id,
    Customer.branch_id,
    Customer.lat,
    Customer.lng,
)


def _distinct(field: str, values: Any, maximum: int) -> list[str]:
    """Distinct values in the order given; at most ``maximum``."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) > maximum:
        raise InvalidInput(field, f"at most {maximum} {field} per call")
    return distinct


def _ids(field: str, values: Any, maximum: int) -> list[str]:
    """Distinct IDs in the order given; at most ``maximum``, none blank or overlong."""
    ids = _distinct(field, values, maximum)
    for value in ids:
        if not value or len(value) > MAX_ID_LENGTH:
            raise InvalidInput(field, f"{field} holds a blank or overlong ID")
    return ids


def validate_nearby(request: pb.FindNearbyCustomersRequest) -> NearbyQuery:
    if not request.HasField("location"):
        raise InvalidInput("location", "location is required")
    lat, lng = validation.geo_point("location", request.location)
    radius = request.radius_m
    if not math.isfinite(radius) or radius <= 0 or radius > MAX_RADIUS_M:
        raise InvalidInput("radius_m", f"radius_m must be above 0 and at most {MAX_RADIUS_M:.0f}")
    if request.limit < 0 or request.limit > MAX_NEARBY_LIMIT:
        raise InvalidInput("limit", f"limit must be between 1 and {MAX_NEARBY_LIMIT}")
    return NearbyQuery(
        lat=lat,
        lng=lng,
        radius_m=radius,
        limit=request.limit or DEFAULT_NEARBY_LIMIT,
        customer_ids=_ids("customer_ids", request.customer_ids, MAX_REQUESTED_IDS),
    )


def within_cells(lat: float, lng: float, radius_m: float) -> ColumnElement[bool]:
    """Stored geohashes in the cells covering the circle: one index range per cell, OR-ed."""
    ranges = [
        and_(Customer.geohash >= low, Customer.geohash < high)
        if high is not None
        else Customer.geohash >= low
        for low, high in geo.prefix_ranges(geo.covering_cells(lat, lng, radius_m))
    ]
    return or_(*ranges)


def within_box(lat: float, lng: float, radius_m: float) -> list[ColumnElement[bool]]:
    """The latitude/longitude box around the circle, checked in the index before any row is
    read; no box across a pole or the antimeridian (the cells alone still bound it)."""
    d_lat = math.degrees(radius_m / geo.EARTH_RADIUS_M) * _BOX_MARGIN
    south, north = lat - d_lat, lat + d_lat
    if south <= -90.0 or north >= 90.0:
        return []
    conditions: list[ColumnElement[bool]] = [Customer.lat.between(south, north)]
    d_lng = d_lat / math.cos(math.radians(max(abs(south), abs(north))))
    west, east = lng - d_lng, lng + d_lng
    if west >= -180.0 and east <= 180.0:
        conditions.append(Customer.lng.between(west, east))
    return conditions


def nearby_statement(lat: float, lng: float, radius_m: float) -> Select[LocatedRow]:
    """The candidates near a point: active customers in the covering cells and the box."""
    return select(*_LOCATED_COLUMNS).where(
        Customer.status == "ACTIVE",
        within_cells(lat, lng, radius_m),
        *within_box(lat, lng, radius_m),
    )


def _reach_m(lat: float, lng: float, precision: int) -> float:
    """The widest radius the cells of one precision cover here (their smaller side)."""
    south, west, north, east = geo.bounds(geo.encode(lat, lng, precision))
    metres_per_degree = math.pi * geo.EARTH_RADIUS_M / 180
    return min(
        (north - south) * metres_per_degree,
        (east - west) * metres_per_degree * math.cos(math.radians(lat)),
    )


def search_radii(lat: float, lng: float, radius_m: float) -> list[float]:
    """The radii searched in turn: the widest each finer precision covers here, then the radius.

    The nearest ``limit`` customers within a smaller circle are the nearest of all,
    so a search stops at the first circle that holds ``limit`` of them: a dense
    neighbourhood is answered from a few small cells, a sparse one from the few
    rows its wider cells hold.
    """
    steps = {
        reach
        for precision in range(geo.STORED_PRECISION, 0, -1)
        if (reach := _reach_m(lat, lng, precision)) < radius_m
    }
    return [*sorted(steps), radius_m]


async def nearest_customers(session: AsyncSession, query: NearbyQuery) -> list[pb.NearbyCustomer]:
    """The nearest active customers within the radius, nearest first, at most ``limit``."""
    nearest: list[tuple[float, str, Located]] = []
    for radius in search_radii(query.lat, query.lng, query.radius_m):
        rows = await session.execute(nearby_statement(query.lat, query.lng, radius))
        # The statement keeps rows with a location only (their geohash is set).
        measured = (
            (geo.haversine_m(query.lat, query.lng, row.lat, row.lng), row.id, Located(*row))
            for row in rows
        )
        nearest = sorted(
            (entry for entry in measured if entry[0] <= radius),
            key=lambda entry: (entry[0], entry[1]),
        )
        if len(nearest) >= query.limit:
            break
    return [customer.at_distance(distance) for distance, _, customer in nearest[: query.limit]]


@dataclass(frozen=True)
class SimilarQuery:
    """A record whose ``SIMILAR_CUSTOMER`` matches are asked: its ID, company, owner and
    location (None: it has none, and matches nothing)."""

    customer_id: str
    company: str
    owner_id: str | None
    location: tuple[float, float] | None


# Records whose neighbourhoods one statement reads: each adds its cells' index ranges and
# box to the statement's OR (about 20 bind parameters each, far below SQLite's limit).
SIMILAR_PER_STATEMENT = 100


async def similar_nearby(
    session: AsyncSession,
    *,
    customer_id: str,
    company: str,
    owner_id: str | None,
    location: tuple[float, float] | None,
    threshold: duplicate_rules.SimilarThreshold,
) -> list[duplicate_rules.Nearby]:
    """The ``SIMILAR_CUSTOMER`` matches of one record (:func:`similar_nearby_many`)."""
    query = SimilarQuery(customer_id, company, owner_id, location)
    return (await similar_nearby_many(session, [query], threshold))[customer_id]


async def similar_nearby_many(
    session: AsyncSession,
    queries: Sequence[SimilarQuery],
    threshold: duplicate_rules.SimilarThreshold,
) -> dict[str, list[duplicate_rules.Nearby]]:
    """The ``SIMILAR_CUSTOMER`` matches of each record, by ID, decided by
    :func:`.rules.duplicates.similar_customers`: active customers of other owners within the
    radius whose company matches; nearest first. One query per
    :data:`SIMILAR_PER_STATEMENT` records, not one each: the geohash cells and
    latitude/longitude box around every record's location, OR-ed (index range scans on
    ``ix_customers_geohash``); each candidate is then paired only with the records of its
    company key. A record without location or company matches none."""
    found: dict[str, list[duplicate_rules.Nearby]] = {query.customer_id: [] for query in queries}
    radius = threshold.radius_m
    # Each located record with a company key, and its location.
    keyed = [
        (query, key, query.location)
        for query in queries
        if query.location is not None and (key := duplicate_rules.company_key(query.company))
    ]
    for chunk in chunks(keyed, SIMILAR_PER_STATEMENT):
        by_key: dict[str, list[tuple[SimilarQuery, tuple[float, float]]]] = {}
        areas = []
        for query, key, (lat, lng) in chunk:
            by_key.setdefault(key, []).append((query, (lat, lng)))
            areas.append(and_(within_cells(lat, lng, radius), *within_box(lat, lng, radius)))
        rows = await session.execute(
            select(
                Customer.id,
                Customer.number,
                Customer.company,
                Customer.owner_id,
                Customer.lat,
                Customer.lng,
            ).where(Customer.status == "ACTIVE", Customer.owner_id.is_not(None), or_(*areas))
        )
        nearby: dict[str, list[duplicate_rules.Nearby]] = {}
        for row in rows:
            asking = by_key.get(duplicate_rules.company_key(row.company))
            for query, (lat, lng) in asking or ():
                if row.id == query.customer_id or row.owner_id == query.owner_id:
                    continue
                nearby.setdefault(query.customer_id, []).append(
                    duplicate_rules.Nearby(
                        row.id,
                        format_code(row.number),
                        row.company,
                        row.owner_id,
                        geo.haversine_m(lat, lng, row.lat, row.lng),
                    )
                )
        for query, _, _ in chunk:
            found[query.customer_id] = duplicate_rules.similar_customers(
                query.company,
                query.owner_id or "",
                nearby.get(query.customer_id, ()),
                threshold,
            )
    return found


def validate_phone_indexes(request: pb.MatchPhoneIndexesRequest) -> list[str]:
    indexes = _distinct("phone_indexes", request.phone_indexes, MAX_PHONE_INDEXES)
    for index in indexes:
        if not _PHONE_INDEX.match(index):
            raise InvalidInput("phone_indexes", "phone_indexes holds a value that is no index")
    return indexes


def validate_mark_range(request: pb.ListFollowUpMarksRequest) -> tuple[datetime, datetime]:
    start, end = from_timestamp(getattr(request, "from"), "from"), from_timestamp(request.to, "to")
    if start is None:
        raise InvalidInput("from", "from is required")
    if end is None:
        raise InvalidInput("to", "to is required")
    if end <= start:
        raise InvalidInput("to", "to must lie after from")
    if end - start > MAX_MARK_RANGE:
        raise InvalidInput("to", f"the range spans at most {MAX_MARK_RANGE.days} days")
    return start, end


class Lookups:
    def __init__(self, db: Database, policy: PolicyClient, settings: CustomersSettings) -> None:
        self.db = db
        self.policy = policy
        self.settings = settings

    async def _allow(self, action: str) -> Decision:
        """The one decision of a lookup: refused (FORBIDDEN) unless the policy allows it."""
        return (await self.policy.decide(current_principal(), action)).require(action)

    async def _bounded_rows(
        self, statement: Select[Any], field: str, too_many: str
    ) -> Sequence[Row[Any]]:
        """The rows of a lookup, at most ``lookup_max_rows``: more is a VALIDATION error on
        ``field`` (``too_many`` names the limit as ``{limit}``), never a partial answer."""
        limit = self.settings.lookup_max_rows
        async with self.db.read() as session:
            rows = (await session.execute(statement.limit(limit + 1))).all()
        if len(rows) > limit:
            raise InvalidInput(field, too_many.format(limit=limit))
        return rows

    async def find_nearby(
        self, request: pb.FindNearbyCustomersRequest
    ) -> pb.FindNearbyCustomersResponse:
        query = validate_nearby(request)
        await self._allow(NEARBY_ACTION)
        async with self.db.read() as session:
            nearby = await nearest_customers(session, query)
            requested: list[Located] = []
            if query.customer_ids:
                requested = [
                    Located(*row)
                    for row in await session.execute(
                        select(*_LOCATED_COLUMNS).where(Customer.id.in_(query.customer_ids))
                    )
                ]
        by_id = {customer.customer_id: customer for customer in requested}
        return pb.FindNearbyCustomersResponse(
            nearby=nearby,
            requested=[
                by_id[i].distance_from(query.lat, query.lng)
                for i in query.customer_ids
                if i in by_id
            ],
        )

    async def match_phone_indexes(
        self, request: pb.MatchPhoneIndexesRequest
    ) -> pb.MatchPhoneIndexesResponse:
        indexes = validate_phone_indexes(request)
        await self._allow(MATCH_PHONES_ACTION)
        if not indexes:
            return pb.MatchPhoneIndexesResponse()
        rows = await self._bounded_rows(
            select(Customer.phone_index, Customer.id, Customer.owner_id)
            .where(Customer.phone_index.in_(indexes))
            .order_by(Customer.phone_index, Customer.number),
            "phone_indexes",
            "these numbers match more than {limit} customers; ask for fewer",
        )
        return pb.MatchPhoneIndexesResponse(
            matches=[
                pb.PhoneMatch(phone_index=index, customer_id=customer_id, owner_id=owner_id or "")
                for index, customer_id, owner_id in rows
            ]
        )

    async def list_follow_up_marks(
        self, request: pb.ListFollowUpMarksRequest
    ) -> pb.ListFollowUpMarksResponse:
        employee_ids = _ids("employee_ids", request.employee_ids, MAX_MARK_EMPLOYEES)
        start, end = validate_mark_range(request)
        await self._allow(FOLLOW_UP_MARKS_ACTION)
        if not employee_ids:
            return pb.ListFollowUpMarksResponse()
        rows = await self._bounded_rows(
            select(FollowUp.employee_id, FollowUp.customer_id, FollowUp.at)
            .where(
                FollowUp.employee_id.in_(employee_ids),
                FollowUp.at >= start,
                FollowUp.at < end,
            )
            .order_by(FollowUp.employee_id, FollowUp.at, FollowUp.id),
            "to",
            "more than {limit} follow-ups in this range; ask for a shorter one",
        )
        return pb.ListFollowUpMarksResponse(
            marks=[
                pb.FollowUpMark(
                    employee_id=employee_id, customer_id=customer_id, at=to_timestamp(at)
                )
                for employee_id, customer_id, at in rows
            ]
        )

    async def get_customer_facts(
        self, request: pb.GetCustomerFactsRequest
    ) -> pb.GetCustomerFactsResponse:
        """Owner, affiliation, source and registration time of customers; names only as keys."""
        ids = _ids("customer_ids", request.customer_ids, MAX_FACTS_IDS)
        await self._allow(FACTS_ACTION)
        if not ids:
            return pb.GetCustomerFactsResponse()
        async with self.db.read() as session:
            rows = (await session.scalars(select(Customer).where(Customer.id.in_(ids)))).all()
        by_id = {row.id: row for row in rows}
        return pb.GetCustomerFactsResponse(customers=[_facts(by_id[i]) for i in ids if i in by_id])

    async def get_registered_sources(
        self, request: pb.GetRegisteredSourcesRequest
    ) -> pb.GetRegisteredSourcesResponse:
        """The registered source of each customer asked for that exists, in the order asked:
        two columns of an index lookup, no row object, nothing computed per customer (a
        commission run asks this of every customer of a month's orders)."""
        await self._allow(FACTS_ACTION)
        ids = _ids("customer_ids", request.customer_ids, MAX_SOURCES_IDS)
        if not ids:
            return pb.GetRegisteredSourcesResponse()
        async with self.db.read() as session:
            connection = await session.connection()
            if connection.dialect.name == "postgresql":
                # One array parameter: an IN list costs SQLAlchemy a bind per ID to render and
                # process, most of such a call's CPU.
                wanted = Customer.id == any_(bindparam("ids", ids, type_=ARRAY(String())))
            else:
                wanted = Customer.id.in_(ids)
            rows = (
                await connection.execute(select(Customer.id, Customer.source).where(wanted))
            ).tuples()
        source_of = dict(rows.all())
        found = [customer_id for customer_id in ids if customer_id in source_of]
        return pb.GetRegisteredSourcesResponse(
            customer_ids=found, sources=[_SOURCE_CHANNELS[source_of[i]] for i in found]
        )

    async def find_similar_customers(
        self, request: pb.FindSimilarCustomersRequest
    ) -> pb.FindSimilarCustomersResponse:
        """Each customer's owner now, since when, and the records ``SIMILAR_CUSTOMER`` would
        match against it (:func:`similar_nearby`); codes, owners and distances only."""
        ids = _ids("customer_ids", request.customer_ids, MAX_SIMILAR_IDS)
        await self._allow(FACTS_ACTION)
        if not ids:
            return pb.FindSimilarCustomersResponse()
        threshold = duplicate_rules.SimilarThreshold.from_policy(
            await self.policy.threshold("similar_customer")
        )
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(
                        Customer.id,
                        Customer.company,
                        Customer.owner_id,
                        Customer.owned_since,
                        Customer.lat,
                        Customer.lng,
                    ).where(Customer.id.in_(ids))
                )
            ).all()
            similar = await similar_nearby_many(
                session,
                [
                    SimilarQuery(
                        row.id,
                        row.company,
                        row.owner_id,
                        None if row.lat is None or row.lng is None else (row.lat, row.lng),
                    )
                    for row in rows
                ],
                threshold,
            )
        found = {
            row.id: pb.CustomerWithSimilar(
                customer_id=row.id,
                owner_id=row.owner_id or "",
                owned_since=to_timestamp(row.owned_since),
                similar=[
                    pb.SimilarCustomer(
                        customer_id=other.id,
                        code=other.code,
                        owner_id=other.owner_id or "",
                        distance_m=other.distance_m,
                    )
                    for other in similar[row.id]
                ],
            )
            for row in rows
        }
        return pb.FindSimilarCustomersResponse(customers=[found[i] for i in ids if i in found])

    async def get_orderable_customer(
        self, request: pb.GetOrderableCustomerRequest
    ) -> pb.GetOrderableCustomerResponse:
        """The facts of one customer the caller may submit an order for.

        One decision, its scope as the SQL filter. Outside the scope reads exactly as
        absent (NOT_FOUND, the same words): whether a customer the caller may not see
        exists is not theirs to learn.
        """
        decision = await self._allow(ORDER_ACTION)
        customer_id = validation.text(
            "customer_id", request.customer_id, required=True, max_length=MAX_ID_LENGTH
        )
        async with self.db.read() as session:
            row = await one_by_id(
                session,
                Customer,
                customer_id,
                scope_filter(decision, SCOPE),
                noun="customer",
                field="customer_id",
            )
        return pb.GetOrderableCustomerResponse(customer=_facts(row))


# A stored source name ("WEBSITE") as its enum value.
_SOURCE_CHANNELS = {
    name.removeprefix("SOURCE_CHANNEL_"): value
    for name, value in customers_pb2.SourceChannel.items()
}


def _facts(customer: Customer) -> pb.CustomerFacts:
    return pb.CustomerFacts(
        customer_id=customer.id,
        code=customer.code,
        owner_id=customer.owner_id or "",
        team_id=customer.team_id or "",
        branch_id=customer.branch_id or "",
        source=customers_pb2.SourceChannel.Value(f"SOURCE_CHANNEL_{customer.source}"),
        registered_at=to_timestamp(customer.registered_at),
        first_contact_at=to_timestamp(customer.first_contact_at),
        status=customers_pb2.CustomerStatus.Value(f"CUSTOMER_STATUS_{customer.status}"),
        name_key=name_key(customer.name),
        company_key=name_key(customer.company),
    )
