"""Diversion risk (O6): a regular customer goes quiet while the owner keeps in touch."""

from __future__ import annotations

from salesguard.orders.v1 import payments_pb2 as pb
from salesguard.service import Runtime
from salesguard_orders.settings import OrdersSettings


class Diversion:
    def __init__(self, runtime: Runtime[OrdersSettings]) -> None:
        self.runtime = runtime

    async def detect(
        self, request: pb.DetectDiversionRiskRequest
    ) -> pb.DetectDiversionRiskResponse:
        raise NotImplementedError
