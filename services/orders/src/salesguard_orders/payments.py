"""Payments and shipments (O4): single records, reversals, vouchers, uploads."""

from __future__ import annotations

from salesguard.orders.v1 import payments_pb2 as pb
from salesguard.service import Runtime
from salesguard_orders.ordering import Orders
from salesguard_orders.settings import OrdersSettings


class Payments:
    def __init__(self, runtime: Runtime[OrdersSettings], orders: Orders) -> None:
        self.runtime = runtime
        self.orders = orders

    async def create_upload(self, request: pb.CreateUploadRequest) -> pb.CreateUploadResponse:
        raise NotImplementedError

    async def record(self, request: pb.RecordPaymentRequest) -> pb.RecordPaymentResponse:
        raise NotImplementedError

    async def reverse(self, request: pb.ReversePaymentRequest) -> pb.Payment:
        raise NotImplementedError

    async def list_payments(self, request: pb.ListPaymentsRequest) -> pb.ListPaymentsResponse:
        raise NotImplementedError

    async def record_shipment(self, request: pb.RecordShipmentRequest) -> pb.Shipment:
        raise NotImplementedError

    async def list_shipments(self, order_id: str) -> list[pb.Shipment]:
        raise NotImplementedError
