"""What the commissions service asks of its peers, always as itself (SYSTEM).

- orders: the stream of valid orders of a branch and period, the stream of
  payment reversals, and the targets of alerts that hold lines back;
- customers: each customer's registered source, at most 5000 IDs per call;
- attendance: the branches with their time zones, and employees' teams.

A peer that refuses the service itself is a deployment fault (its policy lacks
an action), reported as UNAVAILABLE rather than blamed on the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from salesguard.batching import chunks
from salesguard.errors import ErrorCode, ServiceError, Unavailable
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard.validation import enum_names
from salesguard_api.attendance.v1 import directory_pb2, directory_pb2_grpc
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_api.customers.v1 import customers_pb2, lookups_pb2, lookups_pb2_grpc
from salesguard_api.orders.v1 import payments_pb2, payments_pb2_grpc
from salesguard_commissions import SERVICE_NAME
from salesguard_commissions.rules import withholding
from salesguard_commissions.rules.withholding import Withholding

MAX_SOURCES_IDS = 5000
MAX_EMPLOYEE_IDS = 500
# Stream messages read ahead of the run's processing.
STREAM_DEPTH = 4
M = TypeVar("M")
SOURCE_NAMES = enum_names(customers_pb2.SourceChannel, "SOURCE_CHANNEL_")

SYSTEM = Principal.system(SERVICE_NAME)


def peer_error(error: ServiceError, what: str) -> ServiceError:
    """A peer refusing the service itself is a deployment fault, not the caller's."""
    if error.code in (ErrorCode.FORBIDDEN, ErrorCode.UNAUTHENTICATED):
        return Unavailable(f"{what} cannot be read ({error.message})")
    return error


class Peers:
    def __init__(self, channels: ServiceChannels, stream_timeout_seconds: float) -> None:
        self._channels = channels
        self._stream_timeout = stream_timeout_seconds
        self._reconciliation = payments_pb2_grpc.ReconciliationServiceStub(
            channels.channel("orders")
        )
        self._lookups = lookups_pb2_grpc.CustomerLookupServiceStub(channels.channel("customers"))
        self._directory = directory_pb2_grpc.DirectoryServiceStub(channels.channel("attendance"))

    def _stream(
        self, method: Callable[..., AsyncIterable[M]], request: Any, what: str
    ) -> AsyncIterator[M]:
        """A server stream of a peer, read ahead by a task acting as the service."""
        return _pumped(lambda: method(request, timeout=self._stream_timeout), what)

    async def branches(self) -> list[directory_pb2.Branch]:
        try:
            with acting_as(SYSTEM):
                response = await self._directory.ListBranches(directory_pb2.ListBranchesRequest())
        except ServiceError as error:
            raise peer_error(error, "the branch directory") from None
        return sorted(response.branches, key=lambda branch: branch.id)

    async def employees(self, ids: Iterable[str]) -> dict[str, directory_pb2.Employee]:
        """The employees among ``ids`` that the directory knows, by ID."""
        wanted = sorted(set(ids))
        found: dict[str, directory_pb2.Employee] = {}
        for chunk in chunks(wanted, MAX_EMPLOYEE_IDS):
            try:
                with acting_as(SYSTEM):
                    response = await self._directory.BatchGetEmployees(
                        directory_pb2.BatchGetEmployeesRequest(ids=chunk)
                    )
            except ServiceError as error:
                raise peer_error(error, "the people directory") from None
            found.update((employee.id, employee) for employee in response.employees)
        return found

    async def registered_sources(self, ids: list[str], batch_size: int) -> dict[str, str]:
        """Each known customer's registered source channel ("WEBSITE", "PERSONAL", ...)."""
        size = max(1, min(batch_size, MAX_SOURCES_IDS))
        found: dict[str, str] = {}
        names = SOURCE_NAMES
        for chunk in chunks(ids, size):
            try:
                with acting_as(SYSTEM):
                    response = await self._lookups.GetRegisteredSources(
                        lookups_pb2.GetRegisteredSourcesRequest(customer_ids=chunk)
                    )
            except ServiceError as error:
                raise peer_error(error, "customer sources") from None
            found.update(
                zip(
                    response.customer_ids,
                    [names.get(source, "") for source in response.sources],
                    strict=True,
                )
            )
        return found

    async def withholding(
        self, kinds: Iterable[str], sources: Iterable[str] = ("orders",)
    ) -> Withholding:
        """The alert targets that hold lines back: streamed once per run, per source service;
        of the resolved alerts only the confirmed ones are sent."""
        request = common_pb2.StreamAlertTargetsRequest(
            kinds=sorted(set(kinds)),
            # What withholding.withholds keeps, asked of the source (it checks again).
            statuses=[*withholding.HOLDING_STATUSES, common_pb2.ALERT_STATUS_RESOLVED],
            resolutions=[withholding.HOLDING_RESOLUTION],
        )
        targets: list[common_pb2.AlertTarget] = []
        for source in sources:
            stub = common_pb2_grpc.AlertsServiceStub(self._channels.channel(source))
            async for batch in self._stream(
                stub.StreamAlertTargets, request, f"alerts of {source}"
            ):
                targets.extend(batch.targets)
        return Withholding.from_targets(targets)

    async def valid_orders(
        self, branch_id: str, start: Timestamp, end: Timestamp
    ) -> AsyncIterator[Sequence[payments_pb2.ValidOrder]]:
        """The valid orders of a branch paid in [start, end), batch by batch."""
        request = payments_pb2.StreamValidOrdersRequest(
            paid_from=start, paid_to=end, branch_id=branch_id
        )
        stream = self._stream(self._reconciliation.StreamValidOrders, request, "valid orders")
        async for batch in stream:
            if batch.orders:
                yield batch.orders

    async def reversals(
        self, start: Timestamp, end: Timestamp
    ) -> AsyncIterator[list[payments_pb2.PaymentReversal]]:
        """Reversals of matched payments in [start, end), batch by batch."""
        request = payments_pb2.StreamPaymentReversalsRequest(reversed_from=start, reversed_to=end)
        stream = self._stream(
            self._reconciliation.StreamPaymentReversals, request, "payment reversals"
        )
        async for batch in stream:
            if batch.reversals:
                yield list(batch.reversals)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


async def _pumped(
    call: Callable[[], AsyncIterable[M]], what: str, depth: int = STREAM_DEPTH
) -> AsyncIterator[M]:
    """The messages of a server stream, read by a task of their own acting as the service.

    The task reads ahead at most ``depth`` messages (memory stays bounded) while the
    caller works on the previous ones, and the service's identity never leaks into the
    caller's context.
    """
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=depth)

    async def produce() -> None:
        try:
            with acting_as(SYSTEM):
                async for message in call():
                    await queue.put(message)
        except ServiceError as error:
            await queue.put(_Failed(peer_error(error, what)))
        except Exception as error:  # handed to the reader, who raises it
            await queue.put(_Failed(error))
        else:
            await queue.put(_END)

    task = asyncio.create_task(produce())
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
