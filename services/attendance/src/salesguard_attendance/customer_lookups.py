"""What attendance asks of the customers service: nearby customers, phone matches,
follow-up marks (as the service itself), and whether the caller may read a customer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from salesguard.errors import InvalidInput
from salesguard.principal import Principal, acting_as
from salesguard.service import Runtime
from salesguard.timeutil import from_timestamp, to_timestamp
from salesguard_api.common.v1 import common_pb2
from salesguard_api.customers.v1 import (
    customers_pb2,
    customers_pb2_grpc,
    lookups_pb2,
    lookups_pb2_grpc,
)
from salesguard_attendance import SERVICE_NAME
from salesguard_attendance.rules.calls import FollowUpMark, unique_matches
from salesguard_attendance.settings import AttendanceSettings

NEARBY_LIMIT = 5


class CustomerLookups:
    def __init__(self, runtime: Runtime[AttendanceSettings]) -> None:
        channel = runtime.channels.channel("customers")
        self._lookups = lookups_pb2_grpc.CustomerLookupServiceStub(channel)
        self._customers = customers_pb2_grpc.CustomersServiceStub(channel)
        self._system = Principal.system(SERVICE_NAME)

    async def require_readable(self, customer_id: str) -> None:
        """Refuse a customer the caller may not read (SPEC §2), asked of the customers
        service as the caller: NOT_FOUND alike for one outside their scope and one that
        does not exist, so a visit tells nothing of a customer one may not see."""
        await self._customers.GetCustomer(customers_pb2.GetCustomerRequest(id=customer_id))

    async def nearby(
        self, lat: float, lng: float, radius_m: float, customer_id: str | None
    ) -> lookups_pb2.FindNearbyCustomersResponse:
        """The customers registered near a point, and the distance of ``customer_id``
        (refused when it does not exist)."""
        with acting_as(self._system):
            response = await self._lookups.FindNearbyCustomers(
                lookups_pb2.FindNearbyCustomersRequest(
                    location=common_pb2.GeoPoint(lat=lat, lng=lng),
                    radius_m=radius_m,
                    limit=NEARBY_LIMIT,
                    customer_ids=[customer_id] if customer_id else [],
                )
            )
        if customer_id and customer_id not in {c.customer_id for c in response.requested}:
            raise InvalidInput("customer_id", f"customer {customer_id} does not exist")
        return response

    async def follow_up_marks(
        self, employee_ids: Iterable[str], start: datetime, end: datetime
    ) -> list[FollowUpMark]:
        ids = sorted(set(employee_ids))
        if not ids:
            return []
        with acting_as(self._system):
            response = await self._lookups.ListFollowUpMarks(
                lookups_pb2.ListFollowUpMarksRequest(
                    employee_ids=ids, to=to_timestamp(end), **{"from": to_timestamp(start)}
                )
            )
        return [
            FollowUpMark(mark.employee_id, mark.customer_id, from_timestamp(mark.at, "at") or start)
            for mark in response.marks
        ]

    async def match_phones(self, indexes: set[str]) -> dict[str, tuple[str, str]]:
        """Blind index → (customer, owner), as :func:`~.rules.calls.unique_matches` keeps them."""
        if not indexes:
            return {}
        with acting_as(self._system):
            response = await self._lookups.MatchPhoneIndexes(
                lookups_pb2.MatchPhoneIndexesRequest(phone_indexes=sorted(indexes))
            )
        return unique_matches(
            (match.phone_index, match.customer_id, match.owner_id) for match in response.matches
        )
