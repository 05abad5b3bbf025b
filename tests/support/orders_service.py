"""What the tests over the orders service's gRPC API share: its stubs on a signed channel,
listing its payments and alerts, decimals as the API spells them, and refusals."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest

from salesguard.errors import ErrorCode, ServiceError
from salesguard.grpc_client import ServiceChannels
from salesguard.principal import Principal, acting_as
from salesguard_api.common.v1 import common_pb2, common_pb2_grpc
from salesguard_api.orders.v1 import orders_pb2_grpc, payments_pb2, payments_pb2_grpc
from tests.harness import Suite


class OrdersServiceClient:
    """Stubs of the orders service on channels signed with the suite's internal secret;
    ``also`` names the further services the same channels reach."""

    def __init__(self, suite: Suite, *also: str, timeout: float) -> None:
        orders = suite.running["orders"]
        self.channels = ServiceChannels(
            {name: suite.running[name].address for name in ("orders", *also)},
            orders.runtime.internal_secret,
            timeout,
        )
        channel = self.channels.channel("orders")
        self.orders = orders_pb2_grpc.OrdersServiceStub(channel)
        self.payments = payments_pb2_grpc.PaymentsServiceStub(channel)
        self.reconciliation = payments_pb2_grpc.ReconciliationServiceStub(channel)
        self.alerts = common_pb2_grpc.AlertsServiceStub(channel)

    async def list_payments(
        self, principal: Principal, **filter_: Any
    ) -> list[payments_pb2.Payment]:
        with acting_as(principal):
            response = await self.payments.ListPayments(
                payments_pb2.ListPaymentsRequest(
                    filter=payments_pb2.PaymentFilter(**filter_),
                    page=common_pb2.PageRequest(page_size=100),
                )
            )
        return list(response.payments)

    async def list_alerts(
        self, principal: Principal, *kinds: str, **filter_: Any
    ) -> list[common_pb2.Alert]:
        """The orders service's alerts ``principal`` may read, of ``kinds`` (all if none)."""
        with acting_as(principal):
            response = await self.alerts.ListAlerts(
                common_pb2.ListAlertsRequest(
                    filter=common_pb2.AlertFilter(kinds=list(kinds), **filter_),
                    page=common_pb2.PageRequest(page_size=100),
                )
            )
        return list(response.alerts)


def dec(value: str) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=value)


async def refused(call: Awaitable[Any], code: ErrorCode) -> ServiceError:
    """Await a call that must fail with ``code``; the error."""
    with pytest.raises(ServiceError) as raised:
        await call
    assert raised.value.code is code, raised.value
    return raised.value
