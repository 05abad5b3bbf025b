"""Commission statements and the payroll export of a period.

A statement is one employee's lines of a month, in a fixed order, with totals
per currency (payable, withheld, pending review, clawback) that are the sums
of its lines to the cent. ``commissions.read`` decides once per request; its
scope (own employee, team, branch, all) becomes one SQL filter over the lines,
which carry the employee, their team and the branch.

The export is a CSV of a period's lines for payroll, deterministic (sorted,
fixed columns, nothing about the export itself), stored under a key derived
from its SHA-256: an identical export reuses the stored object, so two runs of
one period with the same inputs hand out byte-identical files. Its cells are
written through :class:`~salesguard.csvsafe.SafeCsvWriter`: none starts a
spreadsheet formula (a negative amount reads ``'-12.50``). Each export hands out
a one-time download (:mod:`salesguard.downloads`) for the employee who exported;
the download and every refused attempt are logged in ``download_events``.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.csvsafe import SafeCsvWriter
from salesguard.db import utcnow
from salesguard.downloads import CSV_CONTENT_TYPE, CsvExport, DownloadAttempt, OneTimeDownloads
from salesguard.errors import Conflict, FailedPrecondition, Forbidden
from salesguard.money import minor_to_decimal, percent_to_proto, to_proto
from salesguard.policy import Decision, ScopeColumns, scope_filter
from salesguard.principal import current_principal
from salesguard.service import Runtime
from salesguard.telemetry import current_trace_id
from salesguard.timeutil import to_timestamp
from salesguard_api.commissions.v1 import commissions_pb2 as pb
from salesguard_api.customers.v1 import customers_pb2
from salesguard_commissions import SERVICE_NAME
from salesguard_commissions.models import Download, DownloadEvent, Line, Period
from salesguard_commissions.peers import Peers
from salesguard_commissions.rules.periods import Period as Month
from salesguard_commissions.rules.vocabulary import LOCKED, empty_totals, total_bucket
from salesguard_commissions.settings import CommissionsSettings

log = logging.getLogger(__name__)

READ_ACTION = "commissions.read"
EXPORT_ACTION = "commissions.export"
SCOPE = ScopeColumns(owner=Line.employee_id, team=Line.team_id, branch=Line.branch_id)
EXPORT_PARTITION = 5000
DOWNLOADED = "DOWNLOADED"

CSV_COLUMNS = (
    "line_id",
    "period",
    "branch_id",
    "employee_id",
    "team_id",
    "order_code",
    "order_id",
    "customer_id",
    "kind",
    "status",
    "base",
    "rate_percent",
    "amount",
    "currency",
    "reason",
    "alert_ids",
    "source_claim",
    "registered_source",
    "plan_version",
    "fully_paid_at",
)

# One order for statements and exports: commissions before clawbacks, then by payment time.
LINE_ORDER = (
    Line.kind.desc(),  # COMMISSION before CLAWBACK
    Line.fully_paid_at.asc().nulls_last(),
    Line.order_code,
    Line.id,
)


def _source(name: str) -> customers_pb2.SourceChannel.ValueType:
    if not name:
        return customers_pb2.SOURCE_CHANNEL_UNSPECIFIED
    return customers_pb2.SourceChannel.Value(f"SOURCE_CHANNEL_{name}")


def line_to_proto(row: Line) -> pb.CommissionLine:
    return pb.CommissionLine(
        id=row.id,
        period=row.period,
        branch_id=row.branch_id,
        employee_id=row.employee_id,
        order_id=row.order_id,
        order_code=row.order_code,
        customer_id=row.customer_id,
        kind=pb.LineKind.Value(f"LINE_KIND_{row.kind}"),
        status=pb.LineStatus.Value(f"LINE_STATUS_{row.status}"),
        base=to_proto(row.base_minor),
        rate_percent=percent_to_proto(row.rate_bp),
        amount=to_proto(row.amount_minor),
        currency=row.currency,
        reason=row.reason,
        alert_ids=list(row.alert_ids or []),
        source_claim=_source(row.source_claim),
        registered_source=_source(row.registered_source),
        plan_version=row.plan_version,
        fully_paid_at=to_timestamp(row.fully_paid_at),
    )


def totals_of(lines: Sequence[Line]) -> list[pb.StatementTotal]:
    """Per currency: the sum of each bucket's lines, in cents, exactly."""
    sums: dict[str, dict[str, int]] = {}
    for line in lines:
        bucket = sums.setdefault(line.currency, empty_totals())
        bucket[total_bucket(line.kind, line.status)] += line.amount_minor
    return [
        pb.StatementTotal(
            currency=currency, **{name: to_proto(minor) for name, minor in bucket.items()}
        )
        for currency, bucket in sorted(sums.items())
    ]


