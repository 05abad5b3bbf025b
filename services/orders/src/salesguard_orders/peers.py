"""What the orders service asks of its peers: customer facts and branch time zones.

Both are asked as the service itself (``Principal.system("orders")``): payments,
reconciliation and the detectors need customers' owners and registration times
whoever runs them. Submitting an order is the exception: its customer is asked for
as the submitter (:meth:`CustomerFacts.orderable`), so the customers service applies
its own policy and scope to them (SPEC §2). One :class:`BranchZones` cache serves the
whole service (orders, payments, statements, diversion).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as clock
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from salesguard import validation
from salesguard.batching import chunks
from salesguard.errors import ErrorCode, ServiceError, Unavailable
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_api.customers.v1 import lookups_pb2, lookups_pb2_grpc
from salesguard_orders import SERVICE_NAME

log = logging.getLogger(__name__)

# Branches change rarely (an admin adds one); a missing branch triggers a refresh.
BRANCH_TTL_SECONDS = 300.0
BRANCH_MISS_REFRESH_SECONDS = 5.0
MAX_FACTS_IDS = 1000


def day_end(day: date, zone: tzinfo) -> datetime:
    """The first instant after ``day`` in ``zone``, in UTC."""
    return datetime.combine(day + timedelta(days=1), clock.min, tzinfo=zone).astimezone(UTC)


def local_today(zone: ZoneInfo) -> date:
    return datetime.now(zone).date()


def _peer_error(error: ServiceError, what: str) -> ServiceError:
    """A peer refusing the service itself is a deployment fault, not the caller's."""
    if error.code in (ErrorCode.FORBIDDEN, ErrorCode.UNAUTHENTICATED):
        return Unavailable(f"{what} cannot be read ({error.message})")
    return error


class CustomerFacts:
    """Customer facts from the customers service (owner, source, registration, name keys)."""

    def __init__(self, channels: ServiceChannels) -> None:
        self._stub = lookups_pb2_grpc.CustomerLookupServiceStub(channels.channel("customers"))
        self._system = Principal.system(SERVICE_NAME)

    async def get(self, ids: list[str]) -> dict[str, lookups_pb2.CustomerFacts]:
        """The facts of the customers among ``ids`` that exist, by ID."""
        wanted = sorted(set(ids))
        found: dict[str, lookups_pb2.CustomerFacts] = {}
        for chunk in chunks(wanted, MAX_FACTS_IDS):
            try:
                with acting_as(self._system):
                    response = await self._stub.GetCustomerFacts(
                        lookups_pb2.GetCustomerFactsRequest(customer_ids=chunk)
                    )
            except ServiceError as error:
                raise _peer_error(error, "customer facts") from None
            found.update({facts.customer_id: facts for facts in response.customers})
        return found

    async def orderable(self, customer_id: str) -> lookups_pb2.CustomerFacts:
        """The facts of a customer the caller may submit an order for, asked as the caller.

        NOT_FOUND (from the customers service) for a customer outside their scope, the
        same as for one that does not exist.
        """
        response = await self._stub.GetOrderableCustomer(
            lookups_pb2.GetOrderableCustomerRequest(customer_id=customer_id)
        )
        return response.customer


class BranchZones:
    """Each branch's IANA time zone from the people directory, cached: for
    BRANCH_TTL_SECONDS at most, and while the directory watch is live, only until the
    directory changes (a branch created or its zone changed is seen at once)."""

    def __init__(
        self, channels: ServiceChannels, generation: Callable[[], int | None] = lambda: None
    ) -> None:
        self._stub = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))
        self._system = Principal.system(SERVICE_NAME)
        self._branches: dict[str, directory_pb2.Branch] = {}
        self._fetched_at = float("-inf")
        self._fetched_generation: int | None = None
        # The directory watch's generation while it is live, None while it is not.
        self._generation = generation
        self._lock = asyncio.Lock()

    def _stale(self, max_age: float) -> bool:
        if time.monotonic() - self._fetched_at >= max_age:
            return True
        generation = self._generation()
        return generation is not None and generation != self._fetched_generation

    async def _refresh(self, *, max_age: float) -> None:
        async with self._lock:
            if not self._stale(max_age):
                return  # another request refreshed meanwhile
            generation = self._generation()
            try:
                with acting_as(self._system):
                    response = await self._stub.ListBranches(directory_pb2.ListBranchesRequest())
            except ServiceError as error:
                raise _peer_error(error, "the branch directory") from None
            self._branches = {branch.id: branch for branch in response.branches}
            self._fetched_at = time.monotonic()
            self._fetched_generation = generation

    async def branch(self, branch_id: str | None) -> directory_pb2.Branch | None:
        if not branch_id:
            return None
        if self._stale(BRANCH_TTL_SECONDS):
            await self._refresh(max_age=BRANCH_TTL_SECONDS)
        elif branch_id not in self._branches and self._stale(BRANCH_MISS_REFRESH_SECONDS):
            await self._refresh(max_age=BRANCH_MISS_REFRESH_SECONDS)
        return self._branches.get(branch_id)

    async def zone(self, branch_id: str | None) -> ZoneInfo:
        """The branch's time zone; UTC for an unknown branch or zone."""
        return _zone_of(await self.branch(branch_id))

    async def every_zone(self) -> list[ZoneInfo]:
        """The time zones of every branch the directory knows."""
        if self._stale(BRANCH_TTL_SECONDS):
            await self._refresh(max_age=BRANCH_TTL_SECONDS)
        return [_zone_of(branch) for branch in self._branches.values()]


def _zone_of(branch: directory_pb2.Branch | None) -> ZoneInfo:
    if branch is None or not branch.time_zone:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(branch.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


async def caller_zone(zones: BranchZones, principal: Principal) -> ZoneInfo:
    """The caller's branch time zone; UTC for a service, or when the directory is away
    (a default date is no reason to fail a run)."""
    try:
        return await zones.zone(principal.branch_id)
    except ServiceError as error:
        log.warning("branch time zone unknown, days in UTC", extra={"error": error.message})
        return ZoneInfo("UTC")


async def as_of_day(zones: BranchZones, principal: Principal, as_of: str) -> date:
    """The day a run is asked for (``as_of``, YYYY-MM-DD), else today where the caller
    works (UTC for a service, or without the directory: see ``caller_zone``)."""
    if as_of:
        return validation.civil_date("as_of", as_of)
    return local_today(await caller_zone(zones, principal))


async def earliest_day(zones: BranchZones, moment: datetime) -> date:
    """The earliest calendar day any branch has at ``moment``: a scheduled check as of it
    never runs ahead of a branch's calendar (a payment is due by the end of its day where
    the branch is). UTC's day without branches, or when the directory is away."""
    try:
        known = await zones.every_zone()
    except ServiceError as error:
        log.warning("branch time zones unknown, days in UTC", extra={"error": error.message})
        known = []
    return min(
        (moment.astimezone(zone).date() for zone in known), default=moment.astimezone(UTC).date()
    )
