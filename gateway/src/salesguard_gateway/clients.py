"""Typed stubs to the services, created once, counting the calls each request makes.

Every stub rides on :class:`~salesguard.grpc_client.ServiceChannels`, so calls
carry the signed principal of the running request and raise typed
:class:`~salesguard.errors.ServiceError`. The count per method lets a test
assert that a page of customers with their owners costs a bounded number of
calls (no N+1); it is a dict increment per call, so it is always on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import FileDescriptor

from salesguard.downloads import DOWNLOAD_SOURCES
from salesguard.grpc_client import ServiceChannels
from salesguard_api.attendance.v1 import (
    directory_pb2,
    directory_pb2_grpc,
    visits_pb2,
    visits_pb2_grpc,
)
from salesguard_api.attendance.v1 import timeline_pb2 as attendance_timeline_pb2
from salesguard_api.attendance.v1 import timeline_pb2_grpc as attendance_timeline_pb2_grpc
from salesguard_api.commissions.v1 import commissions_pb2, commissions_pb2_grpc
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc, downloads_pb2, downloads_pb2_grpc
from salesguard_api.customers.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    exports_pb2,
    exports_pb2_grpc,
    pool_pb2,
    pool_pb2_grpc,
)
from salesguard_api.customers.v1 import timeline_pb2 as customer_timeline_pb2
from salesguard_api.customers.v1 import timeline_pb2_grpc as customer_timeline_pb2_grpc
from salesguard_api.orders.v1 import (
    orders_pb2,
    orders_pb2_grpc,
    payments_pb2,
    payments_pb2_grpc,
)
from salesguard_api.orders.v1 import timeline_pb2 as orders_timeline_pb2
from salesguard_api.orders.v1 import timeline_pb2_grpc as orders_timeline_pb2_grpc

RpcCalls = Counter[str]
_rpc_calls: ContextVar[RpcCalls | None] = ContextVar("salesguard_gateway_rpc_calls", default=None)


@contextmanager
def counting_rpc_calls() -> Iterator[RpcCalls]:
    """Count the calls made by the code inside (and by tasks it starts)."""
    calls: RpcCalls = Counter()
    token = _rpc_calls.set(calls)
    try:
        yield calls
    finally:
        _rpc_calls.reset(token)


class _CountedCall:
    __slots__ = ("_call", "_name")

    def __init__(self, call: Any, name: str) -> None:
        self._call = call
        self._name = name

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        calls = _rpc_calls.get()
        if calls is not None:
            calls[self._name] += 1
        return self._call(request, **kwargs)


StubT = TypeVar("StubT")


def _counted(stub: StubT, file: FileDescriptor) -> StubT:
    """Counts each call under its gRPC method path, e.g. /salesguard.customers.v1.CustomersService/ListCustomers.
    The service is the one the stub is generated for (``CustomersServiceStub``)."""
    descriptor = file.services_by_name[type(stub).__name__.removesuffix("Stub")]
    for method in descriptor.methods:
        path = f"/{descriptor.full_name}/{method.name}"
        setattr(stub, method.name, _CountedCall(getattr(stub, method.name), path))
    return stub


class ServiceClients:
    """One stub per service contract, shared by all requests."""

    def __init__(self, channels: ServiceChannels, alert_sources: Sequence[str]) -> None:
        customers = channels.channel("customers")
        attendance = channels.channel("attendance")
        orders = channels.channel("orders")
        commissions = channels.channel("commissions")
        self.customers = _counted(
            customers_pb2_grpc.CustomersServiceStub(customers), customers_pb2.DESCRIPTOR
        )
        self.audit = _counted(audit_pb2_grpc.AuditServiceStub(customers), audit_pb2.DESCRIPTOR)
        self.exports = _counted(
            exports_pb2_grpc.ExportsServiceStub(customers), exports_pb2.DESCRIPTOR
        )
        self.pool = _counted(pool_pb2_grpc.CustomerPoolServiceStub(customers), pool_pb2.DESCRIPTOR)
        self.directory = _counted(
            directory_pb2_grpc.DirectoryServiceStub(attendance), directory_pb2.DESCRIPTOR
        )
        self.visits = _counted(visits_pb2_grpc.VisitsServiceStub(attendance), visits_pb2.DESCRIPTOR)
        self.orders = _counted(orders_pb2_grpc.OrdersServiceStub(orders), orders_pb2.DESCRIPTOR)
        self.payments = _counted(
            payments_pb2_grpc.PaymentsServiceStub(orders), payments_pb2.DESCRIPTOR
        )
        self.reconciliation = _counted(
            payments_pb2_grpc.ReconciliationServiceStub(orders), payments_pb2.DESCRIPTOR
        )
        self.commissions = _counted(
            commissions_pb2_grpc.CommissionsServiceStub(commissions), commissions_pb2.DESCRIPTOR
        )
        # An employee's timeline: one call per service (schema/timeline.py).
        self.customer_timeline = _counted(
            customer_timeline_pb2_grpc.CustomerTimelineServiceStub(customers),
            customer_timeline_pb2.DESCRIPTOR,
        )
        self.attendance_timeline = _counted(
            attendance_timeline_pb2_grpc.AttendanceTimelineServiceStub(attendance),
            attendance_timeline_pb2.DESCRIPTOR,
        )
        self.orders_timeline = _counted(
            orders_timeline_pb2_grpc.OrdersTimelineServiceStub(orders),
            orders_timeline_pb2.DESCRIPTOR,
        )
        # One-time downloads of exports (downloads.py), by the service that issued them.
        self.downloads = self._per_source(
            channels,
            downloads_pb2_grpc.DownloadsServiceStub,
            downloads_pb2.DESCRIPTOR,
            DOWNLOAD_SOURCES,
        )
        self.alerts = self._per_source(
            channels, common_pb2_grpc.AlertsServiceStub, common_pb2.DESCRIPTOR, alert_sources
        )

    @staticmethod
    def _per_source(
        channels: ServiceChannels,
        stub: Callable[[grpc.aio.Channel], StubT],
        file: FileDescriptor,
        sources: Iterable[str],
    ) -> dict[str, StubT]:
        """One stub of the same contract per service that implements it, each on its channel."""
        return {source: _counted(stub(channels.channel(source)), file) for source in sources}
