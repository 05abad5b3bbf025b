"""Reconciliation (O5) as set-based SQL, and the stream of valid orders for commissions."""

from __future__ import annotations

from collections.abc import AsyncIterator

from salesguard.orders.v1 import payments_pb2 as pb
from salesguard.service import Runtime
from salesguard_orders.ordering import Orders
from salesguard_orders.settings import OrdersSettings


class Reconciliation:
    def __init__(self, runtime: Runtime[OrdersSettings], orders: Orders) -> None:
        self.runtime = runtime
        self.orders = orders

    async def run(self, request: pb.RunReconciliationRequest) -> pb.RunReconciliationResponse:
        raise NotImplementedError

    async def get(self, request: pb.GetReconciliationRequest) -> pb.GetReconciliationResponse:
        raise NotImplementedError

    async def stream_valid_orders(
        self, request: pb.StreamValidOrdersRequest
    ) -> AsyncIterator[pb.StreamValidOrdersResponse]:
        raise NotImplementedError
        yield pb.StreamValidOrdersResponse()
