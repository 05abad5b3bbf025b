"""gRPC servicers of the orders service: thin adapters over the domain modules."""

from __future__ import annotations

from collections.abc import AsyncIterator

from salesguard.grpc_server import ServicerContext as Context
from salesguard.service import Runtime
from salesguard_api.orders.v1 import orders_pb2 as pb
from salesguard_api.orders.v1 import orders_pb2_grpc, payments_pb2, payments_pb2_grpc
from salesguard_orders.diversion import Diversion
from salesguard_orders.ordering import Orders
from salesguard_orders.payments import Payments
from salesguard_orders.reconciliation import Reconciliation
from salesguard_orders.reversals import stream_reversals
from salesguard_orders.settings import OrdersSettings
from salesguard_orders.shipments import Shipments
from salesguard_orders.statements import Statements


class OrdersServicer(orders_pb2_grpc.OrdersServiceServicer):
    def __init__(self, orders: Orders) -> None:
        self._orders = orders

    async def SubmitOrder(
        self, request: pb.SubmitOrderRequest, context: Context
    ) -> pb.SubmitOrderResponse:
        return await self._orders.submit(request)

    async def GetOrder(self, request: pb.GetOrderRequest, context: Context) -> pb.GetOrderResponse:
        return pb.GetOrderResponse(order=await self._orders.get(request.id))

    async def BatchGetOrders(
        self, request: pb.BatchGetOrdersRequest, context: Context
    ) -> pb.BatchGetOrdersResponse:
        return pb.BatchGetOrdersResponse(orders=await self._orders.batch_get(list(request.ids)))

    async def ListOrders(
        self, request: pb.ListOrdersRequest, context: Context
    ) -> pb.ListOrdersResponse:
        return await self._orders.list_orders(request)

    async def DecideOrder(
        self, request: pb.DecideOrderRequest, context: Context
    ) -> pb.DecideOrderResponse:
        return pb.DecideOrderResponse(order=await self._orders.decide(request))

    async def TransitionOrder(
        self, request: pb.TransitionOrderRequest, context: Context
    ) -> pb.TransitionOrderResponse:
        return pb.TransitionOrderResponse(order=await self._orders.transition(request))


class PaymentsServicer(payments_pb2_grpc.PaymentsServiceServicer):
    def __init__(self, payments: Payments, statements: Statements, shipments: Shipments) -> None:
        self._payments = payments
        self._statements = statements
        self._shipments = shipments

    async def CreateUpload(
        self, request: payments_pb2.CreateUploadRequest, context: Context
    ) -> payments_pb2.CreateUploadResponse:
        return await self._payments.uploads.create_upload(request)

    async def RecordPayment(
        self, request: payments_pb2.RecordPaymentRequest, context: Context
    ) -> payments_pb2.RecordPaymentResponse:
        return await self._payments.record(request)

    async def ReversePayment(
        self, request: payments_pb2.ReversePaymentRequest, context: Context
    ) -> payments_pb2.ReversePaymentResponse:
        return payments_pb2.ReversePaymentResponse(payment=await self._payments.reverse(request))

    async def ImportPayments(
        self, request: payments_pb2.ImportPaymentsRequest, context: Context
    ) -> payments_pb2.ImportPaymentsResponse:
        return await self._statements.import_statement(request)

    async def ListPayments(
        self, request: payments_pb2.ListPaymentsRequest, context: Context
    ) -> payments_pb2.ListPaymentsResponse:
        return await self._payments.list_payments(request)

    async def RecordShipment(
        self, request: payments_pb2.RecordShipmentRequest, context: Context
    ) -> payments_pb2.RecordShipmentResponse:
        return payments_pb2.RecordShipmentResponse(
            shipment=await self._shipments.record_shipment(request)
        )

    async def ListShipments(
        self, request: payments_pb2.ListShipmentsRequest, context: Context
    ) -> payments_pb2.ListShipmentsResponse:
        return payments_pb2.ListShipmentsResponse(
            shipments=await self._shipments.list_shipments(request.order_id)
        )


class ReconciliationServicer(payments_pb2_grpc.ReconciliationServiceServicer):
    def __init__(
        self,
        reconciliation: Reconciliation,
        diversion: Diversion,
        runtime: Runtime[OrdersSettings],
    ) -> None:
        self._reconciliation = reconciliation
        self._diversion = diversion
        self._runtime = runtime

    async def RunReconciliation(
        self, request: payments_pb2.RunReconciliationRequest, context: Context
    ) -> payments_pb2.RunReconciliationResponse:
        return await self._reconciliation.run(request)

    async def GetReconciliation(
        self, request: payments_pb2.GetReconciliationRequest, context: Context
    ) -> payments_pb2.GetReconciliationResponse:
        return await self._reconciliation.get(request)

    async def StreamValidOrders(
        self, request: payments_pb2.StreamValidOrdersRequest, context: Context
    ) -> AsyncIterator[payments_pb2.StreamValidOrdersResponse]:
        async for batch in self._reconciliation.stream_valid_orders(request):
            yield batch

    async def DetectDiversionRisk(
        self, request: payments_pb2.DetectDiversionRiskRequest, context: Context
    ) -> payments_pb2.DetectDiversionRiskResponse:
        return await self._diversion.detect(request)

    async def StreamPaymentReversals(
        self, request: payments_pb2.StreamPaymentReversalsRequest, context: Context
    ) -> AsyncIterator[payments_pb2.StreamPaymentReversalsResponse]:
        async for batch in stream_reversals(self._runtime, request):
            yield batch
