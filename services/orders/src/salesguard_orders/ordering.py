"""Orders (O1–O3): submission with attribution checks, approval chains, the status machine.

To be written: see the module contracts in the servicer.
"""

from __future__ import annotations

from salesguard.orders.v1 import orders_pb2 as pb
from salesguard.service import Runtime
from salesguard_orders.settings import OrdersSettings


class Orders:
    def __init__(self, runtime: Runtime[OrdersSettings]) -> None:
        self.runtime = runtime

    async def submit(self, request: pb.SubmitOrderRequest) -> pb.SubmitOrderResponse:
        raise NotImplementedError

    async def get(self, order_id: str) -> pb.Order:
        raise NotImplementedError

    async def batch_get(self, ids: list[str]) -> list[pb.Order]:
        raise NotImplementedError

    async def list_orders(self, request: pb.ListOrdersRequest) -> pb.ListOrdersResponse:
        raise NotImplementedError

    async def decide(self, request: pb.DecideOrderRequest) -> pb.Order:
        raise NotImplementedError

    async def transition(self, request: pb.TransitionOrderRequest) -> pb.Order:
        raise NotImplementedError
