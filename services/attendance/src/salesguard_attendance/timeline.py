"""An employee's check-ins and calls, for their timeline.

One ``timeline.read`` decision; each row is in scope by the team and branch it
was recorded under. Check-ins come with their photos (signed URLs on request),
presented as ``ListCheckIns`` presents them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.grpc_server import ServicerContext
from salesguard.timeline import EmployeeTimeline, TimelineQuery, TimelineRow, TimelineSource
from salesguard.timeutil import to_timestamp
from salesguard_api.attendance.v1 import timeline_pb2 as pb
from salesguard_api.attendance.v1 import timeline_pb2_grpc
from salesguard_attendance.calllogs import SCOPE as CALL_SCOPE
from salesguard_attendance.calllogs import call_log_to_proto
from salesguard_attendance.models import CallLog, CheckIn
from salesguard_attendance.visits import CHECK_IN_SCOPE, Visits

CHECK_IN = pb.ATTENDANCE_TIMELINE_KIND_CHECK_IN
CALL = pb.ATTENDANCE_TIMELINE_KIND_CALL
KINDS = (CHECK_IN, CALL)


def sources(query: TimelineQuery) -> list[TimelineSource]:
    return [
        query.source(
            CHECK_IN,
            select(CheckIn),
            employee=CheckIn.employee_id,
            at=CheckIn.at,
            id=CheckIn.id,
            scope=CHECK_IN_SCOPE,
        ),
        query.source(
            CALL,
            select(CallLog),
            employee=CallLog.employee_id,
            at=CallLog.started_at,
            id=CallLog.id,
            scope=CALL_SCOPE,
        ),
    ]


class AttendanceTimelineServicer(timeline_pb2_grpc.AttendanceTimelineServiceServicer):
    def __init__(self, visits: Visits) -> None:
        self._visits = visits
        self._timeline = EmployeeTimeline(
            visits.db, visits.policy, visits.settings.page_limits, KINDS, sources
        )

    async def ListEmployeeTimeline(
        self, request: pb.ListEmployeeTimelineRequest, context: ServicerContext
    ) -> pb.ListEmployeeTimelineResponse:
        async def present(
            session: AsyncSession, rows: Sequence[TimelineRow]
        ) -> list[pb.AttendanceTimelineItem]:
            check_ins = [entry.row[0] for entry in rows if entry.kind == CHECK_IN]
            # The photos of every check-in on the page in one query, as ListCheckIns does.
            presented = iter(
                await self._visits.present(session, check_ins, request.include_photo_urls)
            )
            items = []
            for entry in rows:
                item = pb.AttendanceTimelineItem(at=to_timestamp(entry.at))
                if entry.kind == CHECK_IN:
                    item.check_in.CopyFrom(next(presented))
                else:
                    item.call.CopyFrom(call_log_to_proto(entry.row[0]))
                items.append(item)
            return items

        return await self._timeline.serve(request, present, pb.ListEmployeeTimelineResponse)
