"""gRPC servicers of the customers service: thin adapters over the registry, audit and exports."""

from __future__ import annotations

from google.protobuf import struct_pb2

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
    lookups_pb2,
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


class CustomersServicer(customers_pb2_grpc.CustomersServiceServicer):
    def __init__(self, registry: Registry, shared_criteria: SharedCriteria) -> None:
        self._registry = registry
        self._registrar = Registrar(registry)
        self._changes = CustomerChanges(registry)
        self._follow_ups = FollowUps(registry)
        self._shared_criteria = shared_criteria

    async def RegisterCustomer(
        self, request: pb.RegisterCustomerRequest, context: Context
    ) -> pb.RegisterCustomerResponse:
        return await self._registrar.register(request)

    async def GetCustomer(
        self, request: pb.GetCustomerRequest, context: Context
    ) -> pb.GetCustomerResponse:
        return pb.GetCustomerResponse(customer=await self._registry.get(request))

    async def BatchGetCustomers(
        self, request: pb.BatchGetCustomersRequest, context: Context
    ) -> pb.BatchGetCustomersResponse:
        return pb.BatchGetCustomersResponse(customers=await self._registry.batch_get(request))

    async def ListCustomers(
        self, request: pb.ListCustomersRequest, context: Context
    ) -> pb.ListCustomersResponse:
        return await self._registry.list_customers(request)

    async def UpdateCustomer(
        self, request: pb.UpdateCustomerRequest, context: Context
    ) -> pb.UpdateCustomerResponse:
        return pb.UpdateCustomerResponse(customer=await self._changes.update(request))

    async def RecordFollowUp(
        self, request: pb.RecordFollowUpRequest, context: Context
    ) -> pb.RecordFollowUpResponse:
        return await self._follow_ups.record_follow_up(request)

    async def ListFollowUps(
        self, request: pb.ListFollowUpsRequest, context: Context
    ) -> pb.ListFollowUpsResponse:
        return await self._follow_ups.list_follow_ups(request)

    async def ReassignCustomers(
        self, request: pb.ReassignCustomersRequest, context: Context
    ) -> pb.ReassignCustomersResponse:
        return pb.ReassignCustomersResponse(customers=await self._changes.reassign(request))

    async def SyncOwner(
        self, request: pb.SyncOwnerRequest, context: Context
    ) -> pb.SyncOwnerResponse:
        return pb.SyncOwnerResponse(updated_count=await self._changes.sync_owner(request))

    async def SetCriterionShared(
        self, request: pb.SetCriterionSharedRequest, context: Context
    ) -> pb.SetCriterionSharedResponse:
        return await self._shared_criteria.set(request)


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


class ExportsServicer(exports_pb2_grpc.ExportsServiceServicer):
    def __init__(self, exports: Exports) -> None:
        self._exports = exports

    async def RequestExport(
        self, request: exports_pb2.RequestExportRequest, context: Context
    ) -> exports_pb2.RequestExportResponse:
        return exports_pb2.RequestExportResponse(
            export_request=await self._exports.request(request)
        )

    async def DecideExport(
        self, request: exports_pb2.DecideExportRequest, context: Context
    ) -> exports_pb2.DecideExportResponse:
        return exports_pb2.DecideExportResponse(export_request=await self._exports.decide(request))

    async def RunExport(
        self, request: exports_pb2.RunExportRequest, context: Context
    ) -> exports_pb2.RunExportResponse:
        return await self._exports.run(request)

    async def GetExportRequest(
        self, request: exports_pb2.GetExportRequestRequest, context: Context
    ) -> exports_pb2.GetExportRequestResponse:
        return exports_pb2.GetExportRequestResponse(
            export_request=await self._exports.get(request.id)
        )

    async def ListExportRequests(
        self, request: exports_pb2.ListExportRequestsRequest, context: Context
    ) -> exports_pb2.ListExportRequestsResponse:
        return await self._exports.list_requests(request)


class LookupsServicer(lookups_pb2_grpc.CustomerLookupServiceServicer):
    """Lookups for other services: IDs, owners and distances, never contact data. SYSTEM
    only, but GetOrderableCustomer, which is asked as the person acting."""

    def __init__(self, lookups: Lookups) -> None:
        self._lookups = lookups

    async def FindNearbyCustomers(
        self, request: lookups_pb2.FindNearbyCustomersRequest, context: Context
    ) -> lookups_pb2.FindNearbyCustomersResponse:
        return await self._lookups.find_nearby(request)

    async def MatchPhoneIndexes(
        self, request: lookups_pb2.MatchPhoneIndexesRequest, context: Context
    ) -> lookups_pb2.MatchPhoneIndexesResponse:
        return await self._lookups.match_phone_indexes(request)

    async def ListFollowUpMarks(
        self, request: lookups_pb2.ListFollowUpMarksRequest, context: Context
    ) -> lookups_pb2.ListFollowUpMarksResponse:
        return await self._lookups.list_follow_up_marks(request)

    async def GetCustomerFacts(
        self, request: lookups_pb2.GetCustomerFactsRequest, context: Context
    ) -> lookups_pb2.GetCustomerFactsResponse:
        return await self._lookups.get_customer_facts(request)

    async def GetRegisteredSources(
        self, request: lookups_pb2.GetRegisteredSourcesRequest, context: Context
    ) -> lookups_pb2.GetRegisteredSourcesResponse:
        return await self._lookups.get_registered_sources(request)

    async def GetOrderableCustomer(
        self, request: lookups_pb2.GetOrderableCustomerRequest, context: Context
    ) -> lookups_pb2.GetOrderableCustomerResponse:
        return await self._lookups.get_orderable_customer(request)
