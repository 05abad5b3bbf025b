"""gRPC servicers of the orders service: thin adapters over the domain modules (each RPC
answered by one domain method, :meth:`Servicer.answering`)."""

from __future__ import annotations

from functools import partial

from salesguard.grpc_server import Servicer, respond
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
from salesguard_orders.valid_orders import stream_valid_orders


def orders_servicer(orders: Orders) -> Servicer:
    return Servicer.answering(
        orders_pb2_grpc.OrdersServiceServicer,
        SubmitOrder=orders.submit,
        GetOrder=respond(pb.GetOrderResponse, order=lambda request: orders.get(request.id)),
        BatchGetOrders=respond(
            pb.BatchGetOrdersResponse, orders=lambda request: orders.batch_get(list(request.ids))
        ),
        ListOrders=orders.list_orders,
        DecideOrder=respond(pb.DecideOrderResponse, order=orders.decide),
        TransitionOrder=respond(pb.TransitionOrderResponse, order=orders.transition),
    )


def payments_servicer(payments: Payments, statements: Statements, shipments: Shipments) -> Servicer:
    return Servicer.answering(
        payments_pb2_grpc.PaymentsServiceServicer,
        CreateUpload=payments.uploads.create_upload,
        RecordPayment=payments.record,
        ReversePayment=respond(payments_pb2.ReversePaymentResponse, payment=payments.reverse),
        ImportPayments=statements.import_statement,
        ListPayments=payments.list_payments,
        RecordShipment=respond(
            payments_pb2.RecordShipmentResponse, shipment=shipments.record_shipment
        ),
        ListShipments=respond(
            payments_pb2.ListShipmentsResponse,
            shipments=lambda request: shipments.list_shipments(request.order_id),
        ),
        RecordBackOrder=respond(
            payments_pb2.RecordBackOrderResponse, back_order=shipments.record_back_order
        ),
    )


def reconciliation_servicer(
    reconciliation: Reconciliation, diversion: Diversion, runtime: Runtime[OrdersSettings]
) -> Servicer:
    return Servicer.answering(
        payments_pb2_grpc.ReconciliationServiceServicer,
        RunReconciliation=reconciliation.run,
        GetReconciliation=reconciliation.get,
        StreamValidOrders=partial(stream_valid_orders, runtime),
        DetectDiversionRisk=diversion.detect,
        StreamPaymentReversals=partial(stream_reversals, runtime),
    )
