"""An employee's follow-ups and audit events, for their timeline.

One ``timeline.read`` decision; a follow-up is in scope by its customer's team and
branch (as a manager sees the branch's customers), an audit event by its branch.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from salesguard.db import Database
from salesguard.grpc_server import ServicerContext
from salesguard.policy import PolicyClient, ScopeColumns
from salesguard.settings import PageLimits
from salesguard.timeline import EmployeeTimeline, TimelineQuery, TimelineRow, TimelineSource
from salesguard.timeutil import to_timestamp
from salesguard_api.customers.v1 import timeline_pb2 as pb
from salesguard_api.customers.v1 import timeline_pb2_grpc
from salesguard_customers.audit import AUDIT_SCOPE
from salesguard_customers.follow_ups import follow_up_to_proto
from salesguard_customers.models import AuditEvent, Customer, FollowUp
from salesguard_customers.servicer import audit_event_to_proto

FOLLOW_UP = pb.CUSTOMER_TIMELINE_KIND_FOLLOW_UP
AUDIT_EVENT = pb.CUSTOMER_TIMELINE_KIND_AUDIT_EVENT
KINDS = (FOLLOW_UP, AUDIT_EVENT)

FOLLOW_UP_SCOPE = ScopeColumns(
    owner=FollowUp.employee_id, team=Customer.team_id, branch=Customer.branch_id
)


def sources(query: TimelineQuery) -> list[TimelineSource]:
    return [
        query.source(
            FOLLOW_UP,
            select(FollowUp).join(Customer, Customer.id == FollowUp.customer_id),
            employee=FollowUp.employee_id,
            at=FollowUp.at,
            id=FollowUp.id,
            scope=FOLLOW_UP_SCOPE,
        ),
        query.source(
            AUDIT_EVENT,
            select(AuditEvent),
            employee=AuditEvent.actor_id,
            at=AuditEvent.at,
            id=AuditEvent.id,
            scope=AUDIT_SCOPE,
        ),
    ]


async def present(
    session: AsyncSession, rows: Sequence[TimelineRow]
) -> list[pb.CustomerTimelineItem]:
    items = []
    for entry in rows:
        item = pb.CustomerTimelineItem(at=to_timestamp(entry.at))
        if entry.kind == FOLLOW_UP:
            item.follow_up.CopyFrom(follow_up_to_proto(entry.row[0]))
        else:
            item.audit_event.CopyFrom(audit_event_to_proto(entry.row[0]))
        items.append(item)
    return items


class CustomerTimelineServicer(timeline_pb2_grpc.CustomerTimelineServiceServicer):
    def __init__(self, db: Database, policy: PolicyClient, pages: PageLimits) -> None:
        self._timeline = EmployeeTimeline(db, policy, pages, KINDS, sources)

    async def ListEmployeeTimeline(
        self, request: pb.ListEmployeeTimelineRequest, context: ServicerContext
    ) -> pb.ListEmployeeTimelineResponse:
        return await self._timeline.serve(request, present, pb.ListEmployeeTimelineResponse)
