"""Call logs from telephony, imported idempotently and matched to customers blindly; the
rules are :mod:`salesguard_attendance.rules.calls`'s.

A number is normalised to E.164 and turned into the blind index the customers
service keeps for phones (same key, same HMAC): only those digests travel to
the customers service, and only the digest and a masked form are stored here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard import validation
from salesguard.crypto import BlindIndex
from salesguard.db import insert_new, new_id, utcnow
from salesguard.errors import InvalidInput
from salesguard.idempotency import IdempotentWrites
from salesguard.listing import equal_to, period, scoped_page_size
from salesguard.masking import mask_phone
from salesguard.phones import PHONE_INDEX_KIND, normalise_phone
from salesguard.policy import ScopeColumns, scope_filter
from salesguard.principal import current_principal
from salesguard.reads import Listing
from salesguard.service import Runtime
from salesguard.timeutil import to_timestamp
from salesguard.writes import past_moment
from salesguard_api.attendance.v1 import visits_pb2 as pb
from salesguard_attendance.detectors import Detectors
from salesguard_attendance.models import CallLog, Employee, IdempotencyKey
from salesguard_attendance.rules import calls as rules
from salesguard_attendance.settings import AttendanceSettings

SCOPE = ScopeColumns(owner=CallLog.employee_id, team=CallLog.team_id, branch=CallLog.branch_id)
LISTING = Listing(CallLog, CallLog.started_at, CallLog.id)
DIRECTIONS = validation.enum_names(pb.CallDirection, "CALL_DIRECTION_")
# What makes an imported call one already recorded (the table's unique index).
DUPLICATE_KEY = ("employee_id", "number_index", "started_at", "direction")


def call_log_to_proto(row: CallLog) -> pb.CallLog:
    return pb.CallLog(
        id=row.id,
        employee_id=row.employee_id,
        number=row.number_masked,
        direction=pb.CallDirection.Value(f"CALL_DIRECTION_{row.direction}"),
        started_at=to_timestamp(row.started_at),
        duration_seconds=row.duration_seconds,
        customer_id=row.customer_id or "",
    )


class CallLogs:
    def __init__(self, runtime: Runtime[AttendanceSettings], detectors: Detectors) -> None:
        self.db = runtime.db
        self.idempotent = IdempotentWrites(self.db, IdempotencyKey)
        self.policy = runtime.policy
        self.settings = runtime.settings
        self.detectors = detectors
        self.lookups = detectors.lookups
        self._index = BlindIndex(runtime.settings.blind_index_key_bytes)

    def _validate(
        self, index: int, entry: pb.CallLogEntry, employees: dict[str, Employee]
    ) -> dict[str, Any] | pb.RejectedCallLog:
        """The row to store, or why the entry is rejected."""
        try:
            employee = employees.get(entry.employee_id)
            if employee is None:
                raise InvalidInput(
                    "employee_id", f"employee {entry.employee_id!r} is not in the directory"
                )
            number = normalise_phone(
                validation.text(
                    "number", entry.number, required=True, max_length=validation.PHONE_LENGTH
                ),
                self.settings.default_phone_region,
                field="number",
            )
            direction = validation.enum_value("direction", entry.direction, DIRECTIONS)
            started_at = past_moment(
                "started_at", entry.started_at, skew_seconds=self.settings.clock_skew_seconds
            )
            duration = rules.check_duration(entry.duration_seconds)
        except InvalidInput as error:
            return pb.RejectedCallLog(index=index, field=error.field or "", reason=error.message)
        return {
            "employee_id": employee.id,
            "team_id": employee.team_id,
            "branch_id": employee.branch_id,
            "number_index": self._index.digest(PHONE_INDEX_KIND, number),
            "number_masked": mask_phone(number),
            "direction": direction,
            "started_at": started_at,
            "duration_seconds": duration,
        }

    async def import_logs(self, request: pb.ImportCallLogsRequest) -> pb.ImportCallLogsResponse:
        principal = current_principal()
        (await self.policy.decide(principal, "calllogs.import")).require("calllogs.import")
        if not request.entries:
            raise InvalidInput("entries", "the import holds no calls")
        if len(request.entries) > self.settings.max_call_logs_per_import:
            raise InvalidInput(
                "entries", f"at most {self.settings.max_call_logs_per_import} calls per import"
            )
        async with self.db.read() as session:
            ids = {entry.employee_id for entry in request.entries}
            employees = {
                e.id: e
                for e in (await session.scalars(select(Employee).where(Employee.id.in_(ids)))).all()
            }
        rows: list[dict[str, Any]] = []
        rejected: list[pb.RejectedCallLog] = []
        for index, entry in enumerate(request.entries):
            outcome = self._validate(index, entry, employees)
            if isinstance(outcome, pb.RejectedCallLog):
                rejected.append(outcome)
            else:
                rows.append(outcome)
        matches = await self.lookups.match_phones({row["number_index"] for row in rows})
        for row in rows:
            customer_id, owner_id = matches.get(row["number_index"], (None, None))
            row.update(
                id=new_id(),
                customer_id=customer_id,
                customer_owner_id=owner_id,
                imported_at=utcnow(),
            )
        marks = []
        if rows:
            start = min(row["started_at"] for row in rows) - rules.FOLLOW_UP_WINDOW
            end = max(row["started_at"] for row in rows) + rules.FOLLOW_UP_WINDOW
            marks = await self.lookups.follow_up_marks(
                {row["employee_id"] for row in rows}, start, end
            )
        # Asked of the policy before the transaction, not while it holds a connection.
        thresholds = await self.detectors.call_thresholds()

        async def store(session: AsyncSession) -> pb.ImportCallLogsResponse:
            accepted_ids = await insert_new(session, CallLog, rows, DUPLICATE_KEY)
            new_rows = (
                (await session.scalars(select(CallLog).where(CallLog.id.in_(accepted_ids)))).all()
                if accepted_ids
                else []
            )
            by_employee: dict[str, list[CallLog]] = defaultdict(list)
            for call in new_rows:
                by_employee[call.employee_id].append(call)
            raised = 0
            for employee_id, calls in sorted(by_employee.items()):
                raised += await self.detectors.check_call_patterns(
                    session, employees[employee_id], calls, marks, thresholds
                )
            return pb.ImportCallLogsResponse(
                accepted=len(accepted_ids),
                duplicates=len(rows) - len(accepted_ids),
                rejected=rejected,
                # Every call detector raises this one kind.
                alerts_raised=[rules.ABNORMAL_CALL_PATTERN] if raised else [],
            )

        return await self.idempotent.run(principal.id, request, pb.ImportCallLogsResponse, store)

    async def list_logs(self, request: pb.ListCallLogsRequest) -> pb.ListCallLogsResponse:
        decision, size = await scoped_page_size(
            self.policy, "calllogs.read", request.page, self.settings.page_limits
        )
        conditions: list[Any] = [scope_filter(decision, SCOPE)]
        conditions += equal_to(
            (CallLog.employee_id, request.employee_id),
            (CallLog.customer_id, request.customer_id),
        )
        conditions += period(CallLog.started_at, getattr(request, "from"), request.to)
        page, total = await LISTING.read_in(self.db, conditions, request.page, size)
        return pb.ListCallLogsResponse(
            call_logs=[call_log_to_proto(row) for row in page.rows],
            cursors=page.cursors,
            page_info=page.page_info(total),
        )
