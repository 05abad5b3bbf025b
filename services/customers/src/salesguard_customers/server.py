"""The customers service: its servicers wired to the shared runtime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from salesguard.crypto import BlindIndex, FieldCipher, HmacKeyring
from salesguard.grpc_server import Servicer
from salesguard.service import GrpcServiceApp, Runtime
from salesguard_api.customers.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    customers_pb2,
    customers_pb2_grpc,
    exports_pb2,
    exports_pb2_grpc,
    handover_pb2,
    handover_pb2_grpc,
    lookups_pb2,
    lookups_pb2_grpc,
    pool_pb2,
    pool_pb2_grpc,
    timeline_pb2,
    timeline_pb2_grpc,
)
from salesguard_customers import SERVICE_NAME, audit
from salesguard_customers.audit_checkpoints import AuditCheckpoints, write_checkpoints
from salesguard_customers.contacts import ContactVault
from salesguard_customers.exports import Exports
from salesguard_customers.handover import Handover, HandoverServicer
from salesguard_customers.jobs import JOBS
from salesguard_customers.lookups import Lookups
from salesguard_customers.models import Alert, AlertDecision, Base
from salesguard_customers.pool import CustomerPool, CustomerPoolServicer
from salesguard_customers.registry import Registry
from salesguard_customers.servicer import (
    AuditServicer,
    CustomersServicer,
    ExportsServicer,
    LookupsServicer,
)
from salesguard_customers.settings import CustomersSettings
from salesguard_customers.shared_contacts import SharedCriteria
from salesguard_customers.timeline import CustomerTimelineServicer


def build_servicers(runtime: Runtime[CustomersSettings]) -> Sequence[Servicer]:
    settings = runtime.settings
    vault = ContactVault(
        FieldCipher(settings.field_key_bytes), BlindIndex(settings.blind_index_key_bytes)
    )
    registry = Registry(runtime, vault, runtime.directory)
    exports = Exports(registry, runtime.objects)
    return [
        Servicer(
            customers_pb2_grpc.add_CustomersServiceServicer_to_server,
            CustomersServicer(registry, SharedCriteria(runtime.db, runtime.policy, vault)),
            customers_pb2.DESCRIPTOR.services_by_name["CustomersService"],
        ),
        Servicer(
            audit_pb2_grpc.add_AuditServiceServicer_to_server,
            AuditServicer(registry, AuditCheckpoints.of(runtime)),
            audit_pb2.DESCRIPTOR.services_by_name["AuditService"],
        ),
        Servicer(
            exports_pb2_grpc.add_ExportsServiceServicer_to_server,
            ExportsServicer(exports),
            exports_pb2.DESCRIPTOR.services_by_name["ExportsService"],
        ),
        Servicer(
            lookups_pb2_grpc.add_CustomerLookupServiceServicer_to_server,
            LookupsServicer(Lookups(runtime.db, runtime.policy, settings)),
            lookups_pb2.DESCRIPTOR.services_by_name["CustomerLookupService"],
        ),
        Servicer(
            pool_pb2_grpc.add_CustomerPoolServiceServicer_to_server,
            CustomerPoolServicer(CustomerPool(runtime, registry)),
            pool_pb2.DESCRIPTOR.services_by_name["CustomerPoolService"],
        ),
        Servicer(
            timeline_pb2_grpc.add_CustomerTimelineServiceServicer_to_server,
            CustomerTimelineServicer(runtime.db, runtime.policy, runtime.settings.page_limits),
            timeline_pb2.DESCRIPTOR.services_by_name["CustomerTimelineService"],
        ),
        Servicer(
            handover_pb2_grpc.add_HandoverServiceServicer_to_server,
            HandoverServicer(Handover(runtime.db, runtime.policy, registry.directory)),
            handover_pb2.DESCRIPTOR.services_by_name["HandoverService"],
        ),
        exports.downloads.servicer(),
        runtime.alerts_servicer(Alert, AlertDecision),
    ]


def configure(runtime: Runtime[CustomersSettings]) -> None:
    """Every runtime (the server's, a job command's) appends audit entries with the key."""
    audit.attach(runtime.db, HmacKeyring(runtime.settings.audit_chain_keys))


async def prepare(runtime: Runtime[CustomersSettings]) -> None:
    await runtime.objects.ensure_bucket()


service = GrpcServiceApp(
    name=SERVICE_NAME,
    settings_class=CustomersSettings,
    metadata=Base.metadata,
    migrations_dir=Path(__file__).parent / "migrations",
    servicers=build_servicers,
    on_start=prepare,
    jobs=JOBS,
    configure=configure,
    background=(write_checkpoints,),
)

if __name__ == "__main__":
    service.main()
