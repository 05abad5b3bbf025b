"""The orders service: its servicers wired to the shared runtime."""

from __future__ import annotations

from collections.abc import Sequence

from salesguard.grpc_server import Servicer
from salesguard.service import GrpcServiceApp, Runtime
from salesguard_orders import SERVICE_NAME
from salesguard_orders.diversion import Diversion
from salesguard_orders.jobs import JOBS
from salesguard_orders.models import Alert, AlertDecision, Base
from salesguard_orders.ordering import Orders
from salesguard_orders.payments import Payments
from salesguard_orders.reconciliation import Reconciliation
from salesguard_orders.servicer import (
    orders_servicer,
    payments_servicer,
    reconciliation_servicer,
)
from salesguard_orders.settings import OrdersSettings
from salesguard_orders.shipments import Shipments
from salesguard_orders.statements import Statements
from salesguard_orders.timeline import timeline_servicer


def build_servicers(runtime: Runtime[OrdersSettings]) -> Sequence[Servicer]:
    orders = Orders(runtime)
    return [
        orders_servicer(orders),
        payments_servicer(
            Payments(runtime, orders), Statements(runtime, orders), Shipments(runtime, orders)
        ),
        reconciliation_servicer(
            Reconciliation(runtime, orders), Diversion(runtime, orders.zones), runtime
        ),
        timeline_servicer(orders),
        runtime.alerts_servicer(Alert, AlertDecision),
    ]


service = GrpcServiceApp(SERVICE_NAME, OrdersSettings, Base, build_servicers, jobs=JOBS)
