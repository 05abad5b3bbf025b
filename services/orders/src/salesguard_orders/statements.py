"""Bank statement imports (O4): a CSV from the object store, applied whole or not at all."""

from __future__ import annotations

from salesguard.orders.v1 import payments_pb2 as pb
from salesguard.service import Runtime
from salesguard_orders.settings import OrdersSettings


class Statements:
    def __init__(self, runtime: Runtime[OrdersSettings]) -> None:
        self.runtime = runtime

    async def import_statement(
        self, request: pb.ImportPaymentsRequest
    ) -> pb.ImportPaymentsResponse:
        raise NotImplementedError
