"""gRPC servicers of the customers service: thin adapters over the registry, audit and exports
(each RPC answered by one domain method, :meth:`Servicer.answering`)."""

from __future__ import annotations

from google.protobuf import struct_pb2

from salesguard.grpc_server import Servicer, respond
from salesguard.grpc_server import ServicerContext as Context
from salesguard.listing import scoped_page_size
from salesguard.principal import current_principal
from salesguard.timeutil import to_timestamp
from salesguard_api.customers.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    customers_pb2_grpc,
    exports_pb2,
    exports_pb2_grpc,
    lookups_pb2_grpc,
)
from salesguard_api.customers.v1 import (
    customers_pb2 as pb,
)
from salesguard_customers import audit
from salesguard_customers.audit_checkpoints import AuditCheckpoints
from salesguard_customers.changes import CustomerChanges
from salesguard_customers.exports import Exports
from salesguard_customers.follow_ups import FollowUps
from salesguard_customers.lookups import Lookups
from salesguard_customers.models import AuditEvent
from salesguard_customers.registration import Registrar
from salesguard_customers.registry import Registry
from salesguard_customers.shared_contacts import SharedCriteria


def customers_servicer(registry: Registry, shared_criteria: SharedCriteria) -> Servicer:
    changes, follow_ups = CustomerChanges(registry), FollowUps(registry)
    return Servicer.answering(
        customers_pb2_grpc.CustomersServiceServicer,
        RegisterCustomer=Registrar(registry).register,
        GetCustomer=respond(pb.GetCustomerResponse, customer=registry.get),
        BatchGetCustomers=respond(pb.BatchGetCustomersResponse, customers=registry.batch_get),
        ListCustomers=registry.list_customers,
        UpdateCustomer=respond(pb.UpdateCustomerResponse, customer=changes.update),
        RecordFollowUp=follow_ups.record_follow_up,
        ListFollowUps=follow_ups.list_follow_ups,
        ReassignCustomers=respond(pb.ReassignCustomersResponse, customers=changes.reassign),
        SyncOwner=respond(pb.SyncOwnerResponse, updated_count=changes.sync_owner),
        SetCriterionShared=shared_criteria.set,
    )


def audit_event_to_proto(event: AuditEvent) -> audit_pb2.AuditEvent:
    before, after = struct_pb2.Struct(), struct_pb2.Struct()
    before.update(event.before or {})
    after.update(event.after or {})
    return audit_pb2.AuditEvent(
        id=event.id,
        seq=event.seq,
        at=to_timestamp(event.at),
        actor_id=event.actor_id,
        action=event.action,
        customer_ids=list(event.customer_ids),
        fields=list(event.fields),
        before=before,
        after=after,
        reason=event.reason,
        trace_id=event.trace_id,
        branch_id=event.branch_id or "",
        prev_hash=event.prev_hash,
        hash=event.hash,
        key_id=event.key_id,
    )


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, registry: Registry, checkpoints: AuditCheckpoints) -> None:
        self._db = registry.db
        self._policy = registry.policy
        self._pages = registry.settings.page_limits
        self._checkpoints = checkpoints

    async def ListAuditEvents(
        self, request: audit_pb2.ListAuditEventsRequest, context: Context
    ) -> audit_pb2.ListAuditEventsResponse:
        decision, size = await scoped_page_size(
            self._policy, "audit.read", request.page, self._pages, backward_supported=True
        )
        page, total = await audit.list_events(
            self._db, decision, request.filter, request.page, size
        )
        return audit_pb2.ListAuditEventsResponse(
            events=[audit_event_to_proto(event) for event in page.rows],
            cursors=page.cursors,
            page_info=page.page_info(total),
        )

    async def VerifyAuditChain(
        self, request: audit_pb2.VerifyAuditChainRequest, context: Context
    ) -> audit_pb2.VerifyAuditChainResponse:
        (await self._policy.decide(current_principal(), "audit.verify")).require("audit.verify")
        report = await audit.verify_chain(self._db, self._checkpoints)
        return audit_pb2.VerifyAuditChainResponse(
            intact=report.intact,
            checked_count=report.checked_count,
            first_broken_seq=report.first_broken_seq or 0,
            first_broken_id=report.first_broken_id or "",
            problem=report.problem,
            missing_from_seq=report.missing_from_seq or 0,
            missing_to_seq=report.missing_to_seq or 0,
            checkpoint_seq=report.checkpoint_seq or 0,
            checkpoint_at=to_timestamp(report.checkpoint_at),
            unkeyed_count=report.unkeyed_count,
        )


def exports_servicer(exports: Exports) -> Servicer:
    return Servicer.answering(
        exports_pb2_grpc.ExportsServiceServicer,
        RequestExport=respond(exports_pb2.RequestExportResponse, export_request=exports.request),
        DecideExport=respond(exports_pb2.DecideExportResponse, export_request=exports.decide),
        RunExport=exports.run,
        GetExportRequest=respond(
            exports_pb2.GetExportRequestResponse,
            export_request=lambda request: exports.get(request.id),
        ),
        ListExportRequests=exports.list_requests,
    )


def lookups_servicer(lookups: Lookups) -> Servicer:
    """Lookups for other services: IDs, owners and distances, never contact data. SYSTEM
    only, but GetOrderableCustomer, which is asked as the person acting."""
    return Servicer.answering(
        lookups_pb2_grpc.CustomerLookupServiceServicer,
        FindNearbyCustomers=lookups.find_nearby,
        MatchPhoneIndexes=lookups.match_phone_indexes,
        ListFollowUpMarks=lookups.list_follow_up_marks,
        GetCustomerFacts=lookups.get_customer_facts,
        GetRegisteredSources=lookups.get_registered_sources,
        GetOrderableCustomer=lookups.get_orderable_customer,
        FindSimilarCustomers=lookups.find_similar_customers,
    )