def csv_row(line: Any) -> list[str]:
    """A line (an ORM object or a Core row of the lines table) as CSV fields."""
    return [
        line.id,
        line.period,
        line.branch_id,
        line.employee_id,
        line.team_id or "",
        line.order_code,
        line.order_id,
        line.customer_id,
        line.kind,
        line.status,
        str(minor_to_decimal(line.base_minor)),
        percent_to_proto(line.rate_bp).value,
        str(minor_to_decimal(line.amount_minor)),
        line.currency,
        line.reason,
        " ".join(line.alert_ids or []),
        line.source_claim,
        line.registered_source,
        str(line.plan_version),
        line.fully_paid_at.isoformat() if line.fully_paid_at else "",
    ]


async def record_download(session: AsyncSession, attempt: DownloadAttempt) -> None:
    """A payroll export's download, or a refused attempt at one, in the download log."""
    ticket = attempt.ticket
    session.add(
        DownloadEvent(
            at=utcnow(),
            actor_id=attempt.actor.id,
            subject_id=ticket.subject_id if ticket is not None else None,
            owner_id=ticket.owner_id if ticket is not None else None,
            outcome=attempt.refusal.value if attempt.refusal is not None else DOWNLOADED,
            trace_id=current_trace_id() or "",
        )
    )
    await session.flush()


