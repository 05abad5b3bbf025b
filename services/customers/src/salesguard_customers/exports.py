"""Customer exports: request → approval by another manager → one CSV, downloaded once.

Who may decide and when a request runs are :mod:`.rules.exports`.

The customer set is fixed when requested, within the requester's scope. The
export runs only once approved; an attempt before that is refused and raises
EXPORT_WITHOUT_APPROVAL. The CSV goes to the object store under a fresh key
(never overwriting), its row count and SHA-256 are recorded, and the download
URL is handed out once: a one-time download (:mod:`salesguard.downloads`) that
only the requester can use, once, before it expires. The download and every
refused attempt are audited (``customer.export.download``,
``customer.export.download_refused``). No cell starts a spreadsheet formula
(:class:`~salesguard.csvsafe.SafeCsvWriter`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.alerts import AlertDraft, raise_alert_now
from salesguard.batching import chunks
from salesguard.csvsafe import SafeCsvWriter
from salesguard.db import new_id, utcnow
from salesguard.downloads import (
    CSV_CONTENT_TYPE,
    CsvExport,
    DownloadAttempt,
    DownloadColumns,
    DownloadFile,
    OneTimeDownloads,
)
from salesguard.errors import (
    ErrorCode,
    FailedPrecondition,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceError,
)
from salesguard.idempotency import IdempotentWrites
from salesguard.listing import enum_filter, one_of_ids
from salesguard.objectstore import ObjectStore
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.principal import Principal, current_principal
from salesguard.reads import Listing, one_by_id
from salesguard.timeutil import to_timestamp
from salesguard_api.customers.v1 import exports_pb2
from salesguard_customers import SERVICE_NAME, audit
from salesguard_customers.models import (
    Alert,
    Customer,
    ExportDownload,
    ExportRequest,
    IdempotencyKey,
)
from salesguard_customers.registry import SCOPE, Registry, row_masks
from salesguard_customers.rules import exports as rules

DECIDE_ACTION = "customers.export.decide"
# Where a manager may decide: the request's branch (the action's resource keys).
DECIDE_SCOPE = ScopeColumns(branch=ExportRequest.branch_id)
EXPORT_LISTING = Listing(ExportRequest, ExportRequest.requested_at, ExportRequest.id)
EXPORT_STATUSES = validation.enum_names(exports_pb2.ExportStatus, "EXPORT_STATUS_")
RUN_ACTION = "customers.export.run"
DOWNLOAD_ACTION = "customer.export.download"
DOWNLOAD_REFUSED_ACTION = "customer.export.download_refused"
CSV_COLUMNS = (
    "code",
    "name",
    "company",
    "phone",
    "email",
    "address",
    "lat",
    "lng",
    "source",
    "source_detail",
    "owner_id",
    "first_contact_at",
    "registered_at",
)


def export_to_proto(
    row: ExportRequest, downloaded_at: datetime | None = None
) -> exports_pb2.ExportRequest:
    return exports_pb2.ExportRequest(
        id=row.id,
        requester_id=row.requester_id,
        branch_id=row.branch_id or "",
        reason=row.reason,
        status=exports_pb2.ExportStatus.Value(f"EXPORT_STATUS_{row.status}"),
        customer_count=len(row.customer_ids),
        decided_by=row.decided_by or "",
        decided_at=to_timestamp(row.decided_at),
        decision_comment=row.decision_comment,
        requested_at=to_timestamp(row.requested_at),
        row_count=row.row_count or 0,
        sha256=row.sha256 or "",
        completed_at=to_timestamp(row.completed_at),
        downloaded_at=to_timestamp(downloaded_at),
    )


def file_entry(
    actor_id: str, action: str, customer_ids: Sequence[str], file: DownloadFile | DownloadColumns
) -> audit.AuditEntry:
    """The audit entry of an export's file, as it was run or downloaded: which request,
    how many rows, which bytes."""
    return audit.AuditEntry(
        actor_id=actor_id,
        action=action,
        customer_ids=list(customer_ids),
        fields=list(CSV_COLUMNS),
        after={
            "export_request_id": file.subject_id,
            "row_count": file.row_count,
            "sha256": file.sha256,
        },
        branch_id=file.branch_id,
    )


async def record_download(session: AsyncSession, attempt: DownloadAttempt) -> None:
    """An export's download, or a refused attempt at one, in the audit trail."""
    ticket, refusal = attempt.ticket, attempt.refusal
    if refusal is not None:
        after: dict[str, Any] = {"refusal": refusal.value}
        if ticket is not None:
            after |= {"export_request_id": ticket.subject_id, "owner_id": ticket.owner_id}
        entry = audit.AuditEntry(
            actor_id=attempt.actor.id,
            action=DOWNLOAD_REFUSED_ACTION,
            after=after,
            reason=refusal.value,
            # An unknown token names no export: filed under the branch of who tried it.
            branch_id=ticket.branch_id if ticket is not None else attempt.actor.branch_id,
        )
    else:
        assert ticket is not None
        export = await session.get(ExportRequest, ticket.subject_id)
        customer_ids = export.customer_ids if export is not None else []
        entry = file_entry(attempt.actor.id, DOWNLOAD_ACTION, customer_ids, ticket)
    await audit.append(session, [entry])


