"""An employee's check-ins and calls, for their timeline.

One ``timeline.read`` decision; each row is in scope by the team and branch it
was recorded under. Check-ins come with their photos (signed URLs on request),
presented as ``ListCheckIns`` presents them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.grpc_server import Servicer
from salesguard.timeline import (
    PresentedRow,
    Presenter,
    TimelineKind,
    TimelineSources,
    each,
    employee_timeline_servicer,
)
from salesguard_api.attendance.v1 import timeline_pb2 as pb
from salesguard_api.attendance.v1 import timeline_pb2_grpc, visits_pb2
from salesguard_attendance.calllogs import SCOPE as CALL_SCOPE
from salesguard_attendance.calllogs import call_log_to_proto
from salesguard_attendance.models import CallLog, CheckIn
from salesguard_attendance.visits import CHECK_IN_SCOPE, Visits

CHECK_IN = pb.ATTENDANCE_TIMELINE_KIND_CHECK_IN
CALL = pb.ATTENDANCE_TIMELINE_KIND_CALL

sources = TimelineSources(
    TimelineKind(
        CHECK_IN, select(CheckIn), employee=CheckIn.employee_id, at=CheckIn.at, scope=CHECK_IN_SCOPE
    ),
    TimelineKind(
        CALL, select(CallLog), employee=CallLog.employee_id, at=CallLog.started_at, scope=CALL_SCOPE
    ),
)
KINDS = sources.kinds


async def _present_check_ins(
    visits: Visits,
    session: AsyncSession,
    rows: Sequence[PresentedRow],
    request: pb.ListEmployeeTimelineRequest,
) -> list[visits_pb2.CheckIn]:
    # The photos of every check-in on the page in one query, as ListCheckIns does.
    return await visits.present(session, [row[0] for row in rows], request.include_photo_urls)


def timeline_servicer(visits: Visits) -> Servicer:
    presenters: dict[int, Presenter] = {
        CHECK_IN: Presenter("check_in", partial(_present_check_ins, visits)),
        CALL: each("call", call_log_to_proto),
    }
    return employee_timeline_servicer(
        timeline_pb2_grpc.AttendanceTimelineServiceServicer, visits, sources, presenters
    )
