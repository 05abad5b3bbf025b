"""The customers service: its servicers wired to the shared runtime."""

from __future__ import annotations

from collections.abc import Sequence

from salesguard.crypto import BlindIndex, FieldCipher, HmacKeyring
from salesguard.grpc_server import Servicer
from salesguard.service import GrpcServiceApp, Runtime
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
    customers_servicer,
    exports_servicer,
    lookups_servicer,
)
from salesguard_customers.settings import CustomersSettings
from salesguard_customers.shared_contacts import SharedCriteria
from salesguard_customers.timeline import timeline_servicer


def build_servicers(runtime: Runtime[CustomersSettings]) -> Sequence[Servicer]:
    settings = runtime.settings
    vault = ContactVault(
        FieldCipher(settings.field_key_bytes), BlindIndex(settings.blind_index_key_bytes)
    )
    registry = Registry(runtime, vault, runtime.directory)
    exports = Exports(registry, runtime.objects)
    return [
        customers_servicer(registry, SharedCriteria(runtime.db, runtime.policy, vault)),
        Servicer.of(AuditServicer(registry, AuditCheckpoints.of(runtime))),
        exports_servicer(exports),
        lookups_servicer(Lookups(runtime.db, runtime.policy, settings)),
        Servicer.of(CustomerPoolServicer(CustomerPool(runtime, registry))),
        timeline_servicer(runtime),
        Servicer.of(HandoverServicer(Handover(runtime.db, runtime.policy, registry.directory))),
        exports.downloads.servicer(),
        runtime.alerts_servicer(Alert, AlertDecision),
    ]


def configure(runtime: Runtime[CustomersSettings]) -> None:
    """Every runtime (the server's, a job command's) appends audit entries with the key."""
    audit.attach(runtime.db, HmacKeyring(runtime.settings.audit_chain_keys))


service = GrpcServiceApp(
    SERVICE_NAME,
    CustomersSettings,
    Base,
    build_servicers,
    jobs=JOBS,
    configure=configure,
    background=(write_checkpoints,),
)