class Exports:
    def __init__(self, registry: Registry, objects: ObjectStore) -> None:
        self.registry = registry
        self.db = registry.db
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)
        self.policy = registry.policy
        self.settings = registry.settings
        self.objects = objects
        self.downloads = OneTimeDownloads(
            service=SERVICE_NAME,
            db=self.db,
            objects=objects,
            policy=self.policy,
            model=ExportDownload,
            public_url=self.settings.public_url,
            # Asked again at download: a requester who may no longer run it may not download.
            action=RUN_ACTION,
            resource_of=lambda ticket: {"requester_id": ticket.owner_id},
            record=record_download,
        )

    async def request(self, request: exports_pb2.RequestExportRequest) -> exports_pb2.ExportRequest:
        principal = current_principal()
        (await self.policy.decide(principal, "customers.export.request")).require(
            "customers.export.request"
        )
        reason = validation.text(
            "reason", request.reason, required=True, max_length=validation.REASON_LENGTH
        )
        read = await self.registry.read_decision(principal)
        limit = self.settings.export_max_rows
        query = select(Customer.id).where(scope_filter(read, SCOPE))
        if request.customer_ids:
            ids = list(dict.fromkeys(request.customer_ids))
            if len(ids) > limit:
                raise InvalidInput("customer_ids", f"an export holds at most {limit} customers")
            query = query.where(Customer.id.in_(ids))
        else:
            query = query.where(*self.registry.filter_conditions(request.filter))
        async with self.db.read() as session:
            customer_ids = list(
                (await session.scalars(query.order_by(Customer.number).limit(limit + 1))).all()
            )
        if len(customer_ids) > limit:
            raise InvalidInput(
                "filter", f"the filter matches more than {limit} customers; narrow it"
            )
        if not customer_ids:
            raise InvalidInput("customer_ids", "no customers in your scope match this request")

        async def insert(session: AsyncSession) -> exports_pb2.RequestExportResponse:
            row = ExportRequest(
                id=new_id(),
                requester_id=principal.id,
                branch_id=principal.branch_id,
                reason=reason,
                status=rules.PENDING,
                customer_ids=customer_ids,
                requested_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            await audit.record(
                session,
                audit.AuditEntry(
                    actor_id=principal.id,
                    action="customer.export.request",
                    customer_ids=customer_ids,
                    reason=reason,
                    after={"export_request_id": row.id},
                    branch_id=principal.branch_id,
                ),
            )
            return exports_pb2.RequestExportResponse(export_request=export_to_proto(row))

        response = await self.idempotent.run(
            principal.id, request, exports_pb2.RequestExportResponse, insert
        )
        return response.export_request

    async def _load(
        self, session: AsyncSession, export_id: str, *, lock: bool = False
    ) -> ExportRequest:
        row = await session.get(ExportRequest, export_id, with_for_update=lock)
        if row is None:
            raise NotFound(f"export request {export_id} not found")
        return row

    async def visible_to(
        self, principal: Principal, *, awaiting_decision: bool = False
    ) -> ColumnElement[bool]:
        """The export requests ``principal`` may see, as one SQL condition from one
        decision: their own, and those the managers who may decide them see (the
        policy's ``customers.export.decide`` asked with no resource: its scopes; nobody
        decides their own, but they see it as its requester). Get and List both use it.

        ``awaiting_decision``: only the pending ones ``principal`` may decide, so a
        manager's queue leaves out their own requests, which another manager decides."""
        decision = await self.policy.decide(principal, DECIDE_ACTION)
        decidable = scope_filter(decision, DECIDE_SCOPE)
        if awaiting_decision:
            return and_(
                decidable,
                ExportRequest.status == rules.PENDING,
                ExportRequest.requester_id != principal.id,
            )
        return or_(ExportRequest.requester_id == principal.id, decidable)

    async def _downloaded_at(
        self, session: AsyncSession, ids: list[str]
    ) -> dict[str, datetime | None]:
        if not ids:
            return {}
        rows = await session.execute(
            select(ExportDownload.subject_id, ExportDownload.consumed_at).where(
                ExportDownload.subject_id.in_(ids), ExportDownload.consumed_at.is_not(None)
            )
        )
        return dict(rows.tuples().all())

    async def get(self, export_id: str) -> exports_pb2.ExportRequest:
        visible = await self.visible_to(current_principal())
        async with self.db.read() as session:
            row = await one_by_id(session, ExportRequest, export_id, visible, noun="export request")
            downloaded = await self._downloaded_at(session, [row.id])
        return export_to_proto(row, downloaded.get(row.id))

    async def list_requests(
        self, request: exports_pb2.ListExportRequestsRequest
    ) -> exports_pb2.ListExportRequestsResponse:
        """The requests the caller may see (:meth:`visible_to`), newest first."""
        size = validation.page_size(
            "page.page_size", request.page.page_size, self.settings.page_limits
        )
        conditions = [
            *enum_filter(
                ExportRequest.status, "filter.statuses", request.filter.statuses, EXPORT_STATUSES
            ),
            await self.visible_to(
                current_principal(), awaiting_decision=request.filter.awaiting_my_decision
            ),
            *one_of_ids(ExportRequest.id, "filter.ids", request.filter.ids),
        ]
        async with self.db.read() as session:
            page, total = await EXPORT_LISTING.read(session, conditions, request.page, size)
            downloaded = await self._downloaded_at(session, [row.id for row in page.rows])
        return exports_pb2.ListExportRequestsResponse(
            export_requests=[export_to_proto(row, downloaded.get(row.id)) for row in page.rows],
            cursors=page.cursors,
            page_info=page.page_info(total),
        )

    async def decide(self, request: exports_pb2.DecideExportRequest) -> exports_pb2.ExportRequest:
        principal = current_principal()
        async with self.db.transaction() as session:
            row = await self._load(session, request.id, lock=True)
            decision = await self.policy.decide(
                principal,
                DECIDE_ACTION,
                {"requester_id": row.requester_id, "branch_id": row.branch_id},
            )
            if not decision.allow:
                if rules.is_self_approval(row.requester_id, principal.id, decision.reasons):
                    raise Forbidden(
                        "nobody decides their own export request",
                        details={"reasons": "SELF_APPROVAL"},
                    )
                decision.require("customers.export.decide")
            comment = validation.text(
                "comment", request.comment, max_length=validation.REASON_LENGTH
            )
            if not rules.may_decide(row.status):
                raise FailedPrecondition(f"export request {row.id} is already {row.status}")
            row.status = rules.decided_status(request.approve)
            row.decided_by = principal.id
            row.decided_at = utcnow()
            row.decision_comment = comment
            await audit.record(
                session,
                audit.AuditEntry(
                    actor_id=principal.id,
                    action="customer.export.approve"
                    if request.approve
                    else "customer.export.reject",
                    customer_ids=list(row.customer_ids),
                    reason=comment,
                    after={"export_request_id": row.id, "status": row.status},
                    branch_id=row.branch_id,
                ),
            )
        return export_to_proto(row)

    async def run(self, request: exports_pb2.RunExportRequest) -> exports_pb2.RunExportResponse:
        principal = current_principal()
        async with self.db.read() as session:
            row = await self._load(session, request.id)
        decision = await self.policy.decide(
            principal, RUN_ACTION, {"requester_id": row.requester_id}
        )
        if not decision.allow:
            raise Forbidden(
                "only the requester runs an approved export",
                details={"reasons": ",".join(decision.reasons)},
            )
        verdict = rules.run_verdict(row.status)
        if verdict is rules.RunVerdict.ALREADY_RAN:
            raise FailedPrecondition(
                f"export request {row.id} already ran; its download URL is issued once"
            )
        if verdict is rules.RunVerdict.WITHOUT_APPROVAL:
            await self._refuse_unapproved(row)
        read = await self.registry.read_decision(principal)
        export = await self._render_csv(list(row.customer_ids), read)
        # A fresh key per attempt: a crash after the upload leaves an orphan, never an overwrite.
        key = f"exports/{row.id}/{new_id()}.csv"
        await self.objects.put(key, export.data, CSV_CONTENT_TYPE)
        ttl = timedelta(seconds=self.settings.export_url_ttl_seconds)
        async with self.db.transaction() as session:
            current = await self._load(session, row.id, lock=True)
            if rules.run_verdict(current.status) is not rules.RunVerdict.RUN:
                raise FailedPrecondition(f"export request {row.id} is {current.status}")
            current.status = rules.COMPLETED
            current.row_count = export.row_count
            current.sha256 = export.sha256
            current.object_key = key
            current.completed_at = utcnow()
            file = export.file(
                current.id, key, f"customer-export-{current.id}.csv", current.branch_id
            )
            await audit.record(
                session, file_entry(principal.id, "customer.export", current.customer_ids, file)
            )
            download = await self.downloads.issue(session, file, owner_id=principal.id, ttl=ttl)
            row = current
        return exports_pb2.RunExportResponse(
            export_request=export_to_proto(row),
            download_url=download.url,
            download_url_expires_at=to_timestamp(download.expires_at),
        )

    async def _refuse_unapproved(self, row: ExportRequest) -> None:
        principal = current_principal()
        await raise_alert_now(
            self.db,
            Alert,
            AlertDraft(
                kind=rules.EXPORT_WITHOUT_APPROVAL,
                dedupe_key=rules.without_approval_dedupe_key(row.id, principal.id, row.status),
                employee_id=principal.id,
                branch_id=row.branch_id,
                evidence={
                    "export_request_id": row.id,
                    "request_status": row.status,
                    "customer_count": len(row.customer_ids),
                },
            ),
            source=SERVICE_NAME,
        )
        raise ServiceError(
            f"export request {row.id} is {row.status}; an export needs another manager's approval",
            code=ErrorCode.EXPORT_WITHOUT_APPROVAL,
            details={"export_request_id": row.id, "status": row.status},
        )

    async def _render_csv(self, customer_ids: list[str], read: Decision) -> CsvExport:
        buffer = io.StringIO()
        writer = SafeCsvWriter(buffer)
        writer.writerow(CSV_COLUMNS)
        count = 0
        async with self.db.read() as session:
            for chunk in chunks(customer_ids, 500):
                rows = (
                    await session.scalars(
                        select(Customer)
                        .where(Customer.id.in_(chunk), scope_filter(read, SCOPE))
                        .order_by(Customer.number)
                    )
                ).all()
                for customer in rows:
                    contact = self.registry.vault.read(customer, row_masks(read, customer))
                    writer.writerow(
                        [
                            customer.code,
                            customer.name,
                            customer.company,
                            contact.phone,
                            contact.email,
                            contact.address,
                            "" if customer.lat is None else customer.lat,
                            "" if customer.lng is None else customer.lng,
                            customer.source,
                            customer.source_detail,
                            customer.owner_id or "",
                            customer.first_contact_at.isoformat(),
                            customer.registered_at.isoformat(),
                        ]
                    )
                    count += 1
        return CsvExport(buffer.getvalue().encode(), count)
