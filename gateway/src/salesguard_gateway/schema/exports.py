"""Customer exports (customers ``ExportsService``, C9): requested, approved by another manager,
run once, downloaded once (``/downloads``, salesguard_gateway.downloads)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry

from salesguard_api.customers.v1 import exports_pb2
from salesguard_gateway.context import Info
from salesguard_gateway.schema.common import DOWNLOAD_URL_DESCRIPTION, idempotency_key_field
from salesguard_gateway.schema.conversions import converted, enum_numbers, from_timestamp
from salesguard_gateway.schema.customers import CustomerFilter
from salesguard_gateway.schema.enums import ExportStatus
from salesguard_gateway.schema.nodes import GlobalID, Node, raw_id, raw_ids
from salesguard_gateway.schema.people import BRANCH, EMPLOYEE
from salesguard_gateway.schema.resolvers import Listing, by_id, listed, mutation


@strawberry.type(
    description="A request to export customers to a CSV file (C9): another manager approves "
    "it, then the requester runs it once and downloads the file once. Its requester sees it, "
    "and so do the managers who may decide it (its branch's; a headquarters manager: any); "
    "to anyone else it is NOT_FOUND (exportRequest) or absent (exportRequests)."
)
class ExportRequest(Node):
    reason: str = strawberry.field(description="Why the requester needs the export.")
    status: ExportStatus | None = strawberry.field(
        description="Where the request stands: pending, approved, rejected or completed."
    )
    customer_count: int = strawberry.field(
        description="How many customers the export holds (fixed when requested)."
    )
    requested_at: datetime | None = strawberry.field(description="When it was requested.")
    decided_at: datetime | None = strawberry.field(
        description="When a manager approved or rejected it; null while pending."
    )
    decision_comment: str | None = strawberry.field(
        description="The deciding manager's comment; null if none."
    )
    row_count: int | None = strawberry.field(description="Set once the export ran.")
    sha256: str | None = strawberry.field(description="SHA-256 of the CSV, once the export ran.")
    completed_at: datetime | None = strawberry.field(
        description="When the export ran; null until then."
    )
    downloaded_at: datetime | None = strawberry.field(
        description="When the requester downloaded the file (it is handed out once)."
    )
    requester_id: strawberry.Private[str]
    decided_by_id: strawberry.Private[str]
    branch_id: strawberry.Private[str]

    requester = EMPLOYEE.field(
        "requester_id", "The employee who asked; null when the caller may not see them."
    )

    decided_by = EMPLOYEE.field(
        "decided_by_id",
        "The manager who approved or rejected it; null while pending or when the caller may "
        "not see them.",
    )

    branch = BRANCH.field("branch_id", "The requester's branch, whose managers decide it.")


def export_request_from_proto(message: exports_pb2.ExportRequest) -> ExportRequest:
    completed_at = from_timestamp(message.completed_at)
    return converted(
        ExportRequest,
        message,
        row_count=message.row_count if completed_at is not None else None,
        completed_at=completed_at,
        decided_by_id=message.decided_by,
    )


EXPORT_REQUESTS = Listing(
    "exports",
    exports_pb2.ListExportRequestsRequest,
    "export_requests",
    export_request_from_proto,
    exports_pb2.ExportRequestFilter,
)


@strawberry.input(
    description="Which export requests to list, within what the caller may see (see "
    "ExportRequest); the conditions given all apply."
)
class ExportRequestFilter:
    statuses: list[ExportStatus] | None = strawberry.field(
        default=None,
        description="Only requests in one of these statuses.",
    )
    awaiting_my_decision: bool = strawberry.field(
        default=False,
        description=(
            "Only pending requests the caller may decide: a manager's approval queue, "
            "without the caller's own requests (another manager decides those)."
        ),
    )

    def to_proto(self) -> exports_pb2.ExportRequestFilter:
        return exports_pb2.ExportRequestFilter(
            statuses=enum_numbers(self.statuses), awaiting_my_decision=self.awaiting_my_decision
        )


@strawberry.input(description="Either customerIds or a filter; the set is fixed when requested.")
class RequestCustomerExportInput:
    customer_ids: list[GlobalID] | None = strawberry.field(
        default=None,
        description="The customers to export; those outside the caller's scope are left out.",
    )
    filter: CustomerFilter | None = strawberry.field(
        default=None,
        description="Without customerIds: every customer in the caller's scope that matches.",
    )
    reason: str = strawberry.field(description="Why the export is needed (required, audited).")
    idempotency_key: str | None = idempotency_key_field()


@strawberry.type(description="What requestCustomerExport returns.")
class RequestCustomerExportPayload:
    export_request: ExportRequest = strawberry.field(description="The new, pending request.")


@strawberry.input(description="A manager's decision on a pending export request.")
class DecideExportRequestInput:
    id: GlobalID = strawberry.field(description="The export request to decide.")
    approve: bool = strawberry.field(description="True approves it, false rejects it.")
    comment: str | None = strawberry.field(
        default=None, description="Why; recorded with the decision and audited."
    )


@strawberry.type(description="What decideExportRequest returns.")
class DecideExportRequestPayload:
    export_request: ExportRequest = strawberry.field(description="The request as decided.")


@strawberry.input(description="Which approved export request to run.")
class RunCustomerExportInput:
    id: GlobalID = strawberry.field(description="The export request to run.")


@strawberry.type(description="What runCustomerExport returns: the completed request and its file.")
class RunCustomerExportPayload:
    export_request: ExportRequest = strawberry.field(
        description="The request, now completed (rowCount, sha256, completedAt set)."
    )
    download_url: str = strawberry.field(description=DOWNLOAD_URL_DESCRIPTION)
    download_url_expires_at: datetime | None = strawberry.field(
        description="When downloadUrl stops working (SALESGUARD_EXPORT_URL_TTL_SECONDS)."
    )


async def read_export_request(info: Info, request_id: str) -> ExportRequest:
    """One export request by its service ID."""
    response = await info.context.clients.exports.GetExportRequest(
        exports_pb2.GetExportRequestRequest(id=request_id)
    )
    return export_request_from_proto(response.export_request)


async def read_export_requests(info: Info, request_ids: Sequence[str]) -> list[ExportRequest]:
    """The export requests among ``request_ids`` the caller may see, in one call (nodes)."""
    return await EXPORT_REQUESTS.by_ids(info, request_ids)


@strawberry.type
class ExportsQuery:
    export_request = by_id(
        ExportRequest,
        "The export request's ID.",
        read_export_request,
        "One export request: for its requester and the managers who may decide it; "
        "NOT_FOUND for anyone else.",
    )
    export_requests = listed(
        ExportRequest,
        EXPORT_REQUESTS.first,
        ExportRequestFilter,
        "Which export requests to list.",
        "Export requests the caller may see, as exportRequest decides: their own, and those "
        "they may decide as a manager (their branch's; a headquarters manager: any branch's), "
        "newest requested first. Anyone else gets an empty list. With statuses [PENDING]: a "
        "manager's approval queue (it lists their own pending requests too, which another "
        "manager decides).",
    )


@strawberry.type
class ExportsMutation:
    @mutation(
        "Ask to export customers (C9): managers (customers of their branch) and HR (any "
        "customer; the file has contact fields masked); anyone else is FORBIDDEN. At most "
        "SALESGUARD_EXPORT_MAX_ROWS (10000) customers, else VALIDATION. Audited.",
        input="What to export and why.",
    )
    async def request_customer_export(
        self, info: Info, input: RequestCustomerExportInput
    ) -> RequestCustomerExportPayload:
        request = exports_pb2.RequestExportRequest(
            customer_ids=raw_ids(input.customer_ids, "Customer", "input.customerIds"),
            filter=input.filter.to_proto() if input.filter is not None else None,
            reason=input.reason,
            idempotency_key=input.idempotency_key or "",
        )
        response = await info.context.clients.exports.RequestExport(request)
        return RequestCustomerExportPayload(
            export_request=export_request_from_proto(response.export_request)
        )

    @mutation(
        "Approve or reject a pending export request: a manager of the requester's branch (a "
        "headquarters manager: any), never the requester (FORBIDDEN, SELF_APPROVAL). "
        "FAILED_PRECONDITION once decided. Audited.",
        input="The decision.",
    )
    async def decide_export_request(
        self, info: Info, input: DecideExportRequestInput
    ) -> DecideExportRequestPayload:
        request = exports_pb2.DecideExportRequest(
            id=raw_id(input.id, "ExportRequest", "input.id"),
            approve=input.approve,
            comment=input.comment or "",
        )
        response = await info.context.clients.exports.DecideExport(request)
        return DecideExportRequestPayload(
            export_request=export_request_from_proto(response.export_request)
        )

    @mutation(
        "Write the CSV of an approved export request and hand out its one-time download; "
        "only the requester (FORBIDDEN for anyone else), once (FAILED_PRECONDITION after). "
        "Without approval it is refused with EXPORT_WITHOUT_APPROVAL and raises an alert. "
        "Contact fields are masked as the requester reads them. Audited.",
        input="Which request to run.",
    )
    async def run_customer_export(
        self, info: Info, input: RunCustomerExportInput
    ) -> RunCustomerExportPayload:
        response = await info.context.clients.exports.RunExport(
            exports_pb2.RunExportRequest(id=raw_id(input.id, "ExportRequest", "input.id"))
        )
        return RunCustomerExportPayload(
            export_request=export_request_from_proto(response.export_request),
            download_url=response.download_url,
            download_url_expires_at=from_timestamp(response.download_url_expires_at),
        )