class Statements:
    def __init__(self, runtime: Runtime[CommissionsSettings]) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.peers = Peers(runtime.channels, runtime.settings.stream_timeout_seconds)
        self.downloads = OneTimeDownloads(
            service=SERVICE_NAME,
            db=runtime.db,
            objects=runtime.objects,
            policy=runtime.policy,
            model=Download,
            public_url=runtime.settings.public_url,
            # Asked again at download: one who may no longer export may not download.
            action=EXPORT_ACTION,
            resource_of=lambda ticket: None,
            record=record_download,
        )

    async def statement(self, employee_id: str, period: str) -> pb.CommissionStatement:
        principal = current_principal()
        employee_id = validation.directory_id("employee_id", employee_id, required=True)
        month = str(Month.parse(period))
        decision = (await self.policy.decide(principal, READ_ACTION)).require(READ_ACTION)
        async with self.db.read() as session:
            lines = list(
                (
                    await session.scalars(
                        select(Line)
                        .where(
                            Line.employee_id == employee_id,
                            Line.period == month,
                            scope_filter(decision, SCOPE),
                        )
                        .order_by(Line.branch_id, *LINE_ORDER)
                    )
                ).all()
            )
        branch_ids = {line.branch_id for line in lines}
        if not lines:
            branch_id = await self._check_covers(decision, employee_id)
            if branch_id:
                branch_ids.add(branch_id)
        return pb.CommissionStatement(
            employee_id=employee_id,
            period=month,
            lines=[line_to_proto(line) for line in lines],
            totals=totals_of(lines),
            period_status=await self._period_status(month, branch_ids),
        )

    async def _check_covers(self, decision: Decision, employee_id: str) -> str | None:
        """With no visible line, the employee must still lie in the caller's scope (else
        FORBIDDEN, never an empty statement of someone else); returns their branch."""
        employee = (await self.peers.employees([employee_id])).get(employee_id)
        team_id = (employee.team_id or None) if employee else None
        branch_id = (employee.branch_id or None) if employee else None
        # covering_grant finds an ALL grant too (it covers every row).
        if decision.covering_grant(employee_id, team_id, branch_id) is None:
            raise Forbidden(
                f"{READ_ACTION} is not permitted for employee {employee_id} (OUT_OF_SCOPE)",
                details={"action": READ_ACTION, "reasons": "OUT_OF_SCOPE"},
            )
        return branch_id

    async def _period_status(self, period: str, branch_ids: set[str]) -> pb.PeriodStatus.ValueType:
        """LOCKED when every branch period of the lines is locked; OPEN when one is open."""
        if not branch_ids:
            return pb.PERIOD_STATUS_UNSPECIFIED
        async with self.db.read() as session:
            statuses = set(
                (
                    await session.scalars(
                        select(Period.status).where(
                            Period.period == period, Period.branch_id.in_(sorted(branch_ids))
                        )
                    )
                ).all()
            )
        if not statuses:
            return pb.PERIOD_STATUS_UNSPECIFIED
        if statuses == {LOCKED}:
            return pb.PERIOD_STATUS_LOCKED
        return pb.PERIOD_STATUS_OPEN

    async def export(self, period: str, branch_id: str) -> pb.ExportCommissionPeriodResponse:
        principal = current_principal()
        (await self.policy.decide(principal, EXPORT_ACTION)).require(EXPORT_ACTION)
        month = str(Month.parse(period))
        branch_id = validation.directory_id("branch_id", branch_id)
        export = await self._render(month, branch_id)
        scope = f"{month}/{branch_id or 'all-branches'}"
        key = f"commissions/exports/{scope}/{export.sha256}.csv"
        if await self.runtime.objects.stat(key) is None:
            # Conflict: an identical export was stored meanwhile, the same bytes under its key.
            with contextlib.suppress(Conflict):
                await self.runtime.objects.put(key, export.data, CSV_CONTENT_TYPE)
        filename = f"commissions-{scope.replace('/', '-')}.csv"
        async with self.db.transaction() as session:
            download = await self.downloads.issue(
                session,
                export.file(scope, key, filename, branch_id or None),
                owner_id=principal.id,
                ttl=timedelta(seconds=self.settings.export_url_ttl_seconds),
            )
        log.info(
            "commission export",
            extra={
                "period": month,
                "branch_id": branch_id,
                "rows": export.row_count,
                "sha256": export.sha256,
                "actor": principal.id,
            },
        )
        return pb.ExportCommissionPeriodResponse(
            download_url=download.url,
            download_url_expires_at=to_timestamp(download.expires_at),
            row_count=export.row_count,
            sha256=export.sha256,
        )

    async def _render(self, period: str, branch_id: str) -> CsvExport:
        """The CSV of the period's lines, streamed from the database partition by partition."""
        chunks: list[bytes] = []
        buffer = io.StringIO()
        writer = SafeCsvWriter(buffer)
        writer.writerow(CSV_COLUMNS)
        count = 0
        conditions = [Line.period == period]
        period_rows = select(Period.branch_id).where(Period.period == period)
        if branch_id:
            conditions.append(Line.branch_id == branch_id)
            period_rows = period_rows.where(Period.branch_id == branch_id)
        async with self.db.read() as session:
            if (await session.scalar(period_rows.limit(1))) is None:
                raise FailedPrecondition(
                    f"period {period} has not run{' for branch ' + branch_id if branch_id else ''}",
                    details={"period": period, "branch_id": branch_id},
                )
            # Core rows, not ORM objects: a million lines stream without an identity map.
            result = await session.stream(
                select(*Line.__table__.columns)
                .where(*conditions)
                .order_by(Line.branch_id, Line.employee_id, *LINE_ORDER)
                .execution_options(yield_per=EXPORT_PARTITION)
            )
            async for partition in result.partitions():
                writer.writerows(csv_row(line) for line in partition)
                count += len(partition)
                chunks.append(buffer.getvalue().encode())
                buffer.seek(0)
                buffer.truncate()
        chunks.append(buffer.getvalue().encode())
        return CsvExport(b"".join(chunks), count)
