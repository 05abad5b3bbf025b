"""Customer exports (customers ``ExportsService``, C9): requested, approved by another manager,
run once, downloaded once (``/downloads``, salesguard_gateway.downloads)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from salesguard_api.customers.v1 import exports_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import (
    DOWNLOAD_URL_DESCRIPTION,
    from_timestamp,
    optional,
)
from salesguard_gateway.schema.customers import CustomerFilter
from salesguard_gateway.schema.enums import ExportStatus, export_status_of
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE


@strawberry.type
class ExportRequest:
    id: strawberry.ID
    reason: str
    status: ExportStatus | None
    customer_count: int
    requested_at: datetime | None
    decided_at: datetime | None
    decision_comment: str | None
    row_count: int | None = strawberry.field(description="Set once the export ran.")
    sha256: str | None = strawberry.field(description="SHA-256 of the CSV, once the export ran.")
    completed_at: datetime | None
    downloaded_at: datetime | None = strawberry.field(
        description="When the requester downloaded the file (it is handed out once)."
    )
    requester_id: strawberry.Private[str]
    decided_by_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]

    requester = EMPLOYEE.field("requester_id")

    decided_by = EMPLOYEE.field("decided_by_id")

    branch = BRANCH.field("branch_id")


def export_request_from_proto(message: exports_pb2.ExportRequest) -> ExportRequest:
    completed_at = from_timestamp(message.completed_at)
    return ExportRequest(
        id=strawberry.ID(message.id),
        reason=message.reason,
        status=export_status_of(message.status),
        customer_count=message.customer_count,
        requested_at=from_timestamp(message.requested_at),
        decided_at=from_timestamp(message.decided_at),
        decision_comment=optional(message.decision_comment),
        row_count=message.row_count if completed_at is not None else None,
        sha256=optional(message.sha256),
        completed_at=completed_at,
        downloaded_at=from_timestamp(message.downloaded_at),
        requester_id=message.requester_id,
        decided_by_id=message.decided_by,
        branch_id=message.branch_id,
    )


@strawberry.input(description="Either customerIds or a filter; the set is fixed when requested.")
class RequestCustomerExportInput:
    customer_ids: list[strawberry.ID] | None = None
    filter: CustomerFilter | None = None
    reason: str
    idempotency_key: str | None = None


@strawberry.type
class RequestCustomerExportPayload:
    export_request: ExportRequest


@strawberry.input
class DecideExportRequestInput:
    id: strawberry.ID
    approve: bool
    comment: str | None = None


@strawberry.type
class DecideExportRequestPayload:
    export_request: ExportRequest


@strawberry.input
class RunCustomerExportInput:
    id: strawberry.ID


@strawberry.type
class RunCustomerExportPayload:
    export_request: ExportRequest
    download_url: str = strawberry.field(description=DOWNLOAD_URL_DESCRIPTION)
    download_url_expires_at: datetime | None


@strawberry.type
class ExportsQuery:
    @strawberry.field
    async def export_request(self, info: Info, id: strawberry.ID) -> ExportRequest | None:
        response = await info.context.clients.exports.GetExportRequest(
            exports_pb2.GetExportRequestRequest(id=id)
        )
        return export_request_from_proto(response.export_request)


@strawberry.type
class ExportsMutation:
    @strawberry.mutation
    async def request_customer_export(
        self, info: Info, input: RequestCustomerExportInput
    ) -> RequestCustomerExportPayload | None:
        request = exports_pb2.RequestExportRequest(
            customer_ids=list(input.customer_ids or ()),
            filter=input.filter.to_proto() if input.filter is not None else None,
            reason=input.reason,
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.exports.RequestExport(request)
        return RequestCustomerExportPayload(
            export_request=export_request_from_proto(response.export_request)
        )

    @strawberry.mutation
    async def decide_export_request(
        self, info: Info, input: DecideExportRequestInput
    ) -> DecideExportRequestPayload | None:
        request = exports_pb2.DecideExportRequest(
            id=input.id, approve=input.approve, comment=input.comment or ""
        )
        response = await info.context.clients.exports.DecideExport(request)
        return DecideExportRequestPayload(
            export_request=export_request_from_proto(response.export_request)
        )

    @strawberry.mutation
    async def run_customer_export(
        self, info: Info, input: RunCustomerExportInput
    ) -> RunCustomerExportPayload | None:
        response = await info.context.clients.exports.RunExport(
            exports_pb2.RunExportRequest(id=input.id)
        )
        return RunCustomerExportPayload(
            export_request=export_request_from_proto(response.export_request),
            download_url=response.download_url,
            download_url_expires_at=from_timestamp(response.download_url_expires_at),
        )
